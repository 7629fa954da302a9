import FoundationEssentials
import HTTPServer
import Reactor
import Upstream

/// The caching PyPI proxy: routes each request to a page, a file or an info
/// page, and owns the cache policy:
/// - files are immutable: cached forever once verified, fetched once however
///   many clients ask (see FileFetch);
/// - project pages expire after the index TTL; concurrent requests share one
///   refresh; when upstream fails, the stale copy is served;
/// - every response says `X-Cache: HIT | MISS | STALE` where it applies;
/// - only URLs that an upstream page named are ever fetched.
public final class PyPIProxy: HTTPResponder {
    var config: ProxyConfig
    let loop: EventLoop
    /// Pages and files use separate connection pools, so a page request never
    /// queues behind file downloads from the same host (libcurl's per-host limit).
    let pageCurl: CurlMulti
    let fileCurl: CurlMulti
    let breaker = UpstreamBreaker()
    /// Which addresses upstream fetches may reach (no loopback/private ones unless upstream is there).
    let connectPolicy: ConnectPolicy
    var probeTimer: TimerID?
    let store: CacheStore
    let index: CacheIndex
    let logger: Logger
    var pageFetches: [ProjectName: PageFetch] = [:]
    var fileFetches: [FileKey: FileFetch] = [:]
    let rendered = RenderedPages()
    /// Projects upstream said do not exist, until when (negative cache).
    var notFoundUntil: [ProjectName: Double] = [:]
    public let stats = CacheStats()
    /// The HTTP server's counters (requests by status, bytes, connections), set by whoever starts it.
    public var serverStats: ServerStats?
    /// When this server started (for uptime), by `clock`.
    let started: Double
    /// Where every policy decision reads the time.
    let clock: WallClock
    /// This server's identity, kept in the data directory (devpi reports one too).
    let uuid: String
    public static let version = "0.1.0"

    public init(config: ProxyConfig, loop: EventLoop, logger: Logger, clock: WallClock = SystemClock()) throws {
        self.config = config
        self.clock = clock
        started = clock.now
        self.loop = loop
        self.logger = logger
        connectPolicy = ConnectPolicy(upstreamURL: config.upstream, environment: ProcessInfo.processInfo.environment)
        if !connectPolicy.enforced {
            logger.warning("address_checks_off", ["reason": "an HTTP proxy is set in the environment; it resolves names, so addresses cannot be checked here"])
        }
        pageCurl = CurlMulti(loop: loop, maxConnectionsPerHost: 8)
        fileCurl = CurlMulti(loop: loop, maxConnectionsPerHost: 16)
        store = try CacheStore(root: config.dataDirectory, openFileCapacity: config.openFileCapacity)
        index = CacheIndex(cachedFiles: store.scanFiles(), storedPages: store.storedPageNames())
        uuid = try store.serverUUID()
    }

    /// Upstream transfers in progress (pages and files).
    var activeTransfers: Int { pageCurl.activeCount + fileCurl.activeCount }

    /// False offline and while the breaker is open: then nothing waits on upstream,
    /// and pages list only what the cache can serve.
    var upstreamReachable: Bool { !config.offline && !breaker.isOpen }

    /// While the breaker is open: the answer for something the cache cannot serve. 503 with
    /// Retry-After (the next probe), which pip and uv retry, so a short outage costs a wait.
    func upstreamFailingResponse(_ what: String) -> Response? {
        guard case .failing(let since, let error, let nextProbe) = breaker.state else { return nil }
        let retry = max(1, Int((nextProbe - clock.now).rounded(.up)))
        return .error(503, "\(what) is not cached and upstream has been failing since "
                      + "\(Date(timeIntervalSince1970: since).formatted(.iso8601)) (\(error)); retrying in the background",
                      headers: [("Retry-After", String(retry))])
    }

    /// Distribution files in the cache (extracted `.metadata` files not counted).
    public var cachedFileCount: Int { index.distributionFileCount }
    /// The port actually bound (when started with port 0), for /+status.
    public func setListenAddress(host: String, port: Int) {
        config.listenHost = host
        config.listenPort = port
    }

    public func respond(to exchange: Exchange) {
        let request = exchange.request
        switch Route.parse(path: request.path, query: request.query) {
        case .home:
            exchange.send(homePage())
        case .projectWeb(let name):
            exchange.send(projectWebPage(name))
        case .status:
            exchange.send(statusResponse(request))
        case .metrics:
            exchange.send(metricsResponse())
        case .projectList:
            exchange.send(projectListPage(request))
        case .project(let name, let alias):
            servePage(name, alias: alias, exchange: exchange)
        case .file(let key):
            serveFile(key, exchange: exchange)
        case .redirect(let location):
            exchange.send(.redirect(to: location))
        case .notFound(let reason):
            exchange.send(.error(404, reason))
        case .badRequest(let reason):
            exchange.send(.error(400, reason))
        }
    }

    /// Every access-log line says how the cache answered (`cache=HIT`, `-` where it does not apply).
    public var accessLogFieldNames: [String] { [CacheResult.logFieldName] }

    /// RFC 9111 `Cache-Control: only-if-cached`: answer from the cache or with 504,
    /// never from upstream (`wheelhouse prefetch --check` asks this way).
    static func onlyIfCached(_ request: Request) -> Bool {
        request.header("cache-control")?.lowercased().contains("only-if-cached") == true
    }

    /// Abandons every upstream transfer and deletes its temp file, so a shutdown
    /// leaves no partial file behind. Clients still following a download are cut short.
    public func shutdown() {
        if let probeTimer { loop.cancel(probeTimer) }
        probeTimer = nil
        for fetch in Array(fileFetches.values) {
            fileCurl.cancel(fetch.transfer)
            fetch.abandon()
            store.discard(fetch.tempFile)
        }
        fileFetches.removeAll()
        for fetch in Array(pageFetches.values) { pageCurl.cancel(fetch.transfer) }
        pageFetches.removeAll()
    }
}
