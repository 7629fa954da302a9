import CLinux
import Glibc

/// What a readiness event says about one fd.
public struct IOEvent: Sendable {
    public let readable: Bool
    public let writable: Bool
    /// Error or hang-up; the owner's next read or write tells which.
    public let failed: Bool
    /// The peer shut its sending side (asked for with `.peerClosed`).
    public let peerClosed: Bool
}

/// Which readiness an owner wants to hear about.
public struct IOInterest: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let readable = IOInterest(rawValue: EPOLLIN.rawValue)
    public static let writable = IOInterest(rawValue: EPOLLOUT.rawValue)
    /// Only the peer's FIN: how a connection waiting on something else notices its client left.
    public static let peerClosed = IOInterest(rawValue: EPOLLRDHUP.rawValue)
    public static let none: IOInterest = []
}

/// The owner of a registered fd. The loop keeps it alive while registered.
public protocol IOHandler: AnyObject {
    func handleIO(fd: Int32, event: IOEvent)
}

public struct TimerID: Hashable, Sendable {
    fileprivate let raw: UInt64
}

/// A single-threaded epoll reactor: I/O readiness, one-shot timers and
/// deferred work. It knows nothing about HTTP or PyPI.
public final class EventLoop {
    private struct Registration {
        let id: UInt32
        let handler: IOHandler
    }

    private struct Timer {
        let deadline: UInt64  // monotonic nanoseconds
        let action: () -> Void
    }

    private let epfd: FileDescriptor
    private var registrations: [Int32: Registration] = [:]
    private var nextRegistrationID: UInt32 = 1
    private var timers: [UInt64: Timer] = [:]
    private var nextTimerID: UInt64 = 1
    private var deferred: [() -> Void] = []
    private var stopping = false

    public init() throws {
        epfd = try Epoll.create()
    }

    /// Number of registered fds (tests use it).
    public var registeredCount: Int { registrations.count }

    // MARK: - I/O registration

    @discardableResult
    public func register(fd: Int32, interest: IOInterest, handler: IOHandler) throws -> UInt32 {
        let id = nextRegistrationID
        nextRegistrationID = nextRegistrationID &+ 1 == 0 ? 1 : nextRegistrationID &+ 1
        try Epoll.add(epfd, fd: fd, id: id, interest: Epoll.Interest(rawValue: interest.rawValue))
        registrations[fd] = Registration(id: id, handler: handler)
        return id
    }

    public func setInterest(fd: Int32, _ interest: IOInterest) throws {
        guard let reg = registrations[fd] else { return }
        try Epoll.modify(epfd, fd: fd, id: reg.id, interest: Epoll.Interest(rawValue: interest.rawValue))
    }

    /// Call before closing the fd. Any event already fetched for it is dropped.
    public func deregister(fd: Int32) {
        guard registrations.removeValue(forKey: fd) != nil else { return }
        Epoll.delete(epfd, fd: fd)
    }

    public func isRegistered(fd: Int32) -> Bool { registrations[fd] != nil }

    // MARK: - Timers and deferred work

    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// CPU nanoseconds this thread has used: what a piece of loop work costs, whatever
    /// else the machine runs (wall time on a shared machine mostly measures the others).
    public static func threadCPUTime() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Runs `action` once, no earlier than `milliseconds` from now (0: next iteration).
    @discardableResult
    public func schedule(afterMilliseconds milliseconds: Int, _ action: @escaping () -> Void) -> TimerID {
        let id = nextTimerID
        nextTimerID += 1
        timers[id] = Timer(deadline: EventLoop.now() + UInt64(max(0, milliseconds)) * 1_000_000, action: action)
        return TimerID(raw: id)
    }

    public func cancel(_ timer: TimerID) {
        timers.removeValue(forKey: timer.raw)
    }

    /// Runs `action` after the current event's handlers return, in this iteration.
    /// Used where calling back in directly would re-enter a library (libcurl) or
    /// an object that is in the middle of changing state.
    public func execute(_ action: @escaping () -> Void) {
        deferred.append(action)
    }

    public func stop() { stopping = true }

    // MARK: - The loop

    public func run() throws {
        // One iteration, in this order:
        // 1. Timeout: 0 when deferred work waits, else until the nearest timer, else forever.
        // 2. epoll_wait; dispatch each event to the fd's current owner. An event whose
        //    registration id no longer matches (the fd was closed and its number reused
        //    by an earlier handler in this batch) is dropped.
        // 3. Fire due timers (libcurl's timeout is one of them).
        // 4. Run deferred work, including work queued by steps 2 and 3. Deferred work
        //    may queue more; that runs in the next iteration so I/O is never starved.
        let capacity = 256
        let buffer = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        stopping = false
        while !stopping {
            try runOnce(buffer: buffer)
        }
    }

    /// One iteration; public so tests can drive the loop step by step.
    public func runOnce(maxWaitMilliseconds: Int32 = -1) throws {
        let buffer = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: 64)
        defer { buffer.deallocate() }
        try runOnce(buffer: buffer, maxWait: maxWaitMilliseconds)
    }

    private func runOnce(buffer: UnsafeMutableBufferPointer<epoll_event>, maxWait: Int32 = -1) throws {
        let nearest = timers.values.lazy.map(\.deadline).min()
        var timeout = EventLoop.timeout(until: nearest)
        if !deferred.isEmpty { timeout = 0 }
        if maxWait >= 0 && (timeout < 0 || timeout > maxWait) { timeout = maxWait }

        try Epoll.wait(epfd, buffer: buffer, timeoutMS: timeout) { ev in
            guard let reg = registrations[ev.fd], reg.id == ev.registrationID else { return }
            reg.handler.handleIO(fd: ev.fd, event: IOEvent(readable: ev.readable, writable: ev.writable, failed: ev.failed, peerClosed: ev.peerClosed))
        }

        // Timers added during dispatch are seen next iteration (their wait is then 0).
        if let nearest, nearest <= EventLoop.now() { fireDueTimers() }

        let work = deferred
        deferred.removeAll(keepingCapacity: true)
        for action in work { action() }
    }

    private static func timeout(until nearest: UInt64?) -> Int32 {
        guard let nearest else { return -1 }
        let now = EventLoop.now()
        if nearest <= now { return 0 }
        // Round up so we never wake a little early and spin.
        let ms = (nearest - now + 999_999) / 1_000_000
        return Int32(min(ms, 60_000))
    }

    private func fireDueTimers() {
        guard !timers.isEmpty else { return }
        let now = EventLoop.now()
        let due = timers.filter { $0.value.deadline <= now }.sorted { $0.value.deadline < $1.value.deadline }
        for (id, timer) in due {
            // A timer fired earlier in this pass may have cancelled this one.
            guard timers.removeValue(forKey: id) != nil else { continue }
            timer.action()
        }
    }
}
