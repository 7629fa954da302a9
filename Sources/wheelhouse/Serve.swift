import ArgumentParser
import Glibc
import HTTPServer
import PyPICache
import Reactor
import Upstream

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the cache (the default command).",
        discussion: "Every option can also be set with an environment variable: WHEELHOUSE_HOST, WHEELHOUSE_PORT, "
            + "WHEELHOUSE_DATA_DIR, WHEELHOUSE_UPSTREAM, WHEELHOUSE_INDEX_TTL, WHEELHOUSE_LOG_LEVEL.")

    @Option(help: "Address to listen on. [env: WHEELHOUSE_HOST] (default: 0.0.0.0)")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one. [env: WHEELHOUSE_PORT] (default: 3141)")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Cache directory. [env: WHEELHOUSE_DATA_DIR] (default: ./data)")
    var dataDir: String?

    @Option(help: "Upstream simple index URL. [env: WHEELHOUSE_UPSTREAM] (default: https://pypi.org/simple/)")
    var upstream: String?

    @Option(name: .customLong("index-ttl"), help: "Seconds a project page is served before asking upstream again. [env: WHEELHOUSE_INDEX_TTL] (default: 1800)")
    var indexTTL: Int?

    @Option(name: .customLong("log-level"), help: "debug, info, warning or error. [env: WHEELHOUSE_LOG_LEVEL] (default: info)")
    var logLevel: String?

    func run() throws {
        let host = try Environment.value(host, "WHEELHOUSE_HOST", default: "0.0.0.0") { $0 }
        let port = try Environment.value(port, "WHEELHOUSE_PORT", default: 3141) { Int($0) }
        let dataDir = try Environment.value(dataDir, "WHEELHOUSE_DATA_DIR", default: "./data") { $0 }
        let upstream = try Environment.value(upstream, "WHEELHOUSE_UPSTREAM", default: "https://pypi.org/simple/") { $0 }
        let ttl = try Environment.value(indexTTL, "WHEELHOUSE_INDEX_TTL", default: 1800) { Int($0) }
        let levelName = try Environment.value(logLevel, "WHEELHOUSE_LOG_LEVEL", default: "info") { $0 }

        guard (0...65535).contains(port) else { throw ValidationError("port must be 0-65535, got \(port)") }
        guard ttl >= 0 else { throw ValidationError("index TTL must be >= 0 seconds") }
        guard upstream.hasPrefix("http://") || upstream.hasPrefix("https://") else {
            throw ValidationError("upstream must be an http:// or https:// URL, got '\(upstream)'")
        }
        guard let level = Logger.Level(name: levelName) else {
            throw ValidationError("log level must be debug, info, warning or error, got '\(levelName)'")
        }

        let logger = Logger(level: level)
        Curl.globalInit()
        var config = ProxyConfig(dataDirectory: dataDir, upstream: upstream)
        config.indexTTLSeconds = Double(ttl)

        do {
            let loop = try EventLoop()
            let proxy = try PyPIProxy(config: config, loop: loop, logger: logger)
            let listener = try Socket.listen(host: host, port: UInt16(port))
            let server = Server(loop: loop, listener: listener, responder: proxy, logger: logger)
            try server.start()
            let signals = try SignalWatcher(loop: loop) { signal in
                logger.lifecycle("shutdown", ["signal": String(signal)])
                server.stop()
                loop.stop()
            }
            logger.lifecycle("listening", ["host": host, "port": String(try Socket.localPort(listener)),
                                      "data_dir": dataDir, "upstream": config.upstream,
                                      "cached_files": String(proxy.cachedFileCount)])
            try loop.run()
            withExtendedLifetime(signals) {}
        } catch let error as SystemError {
            logger.error("startup_failed", ["error": error.description])
            throw ExitCode(1)
        }
    }
}
