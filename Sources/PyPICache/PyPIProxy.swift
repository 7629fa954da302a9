import FoundationEssentials
import HTTPServer
import ObjectStore
import Reactor
import Support
import Upstream

/// The caching PyPI proxy as the HTTP server sees it: builds the parts and routes each
/// request (`Route`) to the one that owns it:
/// - project pages → `PageCache` (TTL, revalidation, negative cache, stale on failure);
/// - files and their metadata → `FileCache` (immutable, fetched once, verified);
/// - `/`, `/root/pypi/<p>`, `/+status`, `/+metrics` → `WebPages` / `StatusReport`, from a `ServerSnapshot`.
/// Upstream's health (offline, circuit breaker, probes) is `UpstreamHealth`; storage is a
/// `CacheStorage` (`CacheStore` on local disk); every time is read from `clock`.
public final class PyPIProxy: HTTPResponder {
    public static let version = "0.1.0"
    /// Descriptors rendered pages kept in files may hold at once (for the fd share).
    public static let renderedPageFileLimit = RenderedPages.spilledFileLimit

    public let stats = CacheStats()
    /// The HTTP server's counters (requests by status, bytes, connections), set by whoever starts it.
    public var serverStats: ServerStats?
    private var config: ProxyConfig
    private let clock: WallClock
    /// When this server started (for uptime), by `clock`.
    private let started: Double
    /// This server's identity, kept with the cache (devpi reports one too).
    private let uuid: String
    private let index: CacheIndex
    private let health: UpstreamHealth
    let pages: PageCache
    let files: FileCache

    public convenience init(config: ProxyConfig, loop: EventLoop, logger: Logger, clock: WallClock = SystemClock()) throws {
        let store = try CacheStore(root: config.dataDirectory, openFileCapacity: config.openFileCapacity)
        try self.init(config: config, store: store, loop: loop, logger: logger, clock: clock)
    }

    public init(config: ProxyConfig, store: CacheStorage, loop: EventLoop, logger: Logger, clock: WallClock = SystemClock()) throws {
        self.config = config
        self.clock = clock
        started = clock.now
        let connectPolicy = ConnectPolicy(upstreamURL: config.upstream, environment: ProcessInfo.processInfo.environment)
        if !connectPolicy.enforced {
            logger.warning("address_checks_off", ["reason": "an HTTP proxy is set in the environment; it resolves names, so addresses cannot be checked here"])
        }
        index = CacheIndex(cachedFiles: store.scanFiles(), storedPages: store.storedPageNames(),
                           pageBudgetBytes: config.memoryBudgetBytes / 2, loadPage: { [store] in store.loadPage($0) })
        uuid = try store.serverUUID()
        health = UpstreamHealth(offline: config.offline, upstreamURL: config.upstream, loop: loop, clock: clock, logger: logger)
        let metadata = WheelMetadata(index: index, store: store, logger: logger)
        // Pages and files use separate connection pools, so a page request never
        // queues behind file downloads from the same host (libcurl's per-host limit).
        pages = PageCache(config: config, connectPolicy: connectPolicy, curl: CurlMulti(loop: loop, maxConnectionsPerHost: 8),
                          loop: loop, clock: clock, logger: logger, index: index, store: store, stats: stats, health: health, metadata: metadata)
        let fileCurl = CurlMulti(loop: loop, maxConnectionsPerHost: 16)
        files = FileCache(config: config, connectPolicy: connectPolicy, curl: fileCurl,
                          loop: loop, clock: clock, logger: logger, index: index, store: store, stats: stats, health: health,
                          metadata: metadata, pages: pages)
        // Start-up fails, naming the option, if libcurl refused one the caches rely on.
        try pages.curl.requireReady()
        try files.curl.requireReady()
        if config.maxCacheBytes != nil && config.offline {
            // Offline, an evicted file could not come back: the cap waits for the next online start.
            logger.warning("max_cache_size_ignored", ["reason": "offline: evicted files could not be fetched again"])
        } else if let cap = config.maxCacheBytes {
            let pins = Pins(paths: ["\(config.dataDirectory)/pins"] + config.pinFiles)
            let eviction = FileEviction(capBytes: cap, index: index, store: store, pins: pins, loop: loop, clock: clock, logger: logger)
            eviction.onEvicted = { [unowned pages, unowned index] key in
                if let project = index.project(of: key.metadataSubject ?? key) { pages.invalidate(project) }
            }
            files.eviction = eviction
        }
        if let settings = config.sharedStore {
            // The bucket's requests share the files' multi handle (its own per-host limit).
            let shared = try SharedTier(client: S3Client(settings: settings, multi: fileCurl), dataDirectory: config.dataDirectory,
                                        loop: loop, clock: clock, logger: logger, index: index, store: store)
            try shared.checkAtStartup()  // blocking, before the loop runs: bad credentials stop start-up
            files.shared = shared
            pages.shared = shared
        }
        health.reachabilityChanged = { [unowned pages] in pages.invalidateAll() }
        health.probe = { [unowned pages] project in pages.fetch(project, revalidating: pages.stored(project)) { _ in } }
    }

    /// Distribution files in the cache (extracted `.metadata` files not counted).
    public var cachedFileCount: Int { index.distributionFileCount }

    /// The port actually bound (when started with port 0), for /+status.
    public func setListenAddress(host: String, port: Int) {
        config.listenHost = host
        config.listenPort = port
    }

    /// Every access-log line says how the cache answered (`cache=HIT`, `-` where it does not apply).
    public var accessLogFieldNames: [String] { [CacheResult.logFieldName] }

    public func respond(to exchange: Exchange) {
        let request = exchange.request
        switch Route.parse(path: request.path, query: request.query) {
        case .home:
            exchange.send(WebPages(snapshot: snapshot()).homePage())
        case .projectWeb(let name):
            exchange.send(WebPages(snapshot: snapshot()).projectWebPage(name))
        case .status:
            exchange.send(StatusReport(snapshot: snapshot()).statusResponse(request))
        case .metrics:
            exchange.send(StatusReport(snapshot: snapshot()).metricsResponse())
        case .projectList:
            exchange.send(WebPages(snapshot: snapshot()).simpleIndex())
        case .project(let name, let alias):
            pages.serve(name, alias: alias, exchange: exchange)
        case .file(let key):
            files.serve(key, exchange: exchange)
        case .redirect(let location):
            exchange.send(.redirect(to: location))
        case .notFound(let reason):
            exchange.send(.error(404, reason))
        case .badRequest(let reason):
            exchange.send(.error(400, reason))
        }
    }

    private func snapshot() -> ServerSnapshot {
        let now = clock.now
        return ServerSnapshot(now: now, uptimeSeconds: Int(now - started), config: config, uuid: uuid, upstream: health.state,
                              activeTransfers: pages.curl.activeCount + files.curl.activeCount, index: index, stats: stats,
                              renderedPages: pages.renderedMemory,
                              serverStats: serverStats, eviction: files.eviction, storedPage: { [pages] in pages.stored($0) },
                              sharedStore: files.shared?.report, renders: pages.renderCounts)
    }

    /// RFC 9111 `Cache-Control: only-if-cached`: answer from the cache or with 504,
    /// never from upstream (`wheelhouse prefetch --check` asks this way).
    static func onlyIfCached(_ request: Request) -> Bool {
        request.header("cache-control")?.lowercased().contains("only-if-cached") == true
    }

    /// Abandons every upstream transfer and deletes its temp file, so a shutdown
    /// leaves no partial file behind. Clients still following a download are cut short.
    public func shutdown() {
        health.shutdown()
        files.shutdown()
        pages.shutdown()
    }
}
