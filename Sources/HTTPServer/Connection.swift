import Reactor

/// One client connection: the only owner of its socket. Its life is a cycle of
/// explicit states; keep-alive returns it to `readingHead`.
final class Connection: IOHandler {
    enum State {
        /// Waiting for (the rest of) a request head.
        case readingHead
        /// The responder is working on the request (e.g. waiting for upstream).
        case awaitingResponse(Exchange)
        /// Sending a response; may wait for socket space or for a growing file.
        case writing(Outgoing)
        case closed
    }

    struct Outgoing {
        var head: [UInt8]
        /// TCP_CORK is on for this response (large file bodies only).
        var corked = false
        /// An in-memory body, sent with the head in one sendmsg.
        var bytes: [UInt8]
        /// Bytes of head + bytes already sent.
        var sent = 0
        var body: BodySource
        let keepAlive: Bool
        let log: AccessLog
    }

    enum BodySource {
        case none
        case file(FileDescriptor, offset: Int, end: Int)
        case growing(GrowingFile, offset: Int)
    }

    struct AccessLog {
        let requestID: UInt64
        let method: String
        let target: String
        let status: Int
        let bodyLength: Int
        let cache: String?
        let started: UInt64
    }

    private let socket: FileDescriptor
    let client: String
    private unowned let server: Server
    private(set) var state: State = .readingHead
    /// What epoll is told to watch; changed only when it must (each change is a syscall).
    private var interest: IOInterest = .readable
    private var inbound: [UInt8] = []
    /// Monotonic time of the last progress, for the server's timeout sweep.
    private(set) var lastActivity: UInt64 = EventLoop.now()
    private var requestStarted: UInt64 = 0

    init(socket: FileDescriptor, client: String, server: Server) {
        self.socket = socket
        self.client = client
        self.server = server
    }

    var isOpen: Bool { if case .closed = state { false } else { true } }
    /// Between requests on a keep-alive connection: nothing received, nothing owed.
    var isIdle: Bool { if case .readingHead = state { inbound.isEmpty } else { false } }
    var isReadingHead: Bool { if case .readingHead = state { true } else { false } }

    func start() throws {
        try server.loop.register(fd: socket.raw, interest: .readable, handler: self)
    }

    func handleIO(fd _: Int32, event: IOEvent) {
        switch state {
        case .readingHead:
            readAndParse()
        case .writing:
            // Error or hang-up: the client is gone. Level-triggered epoll would repeat
            // the event while we wait for a growing file, so close now.
            if event.failed { return finishWriting(reason: "client hung up") }
            flush()
        case .awaitingResponse:
            // Nothing is asked for in this state; only an error or hang-up arrives.
            if event.failed { close(reason: "client hung up") }
        case .closed:
            break
        }
    }

    // MARK: - Reading

    private func readAndParse() {
        let result: IOResult<Int>
        do {
            result = try server.scratch.withUnsafeMutableBytes { try Socket.read(socket, into: $0) }
        } catch {
            return close(reason: "read failed")
        }
        switch result {
        case .wouldBlock:
            return
        case .done(0):
            return close(reason: nil)
        case .done(let n):
            if inbound.isEmpty { requestStarted = EventLoop.now() }
            server.scratch.withUnsafeBytes { inbound.append(contentsOf: $0.prefix(n)) }
            lastActivity = EventLoop.now()
            parseNext()
        }
    }

    /// Handles the next complete request in `inbound`, if any (pipelined requests
    /// wait there while an earlier response is written).
    private func parseNext() {
        let result = inbound.withUnsafeBytes { RequestParser.parse($0, maxHeadBytes: server.limits.maxHeadBytes) }
        switch result {
        case .partial:
            return
        case .invalid(let status, let reason):
            let request = Request(method: "-", target: "-", minorVersion: 0, headers: [])
            let exchange = Exchange(request: request, requestID: server.nextRequestID(), client: client, connection: self)
            state = .awaitingResponse(exchange)
            inbound.removeAll()
            write(Response.error(status, reason), for: exchange, keepAlive: false)
        case .complete(let request, let consumed):
            inbound.removeFirst(consumed)
            if requestStarted == 0 { requestStarted = EventLoop.now() }
            let exchange = Exchange(request: request, requestID: server.nextRequestID(), client: client, connection: self)
            state = .awaitingResponse(exchange)
            if let refusal = refusal(of: request) {
                return write(refusal, for: exchange, keepAlive: false)
            }
            server.responder.respond(to: exchange)
            // Most responses are written before respond() returns; only a response that
            // waits (for upstream) stops read events, so the common case costs no epoll_ctl.
            if case .awaitingResponse(let pending) = state, pending === exchange { setInterest(.none) }
        }
    }

    /// Requests this server never serves, whatever the application.
    private func refusal(of request: Request) -> Response? {
        if request.method != "GET" && request.method != "HEAD" {
            return Response.error(405, "only GET and HEAD are supported", headers: [("Allow", "GET, HEAD")])
        }
        if request.header("transfer-encoding") != nil { return Response.error(400, "request bodies are not accepted") }
        if let length = request.header("content-length"), length != "0" {
            return Response.error(413, "request bodies are not accepted")
        }
        if !request.target.hasPrefix("/") { return Response.error(400, "request target must be an absolute path") }
        return nil
    }

