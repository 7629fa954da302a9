import Reactor

/// The HTTP/1.1 server side: accepts connections, owns them, and enforces the
/// limits that keep one client from hurting the others. Knows nothing of PyPI.
public final class Server: IOHandler {
    public struct Limits: Sendable {
        public var maxConnections = 1024
        public var maxHeadBytes = RequestParser.defaultMaxHeadBytes
        /// A request head must arrive within this time of its first byte.
        public var headTimeoutMS = 10_000
        /// Keep-alive connections with no request are closed after this.
        public var idleTimeoutMS = 60_000
        /// A client that accepts no bytes of a response for this long is dropped.
        public var sendTimeoutMS = 60_000
        public init() {}
    }

    let loop: EventLoop
    let logger: Logger
    let limits: Limits
    unowned let responder: HTTPResponder
    private let listener: FileDescriptor
    private var connections: [ObjectIdentifier: Connection] = [:]
    private var requestCounter: UInt64 = 0
    private var sweepTimer: TimerID?
    /// Set by `shutdown`: no new connections, no keep-alive, and `drained` is
    /// called once the last connection has closed.
    private(set) var draining = false
    private var drained: (() -> Void)?
    /// One read buffer for every connection: the loop is single-threaded.
    var scratch = [UInt8](repeating: 0, count: 64 * 1024)

    public let stats: ServerStats

    public init(loop: EventLoop, listener: FileDescriptor, responder: HTTPResponder, logger: Logger, limits: Limits = Limits(),
                stats: ServerStats = ServerStats()) {
        self.stats = stats
        self.loop = loop
        self.listener = listener
        self.responder = responder
        self.logger = logger
        self.limits = limits
    }

    public var openConnections: Int { connections.count }

    public func start() throws {
        try loop.register(fd: listener.raw, interest: .readable, handler: self)
        scheduleSweep()
    }

    /// Stops accepting; open connections are closed.
    public func stop() {
        stopAccepting()
        if let t = sweepTimer { loop.cancel(t) }
        for c in Array(connections.values) { c.close(.shutdown) }
    }

    /// Graceful shutdown: stop accepting, close idle connections, let responses in
    /// progress finish for up to `graceMS`, then close the rest. `done` runs once,
    /// when no connection is left.
    public func shutdown(graceMS: Int, done: @escaping () -> Void) {
        guard !draining else { return }
        draining = true
        drained = done
        stopAccepting()
        for c in Array(connections.values) where c.isReadingHead { c.close(.shutdown) }
        loop.schedule(afterMilliseconds: graceMS) { [weak self] in
            guard let self else { return }
            for c in Array(connections.values) { c.close(.shutdownGraceOver) }
        }
        checkDrained()
    }

    private func pauseAccepting() {
        guard listener.isOpen else { return }
        loop.deregister(fd: listener.raw)
        loop.schedule(afterMilliseconds: 100) { [weak self] in
            guard let self, listener.isOpen, !draining else { return }
            do { try loop.register(fd: listener.raw, interest: .readable, handler: self) } catch {
                logger.error("listener_register_failed", ["error": "\(error)"])
            }
        }
    }

    private func stopAccepting() {
        guard listener.isOpen else { return }
        loop.deregister(fd: listener.raw)
        listener.close()
    }

    private func checkDrained() {
        guard draining, connections.isEmpty, let done = drained else { return }
        drained = nil
        if let t = sweepTimer { loop.cancel(t) }
        done()
    }

    public func handleIO(fd _: Int32, event _: IOEvent) {
        // Accept everything queued: level-triggered epoll would call again anyway,
        // but one pass is cheaper than one wake-up per connection.
        for _ in 0..<256 {
            let accepted: IOResult<(FileDescriptor, String)>
            do { accepted = try Socket.accept(listener) } catch {
                // Out of fds (EMFILE/ENFILE) or similar: the listener stays readable, so
                // level-triggered epoll would spin. Pause accepting briefly instead.
                logger.warning("accept_failed", ["error": "\(error)", "pause_ms": "100"])
                pauseAccepting()
                return
            }
            guard case .done(let (socket, client)) = accepted else { return }
            if connections.count >= limits.maxConnections { evictOne() }
            if connections.count >= limits.maxConnections {
                // Refuse politely rather than let the queue grow: one short write, then close.
                let refusal = Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
                _ = try? refusal.withUnsafeBytes { try Socket.write(socket, $0) }
                logger.warning("connection_refused", ["client": client, "reason": "connection limit"])
                continue
            }
            let connection = Connection(socket: socket, client: client, server: self)
            do {
                try connection.start()
                connections[ObjectIdentifier(connection)] = connection
                stats.openConnections = connections.count
                connection.readFirst()
            } catch {
                logger.warning("register_failed", ["error": "\(error)"])
            }
        }
    }

