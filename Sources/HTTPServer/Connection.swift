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
        /// A refused request was answered and our side shut: what the client still
        /// sends is read and dropped until it closes or `until`, so it reads our
        /// status instead of a reset (nginx's lingering close).
        case lingering(until: UInt64, then: CloseReason)
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
        /// Caught up with a growing file: waiting for its producer, not for the client,
        /// so the send timeout does not apply (the producer's own timeouts bound it).
        var waitingForProducer = false
        let keepAlive: Bool
        let log: AccessLog
    }

    enum BodySource {
        case none
        case file(FileDescriptor, offset: Int, end: Int)
        /// Follows a file still being written, from `offset` up to `end` (its length, or a range's end).
        case growing(GrowingFile, offset: Int, end: Int)
    }

    struct AccessLog {
        let requestID: UInt64
        let method: String
        let target: String
        let status: Int
        let bodyLength: Int
        let fields: [(String, String)]
        let started: UInt64
    }

    static let corkThreshold = 256 * 1024
    /// How long a lingering close waits for the client to finish sending, and how
    /// much of what it sends meanwhile is read and dropped.
    static let lingerMS: UInt64 = 2_000
    static let lingerMaxBytes = 1 << 20
    /// Pipelined requests answered in one go before other connections get the loop.
    static let requestsPerTurn = 32

    private let socket: FileDescriptor
    let client: String
    private unowned let server: Server
    private(set) var state: State = .readingHead
    /// What epoll is told to watch; changed only when it must (each change is a syscall).
    private var interest: IOInterest = .readable
    private var inbound = InboundBuffer()
    /// True while `processInbound` runs: a response finished inside it hands the
    /// next pipelined request back to its loop instead of recursing.
    private var processing = false
    private var lingered = 0
    /// Monotonic time of the last progress: the end of the last response, or the last
    /// bytes sent. The idle and send timeouts count from it.
    private(set) var lastActivity: UInt64 = EventLoop.now()
    /// When the first byte of the pending request head arrived (0: none pending).
    /// The header timeout counts from it, however slowly the rest trickles in.
    private(set) var headStarted: UInt64 = 0

    init(socket: FileDescriptor, client: String, server: Server) {
        self.socket = socket
        self.client = client
        self.server = server
    }

    var isOpen: Bool { if case .closed = state { false } else { true } }
    /// Between requests on a keep-alive connection: nothing received, nothing owed.
    var isIdle: Bool { if case .readingHead = state { inbound.isEmpty } else { false } }
    var isReadingHead: Bool { if case .readingHead = state { true } else { false } }

    /// When this connection started waiting on its client with nothing owed to it,
    /// or nil while a request is being answered. At the connection limit the
    /// smallest goes first: lingering closes, then idle connections and unfinished
    /// heads, oldest first, so neither idle nor slow clients can lock others out.
    var evictableSince: UInt64? {
        switch state {
        case .lingering: 0
        case .readingHead: inbound.isEmpty ? lastActivity : headStarted
        case .awaitingResponse, .writing, .closed: nil
        }
    }

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
            if event.failed || event.peerClosed { return close(.clientHungUp) }
            flush()
        case .awaitingResponse:
            // Only the client's FIN (or an error) is asked for while upstream works: a client
            // that leaves frees its connection at once, as nginx does (the download goes on).
            if event.failed || event.peerClosed { close(.clientHungUp) }
        case .lingering(_, let reason):
            drainLingering(reason)
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
            return close(.readFailed)
        }
        switch result {
        case .wouldBlock:
            return
        case .done(0):
            return close(inbound.isEmpty ? .clientClosed : .clientHungUp)
        case .done(let n):
            let now = EventLoop.now()
            if inbound.isEmpty { headStarted = now }
            server.scratch.withUnsafeBytes { inbound.append(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            lastActivity = now
            processInbound()
        }
    }

    /// Answers the complete requests waiting in `inbound`, in order, one at a time.
    /// A response written at once ends in `finishResponse`, which returns here
    /// rather than calling back in: pipelining of any depth runs in constant stack.
    /// The loop stops at a partial head or at a response that must wait (for
    /// upstream or socket space); reading resumes only after that response, so
    /// `inbound` stays bounded by one read plus one head. After `requestsPerTurn`
    /// requests it yields the loop to other connections, reading nothing meanwhile.
    private func processInbound() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        var answered = 0
        while case .readingHead = state, !inbound.isEmpty {
            if answered == Connection.requestsPerTurn {
                setInterest(.peerClosed)
                server.loop.execute { [weak self] in self?.resumeTurn() }
                return
            }
            guard handleNextRequest() else { return }
            answered += 1
        }
    }

    private func resumeTurn() {
        guard case .readingHead = state else { return }
        setInterest(.readable)
        processInbound()
    }

    /// Reads what a just-accepted client already sent, so a connection with a request
    /// waiting is never taken for an idle one (and evicted) before its first read.
    func readFirst() {
        if case .readingHead = state { readAndParse() }
    }

    /// false when the head is not complete yet.
    private func handleNextRequest() -> Bool {
        switch inbound.nextRequest(maxHeadBytes: server.limits.maxHeadBytes) {
        case .partial:
            return false
        case .invalid(let status, let reason):
            let request = Request(method: "-", target: "-", minorVersion: 0, headers: [])
            let exchange = Exchange(request: request, requestID: server.nextRequestID(), client: client, connection: self)
            state = .awaitingResponse(exchange)
            inbound.removeAll()
            write(Response.error(status, reason), for: exchange, keepAlive: false)
        case .complete(let request, _):
            if headStarted == 0 { headStarted = EventLoop.now() }
            let exchange = Exchange(request: request, requestID: server.nextRequestID(), client: client, connection: self)
            state = .awaitingResponse(exchange)
            if let refusal = RequestRules.refusal(of: request) {
                inbound.removeAll()
                write(refusal, for: exchange, keepAlive: false)
                return true
            }
            server.responder.respond(to: exchange)
            // Most responses are written before respond() returns; only a response that
            // waits (for upstream) stops read events, so the common case costs no epoll_ctl.
            if case .awaitingResponse(let pending) = state, pending === exchange { setInterest(.peerClosed) }
        }
        return true
    }

    // MARK: - Writing

    func send(_ response: Response, for exchange: Exchange) {
        guard case .awaitingResponse(let current) = state, current === exchange else { return }
        write(ConditionalRequest.evaluate(response, for: exchange.request), for: exchange, keepAlive: exchange.request.keepAlive && !server.draining)
    }

    private func write(_ response: Response, for exchange: Exchange, keepAlive: Bool) {
        let isHead = exchange.request.method == "HEAD"
        // Bytes appended straight from each String's UTF-8: building the head as a String
        // (an append and an interpolation per field) cost more than parsing the request.
        var head: [UInt8] = []
        head.reserveCapacity(256)
        func line(_ parts: String...) {
            for part in parts { head.append(contentsOf: part.utf8) }
            head.append(contentsOf: [UInt8(ascii: "\r"), UInt8(ascii: "\n")])
        }
        line("HTTP/1.1 ", String(response.status), " ", Response.reasonPhrase(response.status))
        for (name, value) in response.headers { line(name, ": ", value) }
        // A 304 keeps the 200's framing headers to itself (RFC 9110 8.6): no length of 0.
        if response.status != 304 { line("Content-Length: ", String(response.body.length)) }
        if !keepAlive {
            line("Connection: close")
        } else if exchange.request.minorVersion == 0 {
            line("Connection: keep-alive")  // HTTP/1.0 closes unless told otherwise
        }
        line()

        var bytes: [UInt8] = []
        var body = BodySource.none
        if !isHead {
            switch response.body {
            case .empty: break
            case .bytes(let b): bytes = b
            case .file(let fd, let offset, let length): body = .file(fd, offset: offset, end: offset + length)
            case .growing(let g): body = .growing(g, offset: 0, end: g.length)
            case .growingPart(let g, let offset, let length): body = .growing(g, offset: offset, end: offset + length)
            }
        }
        let log = AccessLog(requestID: exchange.requestID, method: exchange.request.method, target: exchange.request.target,
                            status: response.status, bodyLength: isHead ? 0 : response.body.length,
                            fields: response.logFields, started: headStarted)
        var out = Outgoing(head: head, bytes: bytes, body: body, keepAlive: keepAlive, log: log)
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
        out.waitingForProducer = false
        do {
            while out.sent < out.head.count + out.bytes.count {
                let headSent = min(out.sent, out.head.count), bytesSent = out.sent - headSent
                let r = try out.head.withUnsafeBytes { h in
                    try out.bytes.withUnsafeBytes { b in
                        try Socket.write(socket, UnsafeRawBufferPointer(rebasing: h[headSent...]), UnsafeRawBufferPointer(rebasing: b[bytesSent...]))
                    }
                }
                guard case .done(let n) = r else { return waitForSocket(out) }
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
                    guard case .done(let n) = r else { return waitForSocket(out) }
                    if n == 0 { return close(.fileTruncated) }
                    lastActivity = EventLoop.now()
                }
            case .growing(let file, var offset, let end):
                while offset < end {
                    let limit = min(file.sendable, end)
                    if offset >= limit {
                        if file.state == .failed { return close(.upstreamFailed) }
                        // Caught up with the producer: sleep until it writes more. The
                        // send timeout restarts then: the wait was the producer's.
                        out.waitingForProducer = true
                        state = .writing(out)
                        setInterest(.peerClosed)
                        file.waitForProgress { [weak self] in
                            self?.lastActivity = EventLoop.now()
                            self?.flush()
                        }
                        return
                    }
                    let r = try Socket.sendfile(socket, from: file.fd, offset: &offset, count: min(limit - offset, 1 << 20))
                    out.body = .growing(file, offset: offset, end: end)
                    guard case .done(let n) = r else { return waitForSocket(out) }
                    if n == 0 { return close(.fileTruncated) }
                    lastActivity = EventLoop.now()
                }
            }
        } catch {
            return close(.writeFailed)
        }
        finishResponse(out)
    }

    private func waitForSocket(_ out: Outgoing) {
        state = .writing(out)
        setInterest(.writable)
    }

    /// The whole response was sent: log it, then keep the connection for the next
    /// request, or linger and close.
    private func finishResponse(_ out: Outgoing) {
        if out.corked { Socket.setCork(socket, false) }
        server.logAccess(out.log, client: client, complete: true, note: nil)
        headStarted = 0
        state = .readingHead  // nothing is owed any more, whatever comes next
        guard out.keepAlive else { return linger(then: out.log.status >= 400 ? .badRequest : .responseDone) }
        lastActivity = EventLoop.now()
        setInterest(.readable)
        if !inbound.isEmpty {
            // The next pipelined head started waiting now, not when its bytes arrived.
            headStarted = lastActivity
            processInbound()
        }
    }

    // MARK: - Closing

    /// Closing with unread input makes the kernel send a reset, which can destroy our
    /// response before the client reads it. So: shut our side, drop what still comes
    /// until the client closes (at most `lingerMS` and `lingerMaxBytes`), then close.
    private func linger(then reason: CloseReason) {
        Socket.shutdownWrite(socket)
        inbound.removeAll()
        state = .lingering(until: EventLoop.now() + Connection.lingerMS * 1_000_000, then: reason)
        setInterest(.readable)
    }

    private func drainLingering(_ reason: CloseReason) {
        let result = try? server.scratch.withUnsafeMutableBytes { try Socket.read(socket, into: $0) }
        switch result {
        case .wouldBlock?:
            return
        case .done(let n)? where n > 0:
            lingered += n
            if lingered > Connection.lingerMaxBytes { close(reason) }
        default:
            close(reason)
        }
    }

    private func setInterest(_ wanted: IOInterest) {
        guard wanted != interest, isOpen else { return }
        do {
            try server.loop.setInterest(fd: socket.raw, wanted)
            interest = wanted
        } catch {
            close(.epollFailed)
        }
    }

    /// Ends the connection. A response in progress is cut short: its access-log
    /// line says why. Otherwise an abnormal end gets one line of its own.
    func close(_ reason: CloseReason) {
        switch state {
        case .closed:
            return
        case .writing(let out):
            server.logAccess(out.log, client: client, complete: false, note: reason.text)
        case .awaitingResponse(let exchange):
            server.logClose(reason, client: client, requestID: exchange.requestID, during: "awaiting_response")
        case .readingHead:
            server.logClose(reason, client: client, requestID: nil, during: inbound.isEmpty ? "idle" : "reading_head")
        case .lingering:
            break  // the refusal's access-log line already said what happened
        }
        state = .closed
        server.loop.deregister(fd: socket.raw)
        server.connectionDidClose(self, reason: reason)
        socket.close()
    }
}
