import ArgumentParser
import HTTPServer
import PyPICache
import Reactor
import Upstream

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the cache (the default command).",
        discussion: """
        Every option can also be set with an environment variable named WHEELHOUSE_ and the
        option in capitals with underscores (e.g. WHEELHOUSE_DATA_DIR, WHEELHOUSE_OFFLINE=1);
        the command line wins. SIGTERM or SIGINT shut down gracefully; a second one at once.
        """)

    @Option(help: "Address to listen on. (default: 0.0.0.0)")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one. (default: 3141)")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Cache directory. (default: ./data)")
    var dataDir: String?

    @Option(help: "Upstream simple index URL. (default: https://pypi.org/simple/)")
    var upstream: String?

    @Option(name: .customLong("index-ttl"), help: "Seconds a project page is served before asking upstream again. (default: 1800)")
    var indexTTL: Int?

    @Flag(help: "Never contact upstream: serve only what is cached, and list only cached files.")
    var offline = false

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for an upstream connection. (default: 5)")
    var connectTimeout: Double?

    @Option(name: .customLong("page-timeout"), help: "Seconds an upstream page request may take in all. (default: 10)")
    var pageTimeout: Double?

    @Option(name: .customLong("stall-timeout"), help: "Seconds without upstream bytes before a download is abandoned. (default: 30)")
    var stallTimeout: Int?

    @Option(name: .customLong("max-connections"), help: "Client connections served at once. (default: 1024)")
    var maxConnections: Int?

    @Option(name: .customLong("header-timeout"), help: "Seconds a client has to send a request head. (default: 10)")
    var headerTimeout: Double?

    @Option(name: .customLong("idle-timeout"), help: "Seconds an idle keep-alive connection is kept. (default: 60)")
    var idleTimeout: Double?

    @Option(name: .customLong("send-timeout"), help: "Seconds a client may take no bytes of a response before it is dropped. (default: 60)")
    var sendTimeout: Double?

    @Option(name: .customLong("shutdown-grace"), help: "Seconds responses in progress get to finish on shutdown. (default: 10)")
    var shutdownGrace: Double?

    @Option(name: .customLong("log-level"), help: "debug, info, warning or error. (default: info)")
    var logLevel: String?

    func run() throws {
        let env = Environment()
        let host = try env.value(host, "HOST", default: "0.0.0.0") { $0 }
        let port = try env.value(port, "PORT", default: 3141) { Int($0) }
        let dataDir = try env.value(dataDir, "DATA_DIR", default: "./data") { $0 }
        let upstream = try env.value(upstream, "UPSTREAM", default: "https://pypi.org/simple/") { $0 }
        let ttl = try env.value(indexTTL, "INDEX_TTL", default: 1800) { Int($0) }
        let offline = try env.value(offline ? true : nil, "OFFLINE", default: false, parse: Environment.bool)
        let connectTimeout = try env.value(connectTimeout, "CONNECT_TIMEOUT", default: 5) { Double($0) }
        let pageTimeout = try env.value(pageTimeout, "PAGE_TIMEOUT", default: 10) { Double($0) }
        let stallTimeout = try env.value(stallTimeout, "STALL_TIMEOUT", default: 30) { Int($0) }
        let maxConnections = try env.value(maxConnections, "MAX_CONNECTIONS", default: 1024) { Int($0) }
        let headerTimeout = try env.value(headerTimeout, "HEADER_TIMEOUT", default: 10) { Double($0) }
        let idleTimeout = try env.value(idleTimeout, "IDLE_TIMEOUT", default: 60) { Double($0) }
        let sendTimeout = try env.value(sendTimeout, "SEND_TIMEOUT", default: 60) { Double($0) }
        let shutdownGrace = try env.value(shutdownGrace, "SHUTDOWN_GRACE", default: 10) { Double($0) }
        let levelName = try env.value(logLevel, "LOG_LEVEL", default: "info") { $0 }

        guard (0...65535).contains(port) else { throw ValidationError("port must be 0-65535, got \(port)") }
        guard ttl >= 0 else { throw ValidationError("index TTL must be >= 0 seconds") }
        guard upstream.hasPrefix("http://") || upstream.hasPrefix("https://") else {
            throw ValidationError("upstream must be an http:// or https:// URL, got '\(upstream)'")
        }
        for (name, value) in [("connect-timeout", connectTimeout), ("page-timeout", pageTimeout), ("header-timeout", headerTimeout),
                              ("idle-timeout", idleTimeout), ("send-timeout", sendTimeout),
                              ("stall-timeout", Double(stallTimeout))] where value <= 0 {
            throw ValidationError("\(name) must be > 0 seconds")
        }
        guard shutdownGrace >= 0 else { throw ValidationError("shutdown-grace must be >= 0 seconds") }
        guard maxConnections > 0 else { throw ValidationError("max-connections must be > 0") }
        guard let level = Logger.Level(name: levelName) else {
            throw ValidationError("log level must be debug, info, warning or error, got '\(levelName)'")
        }

        var config = ProxyConfig(dataDirectory: dataDir, upstream: upstream)
        config.indexTTLSeconds = Double(ttl)
        config.offline = offline
        config.connectTimeoutMS = Int(connectTimeout * 1000)
        config.pageTimeoutMS = Int(pageTimeout * 1000)
        config.stallTimeoutSeconds = stallTimeout
        var limits = Server.Limits()
        let share = FileLimitShare(limit: Socket.raiseFileLimit(), maxConnections: maxConnections)
        limits.maxConnections = share.connections
        config.openFileCapacity = share.openFiles
        limits.headTimeoutMS = Int(headerTimeout * 1000)
        limits.idleTimeoutMS = Int(idleTimeout * 1000)
        limits.sendTimeoutMS = Int(sendTimeout * 1000)

        let logger = Logger(level: level)
        Curl.globalInit()
        do {
            try serve(host: host, port: port, config: config, limits: limits, graceMS: Int(shutdownGrace * 1000), logger: logger)
        } catch let error as SystemError {
            logger.error("startup_failed", ["error": error.description])
            throw ExitCode(1)
        }
    }

    private func serve(host: String, port: Int, config: ProxyConfig, limits: Server.Limits, graceMS: Int, logger: Logger) throws {
        let loop = try EventLoop()
        let proxy = try PyPIProxy(config: config, loop: loop, logger: logger)
        let listener = try Socket.listen(host: host, port: UInt16(port))
        let server = Server(loop: loop, listener: listener, responder: proxy, logger: logger, limits: limits)
        proxy.serverStats = server.stats
        let boundPort = Int(try Socket.localPort(listener))
        proxy.setListenAddress(host: host, port: boundPort)
        try server.start()

        var stopping = false
        let finish = {
            proxy.shutdown()
            loop.stop()
        }
        let signals = try SignalWatcher(loop: loop) { signal in
            if stopping {
                logger.lifecycle("shutdown_now", ["signal": String(signal)])
                server.stop()
                return finish()
            }
            stopping = true
            logger.lifecycle("shutdown", ["signal": String(signal), "grace_ms": String(graceMS),
                                          "open_connections": String(server.openConnections)])
            server.shutdown(graceMS: graceMS, done: finish)
        }
        logger.lifecycle("listening", ["host": host, "port": String(boundPort),
                                       "data_dir": config.dataDirectory, "upstream": config.upstream,
                                       "offline": String(config.offline), "cached_files": String(proxy.cachedFileCount)])
        try loop.run()
        withExtendedLifetime(signals) {}
        logger.lifecycle("stopped")
    }
}

/// The open-file limit shared out so that no use of fds can starve another: a
/// reserve for the process's own fds (epoll, signalfd, listener, stdio, page
/// writes) and for upstream transfers (a socket and a temp file each), then a
/// quarter of the rest (at most 256) for cached files kept open, and what remains
/// for client connections. Should a share still run out, the open-file cache gives
/// descriptors back and a request gets 503; nothing is dropped from the cache.
struct FileLimitShare {
    static let reserve = 32 + 2 * 64
    let connections: Int
    let openFiles: Int

    init(limit: Int, maxConnections: Int) {
        let rest = max(limit - FileLimitShare.reserve, 24)
        openFiles = min(256, max(4, rest / 4))
        connections = min(maxConnections, max(16, rest - openFiles))
    }
}
