import ArgumentParser
import HTTPServer
import PyPICache
import Reactor
import Upstream

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the cache (the default command).",
        discussion: "Every option can also be set with an environment variable: WHEELHOUSE_ and the option in "
            + "capitals with underscores (e.g. WHEELHOUSE_DATA_DIR, WHEELHOUSE_OFFLINE=1); the command line wins. The "
            + "defaults shown are the ones in force, environment included. SIGTERM or SIGINT shut down gracefully; "
            + "a second one at once.")

    @OptionGroup var options: ServeOptions

    func run() throws {
        var config = try options.proxyConfig
        var limits = options.serverLimits
        let share = FileLimitShare(limit: Socket.raiseFileLimit(), maxConnections: limits.maxConnections, maxDownloads: config.maxDownloads)
        limits.maxConnections = share.connections
        config.openFileCapacity = share.openFiles

        let logger = Logger(level: options.level)
        Curl.globalInit()
        do {
            try serve(host: options.host, port: options.port, config: config, limits: limits,
                      graceMS: Int(options.shutdownGrace * 1000), logger: logger)
        } catch let error as SystemError {
            logger.error("startup_failed", ["error": error.description])
            throw ExitCode(1)
        } catch let error as SharedTierError {
            logger.error("startup_failed", ["error": error.description])
            throw ExitCode(1)
        }
    }

    private func serve(host: String, port: Int, config: ProxyConfig, limits: Server.Limits, graceMS: Int, logger: Logger) throws {
        let loop = try EventLoop()
        let proxy = try PyPIProxy(config: config, loop: loop, logger: logger)
        // Shared: other servers may use the directory; `gc` and `purge` wait for all to stop.
        // Best effort: a read-only data directory (offline, baked into an image) still serves.
        var lock: DataDirLock?
        do {
            lock = try DataDirLock.take(config.dataDirectory, .shared)
            if lock == nil { logger.warning("data_dir_locked", ["data_dir": config.dataDirectory, "by": "wheelhouse gc or purge"]) }
        } catch {
            logger.warning("data_dir_lock_failed", ["error": "\(error)", "effect": "gc and purge cannot tell this server runs"])
        }
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
        withExtendedLifetime((signals, lock)) {}
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
    /// Each upstream download holds a socket and a temp file; rendered pages kept in files
    /// hold one each; 32 more for the rest.
    /// At most a third of the limit (a tight limit still serves clients).
    let connections: Int
    let openFiles: Int

    init(limit: Int, maxConnections: Int, maxDownloads: Int) {
        let reserve = 32 + PyPIProxy.renderedPageFileLimit + 2 * maxDownloads
        let rest = max(limit - min(reserve, limit / 3), 24)
        openFiles = min(256, max(4, rest / 4))
        connections = min(maxConnections, max(16, rest - openFiles))
    }
}
