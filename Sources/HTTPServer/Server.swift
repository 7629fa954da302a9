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
        for c in Array(connections.values) { c.close(reason: "shutdown") }
    }

    /// Graceful shutdown: stop accepting, close idle connections, let responses in
    /// progress finish for up to `graceMS`, then close the rest. `done` runs once,
    /// when no connection is left.
    public func shutdown(graceMS: Int, done: @escaping () -> Void) {
        guard !draining else { return }
        draining = true
        drained = done
        stopAccepting()
        for c in Array(connections.values) where c.isReadingHead { c.close(reason: "shutdown") }
        loop.schedule(afterMilliseconds: graceMS) { [weak self] in
            guard let self else { return }
            for c in Array(connections.values) { c.close(reason: "shutdown grace period over") }
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
            if connections.count >= limits.maxConnections {
                // Full: make room by closing the connection idle the longest (as nginx
                // reuses keep-alive connections), so a flood of idle connections cannot
                // lock out clients with real requests.
                if let idlest = connections.values.filter(\.isIdle).min(by: { $0.lastActivity < $1.lastActivity }) {
                    idlest.close(reason: "connection limit: closing the idlest")
                }
            }
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
            } catch {
                logger.warning("register_failed", ["error": "\(error)"])
            }
        }
    }

    func connectionDidClose(_ connection: Connection) {
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
        for connection in Array(connections.values) {
            let idleMS = Int((now - connection.lastActivity) / 1_000_000)
            switch connection.state {
            case .readingHead:
                let limit = connection.isIdle ? limits.idleTimeoutMS : limits.headTimeoutMS
                if idleMS > limit { connection.close(reason: "timeout") }
            case .writing(let out):
                // A follower of a growing file waits on the producer, whose own timeouts bound it.
                if case .growing = out.body { continue }
                if idleMS > limits.sendTimeoutMS { connection.close(reason: "send timeout") }
            case .awaitingResponse, .closed:
                break
            }
        }
    }

    // MARK: - Access log

    func logAccess(_ entry: Connection.AccessLog, client: String, complete: Bool, note: String?) {
        stats.record(status: entry.status, bodyBytes: entry.bodyLength, complete: complete)
        let level: Logger.Level = complete ? .info : .warning
        guard logger.isEnabled(level) else { return }  // formatting the fields is most of the cost
        let ms = entry.started == 0 ? 0 : Double(EventLoop.now() - entry.started) / 1_000_000
        let duration = String(Int(ms * 10) / 10) + "." + String(Int(ms * 10) % 10)
        logger.log(level, "request", [
            "id": String(entry.requestID), "client": client, "method": entry.method, "path": entry.target,
            "status": String(entry.status), "bytes": String(entry.bodyLength), "ms": duration,
            "cache": entry.cache ?? "-", "result": complete ? "ok" : "cut: \(note ?? "")",
        ])
    }
}
