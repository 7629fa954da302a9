import CLinux
import Glibc

/// Every epoll call of the program, and nothing else (redis keeps its whole
/// backend in ae_epoll.c the same way).
///
/// Each registration stores its id in the high 32 bits of `data.u64` and the
/// fd in the low 32 bits. fd numbers are reused as soon as they are closed
/// (libcurl even does it within one `epoll_wait` batch), so the loop drops any
/// event whose id no longer matches the fd's current registration.
enum Epoll {
    struct Interest: OptionSet, Sendable {
        let rawValue: UInt32
        static let readable = Interest(rawValue: EPOLLIN.rawValue)
        static let writable = Interest(rawValue: EPOLLOUT.rawValue)
        static let peerClosed = Interest(rawValue: EPOLLRDHUP.rawValue)
    }

    struct Event {
        let fd: Int32
        let registrationID: UInt32
        let readable: Bool
        let writable: Bool
        /// Error or hang-up: the owner's next read or write reports the details.
        let failed: Bool
        /// The peer shut its sending side (FIN).
        let peerClosed: Bool
    }

    static func create() throws -> FileDescriptor {
        let fd = try syscallBlocking("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        return FileDescriptor(adopting: fd)
    }

    private static func event(_ fd: Int32, _ id: UInt32, _ interest: Interest) -> epoll_event {
        var ev = epoll_event()
        ev.events = interest.rawValue
        ev.data.u64 = UInt64(id) << 32 | UInt64(UInt32(bitPattern: fd))
        return ev
    }

    /// Adds `fd`, or modifies it when epoll already knows it: libcurl re-announces
    /// sockets, and epoll answers EEXIST to a second ADD.
    static func add(_ epfd: FileDescriptor, fd: Int32, id: UInt32, interest: Interest) throws {
        var ev = event(fd, id, interest)
        if epoll_ctl(epfd.raw, EPOLL_CTL_ADD, fd, &ev) == 0 { return }
        if errno == EEXIST {
            _ = try syscallBlocking("epoll_ctl(MOD)") { epoll_ctl(epfd.raw, EPOLL_CTL_MOD, fd, &ev) }
            return
        }
        throw SystemError("epoll_ctl(ADD)", errno: errno)
    }

    static func modify(_ epfd: FileDescriptor, fd: Int32, id: UInt32, interest: Interest) throws {
        var ev = event(fd, id, interest)
        _ = try syscallBlocking("epoll_ctl(MOD)") { epoll_ctl(epfd.raw, EPOLL_CTL_MOD, fd, &ev) }
    }

    /// Failures are ignored: the fd may already be closed, which removed it from epoll.
    static func delete(_ epfd: FileDescriptor, fd: Int32) {
        var ev = epoll_event()
        _ = epoll_ctl(epfd.raw, EPOLL_CTL_DEL, fd, &ev)
    }

    /// Waits at most `timeoutMS` (-1: forever) and calls `body` for each event.
    static func wait(_ epfd: FileDescriptor, buffer: UnsafeMutableBufferPointer<epoll_event>,
                     timeoutMS: Int32, _ body: (Event) -> Void) throws {
        let n: Int32
        switch try syscall("epoll_wait", { epoll_wait(epfd.raw, buffer.baseAddress, Int32(buffer.count), timeoutMS) }) {
        case .done(let count): n = count
        case .wouldBlock: n = 0
        }
        let failure = EPOLLERR.rawValue | EPOLLHUP.rawValue
        for i in 0..<Int(n) {
            let ev = buffer[i]
            let data = ev.data.u64
            body(Event(fd: Int32(bitPattern: UInt32(truncatingIfNeeded: data)),
                       registrationID: UInt32(truncatingIfNeeded: data >> 32),
                       readable: ev.events & EPOLLIN.rawValue != 0,
                       writable: ev.events & EPOLLOUT.rawValue != 0,
                       failed: ev.events & failure != 0,
                       peerClosed: ev.events & EPOLLRDHUP.rawValue != 0))
        }
    }
}