    // MARK: - Writing

    func send(_ response: Response, for exchange: Exchange) {
        guard case .awaitingResponse(let current) = state, current === exchange else { return }
        write(response.evaluated(for: exchange.request), for: exchange, keepAlive: exchange.request.keepAlive && !server.draining)
    }

    private func write(_ response: Response, for exchange: Exchange, keepAlive: Bool) {
        let isHead = exchange.request.method == "HEAD"
        var head = "HTTP/1.1 \(response.status) \(Response.reasonPhrase(response.status))\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(response.body.length)\r\n"
        head += keepAlive ? "\r\n" : "Connection: close\r\n\r\n"

        var bytes: [UInt8] = []
        var body = BodySource.none
        if !isHead {
            switch response.body {
            case .empty: break
            case .bytes(let b): bytes = b
            case .file(let fd, let offset, let length): body = .file(fd, offset: offset, end: offset + length)
            case .growing(let g): body = .growing(g, offset: 0)
            }
        }
        let log = AccessLog(requestID: exchange.requestID, method: exchange.request.method, target: exchange.request.target,
                            status: response.status, bodyLength: isHead ? 0 : response.body.length,
                            cache: response.cacheResult, started: requestStarted)
        var out = Outgoing(head: Array(head.utf8), bytes: bytes, body: body, keepAlive: keepAlive, log: log)
        // Small responses go out at once (TCP_NODELAY); large files are corked so they
        // leave in full segments. Two setsockopt calls are nothing next to megabytes.
        if case .file(_, let offset, let end) = body, end - offset >= Connection.corkThreshold {
            Socket.setCork(socket, true)
            out.corked = true
        }
        state = .writing(out)
        flush()
    }

    /// Sends as much as the socket takes. Ends in one of: done (next request or
    /// close), waiting for socket space, waiting for a growing file, or closed.
    private func flush() {
        guard case .writing(var out) = state else { return }
        do {
            while out.sent < out.head.count + out.bytes.count {
                let headSent = min(out.sent, out.head.count), bytesSent = out.sent - headSent
                let r = try out.head.withUnsafeBytes { h in
                    try out.bytes.withUnsafeBytes { b in
                        try Socket.write(socket, UnsafeRawBufferPointer(rebasing: h[headSent...]), UnsafeRawBufferPointer(rebasing: b[bytesSent...]))
                    }
                }
                guard case .done(let n) = r else { state = .writing(out); return setInterest(.writable) }
                out.sent += n
                lastActivity = EventLoop.now()
            }
            switch out.body {
            case .none:
                break
            case .file(let file, var offset, let end):
                while offset < end {
                    let r = try Socket.sendfile(socket, from: file, offset: &offset, count: min(end - offset, 1 << 24))
                    out.body = .file(file, offset: offset, end: end)
                    guard case .done(let n) = r else { state = .writing(out); return setInterest(.writable) }
                    if n == 0 { return finishResponse(out, complete: false, note: "file shorter than expected") }
                    lastActivity = EventLoop.now()
                }
            case .growing(let file, var offset):
                while offset < file.length {
                    let limit = file.sendable
                    if offset >= limit {
                        if file.state == .failed { return finishResponse(out, complete: false, note: "upstream transfer failed") }
                        // Caught up with the producer: sleep until it writes more.
                        state = .writing(out)
                        setInterest(.none)
                        file.waitForProgress { [weak self] in self?.flush() }
                        return
                    }
                    let r = try Socket.sendfile(socket, from: file.fd, offset: &offset, count: min(limit - offset, 1 << 20))
                    out.body = .growing(file, offset: offset)
                    guard case .done(let n) = r else { state = .writing(out); return setInterest(.writable) }
                    if n == 0 { return finishResponse(out, complete: false, note: "file shorter than expected") }
                    lastActivity = EventLoop.now()
                }
            }
        } catch {
            return finishResponse(out, complete: false, note: "client write failed")
        }
        finishResponse(out, complete: true, note: nil)
    }

    private func finishWriting(reason: String) {
        guard case .writing(let out) = state else { return close(reason: reason) }
        finishResponse(out, complete: false, note: reason)
    }

    static let corkThreshold = 256 * 1024

    private func finishResponse(_ out: Outgoing, complete: Bool, note: String?) {
        if out.corked && complete { Socket.setCork(socket, false) }
        server.logAccess(out.log, client: client, complete: complete, note: note)
        requestStarted = 0
        guard complete, out.keepAlive else { return close(reason: nil) }
        state = .readingHead
        lastActivity = EventLoop.now()
        setInterest(.readable)
        if !inbound.isEmpty { parseNext() }
    }

    private func setInterest(_ wanted: IOInterest) {
        guard wanted != interest, isOpen else { return }
        do {
            try server.loop.setInterest(fd: socket.raw, wanted)
            interest = wanted
        } catch {
            close(reason: "epoll failed")
        }
    }

    func close(reason: String?) {
        guard isOpen else { return }
        if case .awaitingResponse(let exchange) = state {
            server.logger.debug("client_gone", ["id": String(exchange.requestID), "client": client])
        }
        state = .closed
        server.loop.deregister(fd: socket.raw)
        server.connectionDidClose(self)
        socket.close()
    }
}
