import Reactor

/// A file that one producer (an upstream transfer) is still writing and any
/// number of connections follow with sendfile. Memory stays flat however many
/// clients there are, and a slow client never slows the producer or the others.
///
/// The producer withholds the last byte until the whole file is verified:
/// a client can only ever see the complete file after `finish()`, and a
/// failed transfer cuts every follower short before Content-Length is reached.
public final class GrowingFile {
    public enum State {
        case growing
        case complete
        case failed
    }

    public let fd: FileDescriptor
    /// The declared total length (the upstream Content-Length).
    public let length: Int
    public private(set) var state: State = .growing
    private var written = 0
    private var waiters: [() -> Void] = []
    private var notifyScheduled = false
    private let loop: EventLoop

    public init(fd: FileDescriptor, length: Int, loop: EventLoop) {
        self.fd = fd
        self.length = length
        self.loop = loop
    }

    /// Bytes a follower may send now.
    public var sendable: Int {
        switch state {
        case .complete: length
        case .growing, .failed: min(written, max(0, length - 1))
        }
    }

    /// Waiters are called once, from the loop's deferred phase, never from
    /// inside the producer's call (which may be a libcurl callback).
    public func waitForProgress(_ waiter: @escaping () -> Void) {
        waiters.append(waiter)
        if state != .growing { scheduleNotify() }
    }

    public func didWrite(totalBytes: Int) {
        written = totalBytes
        scheduleNotify()
    }

    public func finish() {
        state = .complete
        scheduleNotify()
    }

    public func fail() {
        state = .failed
        scheduleNotify()
    }

    private func scheduleNotify() {
        guard !notifyScheduled, !waiters.isEmpty else { return }
        notifyScheduled = true
        loop.execute { [self] in
            notifyScheduled = false
            let ready = waiters
            waiters.removeAll()
            for w in ready { w() }
        }
    }
}
