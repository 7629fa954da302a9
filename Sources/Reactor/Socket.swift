import CLinux
import Glibc

/// Non-blocking TCP socket calls. Every socket syscall of the server side is here.
public enum Socket {
    /// A listening, non-blocking socket bound to `host:port` (port 0: any free port).
    /// Name resolution blocks, which is fine: this runs at start-up only.
    public static func listen(host: String, port: UInt16, backlog: Int32 = 1024) throws -> FileDescriptor {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw SystemError("getaddrinfo \(host): \(String(cString: gai_strerror(rc)))", errno: EINVAL)
        }
        defer { freeaddrinfo(result) }

        let fd = FileDescriptor(adopting: try syscallBlocking("socket") {
            Glibc.socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        })
        var one: Int32 = 1
        _ = setsockopt(fd.raw, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = try syscallBlocking("bind \(host):\(port)") { bind(fd.raw, first.pointee.ai_addr, first.pointee.ai_addrlen) }
        _ = try syscallBlocking("listen") { Glibc.listen(fd.raw, backlog) }
        return fd
    }

    /// The local port a socket is bound to.
    public static func localPort(_ fd: FileDescriptor) throws -> UInt16 {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { ptr in
            try ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try syscallBlocking("getsockname") { getsockname(fd.raw, sa, &len) }
            }
        }
        let family = storage.ss_family
        return withUnsafePointer(to: &storage) { ptr in
            if family == sa_family_t(AF_INET6) {
                return ptr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return ptr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    /// Accepts one connection as a non-blocking socket with TCP_NODELAY set
    /// (without it, head-then-body writes meet Nagle + delayed ACK: ~40 ms each).
    public static func accept(_ listener: FileDescriptor) throws -> IOResult<(FileDescriptor, String)> {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutablePointer(to: &storage) { ptr in
            try ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try syscall("accept4") { clinux_accept4(listener.raw, sa, &len, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)) }
            }
        }
        guard case .done(let raw) = result else { return .wouldBlock }
        let fd = FileDescriptor(adopting: raw)
        var one: Int32 = 1
        _ = setsockopt(raw, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return .done((fd, peerName(&storage)))
    }

    private static func peerName(_ storage: inout sockaddr_storage) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafePointer(to: &storage) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, len, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
            }
        }
        return rc == 0 ? String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    }

    /// Reads into `buffer`; `.done(0)` means the peer closed its side.
    public static func read(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult<Int> {
        try syscall("read") { Glibc.read(fd.raw, buffer.baseAddress, buffer.count) }
    }

    /// Sends without raising SIGPIPE on a closed peer.
    public static func write(_ fd: FileDescriptor, _ buffer: UnsafeRawBufferPointer) throws -> IOResult<Int> {
        try syscall("send") { send(fd.raw, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Sends two buffers with one syscall (a response head and its small body),
    /// so a small response leaves in one segment.
    public static func write(_ fd: FileDescriptor, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) throws -> IOResult<Int> {
        var iov = [
            iovec(iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress), iov_len: first.count),
            iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count),
        ]
        return try iov.withUnsafeMutableBufferPointer { vectors in
            var message = msghdr()
            message.msg_iov = vectors.baseAddress
            message.msg_iovlen = vectors.count
            return try syscall("sendmsg") { sendmsg(fd.raw, &message, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Closes the sending side only (a FIN after the bytes already queued): the
    /// client reads our whole response before it sees the end. Used before a
    /// lingering close, so unread input does not turn the close into a reset.
    public static func shutdownWrite(_ fd: FileDescriptor) {
        _ = Glibc.shutdown(fd.raw, Int32(SHUT_WR))
    }

    /// Raises the soft limit on open files to the hard limit (a server holds one fd per
    /// client, per upstream connection and per hot cached file); returns the new limit.
    public static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return limit.rlim_cur > UInt(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// TCP_CORK: hold partial segments while a large body is sent, so sendfile
    /// batches leave as full segments (nginx's `tcp_nopush`); uncorking flushes.
    public static func setCork(_ fd: FileDescriptor, _ on: Bool) {
        var value: Int32 = on ? 1 : 0
        _ = setsockopt(fd.raw, Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Copies file bytes to the socket in the kernel. `offset` advances by the bytes sent.
    public static func sendfile(_ socket: FileDescriptor, from file: FileDescriptor, offset: inout Int, count: Int) throws -> IOResult<Int> {
        var off = off_t(offset)
        let result = try syscall("sendfile") { Glibc.sendfile(socket.raw, file.raw, &off, count) }
        if case .done = result { offset = Int(off) }
        return result
    }
}