    /// Full: make room by closing the connection that has waited on its client the
    /// longest with nothing owed to it (see `Connection.evictableSince`), as nginx
    /// reuses keep-alive connections; a flood of idle or slow clients cannot lock out
    /// clients with real requests. Connections being answered are never evicted.
    private func evictOne() {
        var victim: Connection?
        var oldest = UInt64.max
        for c in connections.values {
            if let since = c.evictableSince, since < oldest { victim = c; oldest = since }
        }
        victim?.close(.evicted)
    }

    func connectionDidClose(_ connection: Connection, reason: CloseReason) {
        stats.recordClose(reason)
        connections.removeValue(forKey: ObjectIdentifier(connection))
        stats.openConnections = connections.count
        checkDrained()
    }

    func nextRequestID() -> UInt64 {
        requestCounter += 1
        return requestCounter
    }

    // MARK: - Timeouts

    /// One timer for all connections (like redis's serverCron) rather than one per connection.
    private func scheduleSweep() {
        sweepTimer = loop.schedule(afterMilliseconds: 1000) { [weak self] in
            self?.sweep()
            self?.scheduleSweep()
        }
    }

    private func sweep() {
        let now = EventLoop.now()
        func elapsedMS(since t: UInt64) -> Int { Int((now &- t) / 1_000_000) }
        for connection in Array(connections.values) {
            switch connection.state {
            case .readingHead:
                if connection.isIdle {
                    if elapsedMS(since: connection.lastActivity) > limits.idleTimeoutMS { connection.close(.idleTimeout) }
                } else if elapsedMS(since: connection.headStarted) > limits.headTimeoutMS {
                    // From the head's first byte: trickling bytes do not buy time (slowloris).
                    connection.close(.headTimeout)
                }
            case .writing(let out):
                if out.waitingForProducer { continue }
                if elapsedMS(since: connection.lastActivity) > limits.sendTimeoutMS { connection.close(.sendTimeout) }
            case .lingering(let until, let reason):
                if now > until { connection.close(reason) }
            case .awaitingResponse, .closed:
                break
            }
        }
    }

    // MARK: - Logs

    /// One line for a connection that ended abnormally with no response in progress
    /// (a response in progress is reported on its access-log line instead).
    func logClose(_ reason: CloseReason, client: String, requestID: UInt64?, during: String) {
        let level: Logger.Level = reason.isAbnormal ? .warning : .debug
        guard logger.isEnabled(level) else { return }
        logger.log(level, "connection_closed", [
            "id": requestID.map { String($0) } ?? "-", "client": client, "reason": reason.rawValue, "state": during,
        ])
    }

    func logAccess(_ entry: Connection.AccessLog, client: String, complete: Bool, note: String?) {
        stats.record(status: entry.status, bodyBytes: entry.bodyLength, complete: complete)
        let level: Logger.Level = complete ? .info : .warning
        guard logger.isEnabled(level) else { return }  // formatting the fields is most of the cost
        let ms = entry.started == 0 ? 0 : Double(EventLoop.now() - entry.started) / 1_000_000
        let duration = String(Int(ms * 10) / 10) + "." + String(Int(ms * 10) % 10)
        var fields = [
            ("id", String(entry.requestID)), ("client", client), ("method", entry.method), ("path", entry.target),
            ("status", String(entry.status)), ("bytes", String(entry.bodyLength)), ("ms", duration),
        ]
        // The responder's own fields, always present so every line has the same shape.
        for name in responder.accessLogFieldNames {
            fields.append((name, entry.fields.first { $0.0 == name }?.1 ?? "-"))
        }
        fields.append(("result", complete ? "ok" : "cut: \(note ?? "")"))
        logger.log(level, "request", fields: fields)
    }
}
