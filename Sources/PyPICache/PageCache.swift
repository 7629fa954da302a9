import HTTPServer
import Reactor
import Support
import Upstream

/// Project pages: serving them from the cache or from upstream (`PagePolicy` decides),
/// one upstream fetch per project however many clients ask (`PageFetch`), revalidation
/// (If-None-Match / If-Modified-Since, a 304 renews the TTL), the negative cache, stale
/// pages when upstream fails, and the rendered bodies (`RenderedPages`).
final class PageCache {
    /// How one client wants a page: format (Accept or `?format=`), alias path, gzip.
    struct Variant {
        let format: PageFormat
        let alias: Bool
        let gzip: Bool
    }

    let policy: PagePolicy
    /// Pages have their own connection pool, so a page never queues behind file downloads.
    let curl: CurlMulti
    private let config: ProxyConfig
    private let connectPolicy: ConnectPolicy
    private let loop: EventLoop
    private let clock: WallClock
    private let logger: Logger
    private let index: CacheIndex
    private let store: CacheStorage
    private let stats: CacheStats
    private let health: UpstreamHealth
    private let metadata: WheelMetadata
    private var fetches: [ProjectName: PageFetch] = [:]
    private var notFound: NegativeCache
    private let rendered: RenderedPages
    /// The shared bucket (`--s3-endpoint`): pages this node lacks are looked for there first.
    var shared: SharedTier?

    init(config: ProxyConfig, connectPolicy: ConnectPolicy, curl: CurlMulti, loop: EventLoop, clock: WallClock, logger: Logger,
         index: CacheIndex, store: CacheStorage, stats: CacheStats, health: UpstreamHealth, metadata: WheelMetadata) {
        self.config = config
        self.connectPolicy = connectPolicy
        self.curl = curl
        self.loop = loop
        self.clock = clock
        self.logger = logger
        self.index = index
        self.store = store
        self.stats = stats
        self.health = health
        self.metadata = metadata
        policy = PagePolicy(ttlSeconds: config.indexTTLSeconds, offline: config.offline)
        notFound = NegativeCache(ttlSeconds: config.notFoundTTLSeconds)
        rendered = RenderedPages(budgetBytes: config.memoryBudgetBytes - config.memoryBudgetBytes / 2) { [store, logger] body in
            // A body too big for memory: an unlinked temp file, so nothing is left behind.
            do {
                let temp = try store.createTemp()
                Files.remove(temp.path)  // the descriptor keeps the bytes; a crash leaves nothing
                try body.withUnsafeBytes { try Files.writeAll(temp.fd, $0) }
                return temp.fd
            } catch {
                logger.warning("rendered_page_spill_failed", ["bytes": String(body.count), "error": "\(error)"])
                return nil
            }
        }
    }

    /// Rendered bodies in memory (for /+status), and how many renders were made.
    var renderedMemory: (count: Int, bytes: Int, budget: Int) { (rendered.count, rendered.totalBytes, rendered.budgetBytes) }
    var renderCount: Int { rendered.renderCount }

    /// The stored page (memory, else disk), whatever its age.
    func stored(_ name: ProjectName) -> ProjectPage? { index.page(name, load: store.loadPage) }

    func isFresh(_ page: ProjectPage) -> Bool { policy.isFresh(fetchedAt: page.fetchedAt, now: clock.now) }

    /// A project's cached files changed: its renderings list sizes and metadata anew.
    func invalidate(_ project: ProjectName) { rendered.invalidate(project) }
    /// Upstream's reachability changed: every page's file list may change.
    func invalidateAll() { rendered.invalidateAll() }

    func serve(_ name: ProjectName, alias: Bool, exchange: Exchange) {
        let request = exchange.request
        // PEP 691: ?format= overrides the Accept header.
        let accept = Route.queryValue("format", in: request.query) ?? request.header("accept")
        guard let format = PageFormat.negotiate(accept: accept) else {
            return exchange.send(.error(406, "no acceptable page format (JSON and HTML are offered)"))
        }
        let variant = Variant(format: format, alias: alias, gzip: Gzip.accepted(by: request.header("accept-encoding")))
        // Denied (or not allowed) projects are refused before upstream is asked.
        if let reason = config.releaseFilter.projectRefusal(name) { return exchange.send(.error(404, reason)) }
        if shouldReadSharedPage(name) { return readSharedPage(name) { [self] in serve(name, alias: alias, exchange: exchange) } }

        // Only when the page was stored: a page served from its rendered body is not read again.
        let storedAt = index.fetchedAt(name)
        let now = clock.now
        let decision = policy.decide(.init(storedFetchedAt: storedAt, now: now, onlyIfCached: PyPIProxy.onlyIfCached(request),
                                           knownMissing: notFound.contains(name, now: now), breakerOpen: health.breakerOpen))
        switch decision {
        case .serveStored(let result):
            if let served = response(name, variant, cache: result, page: { stored(name) }) { return exchange.send(served) }
        case .notCachedOffline:
            return exchange.send(.error(404, "offline mode: project \(name) is not cached"))
        case .notCachedOnlyIfCached:
            return exchange.send(.error(504, "project \(name) is not cached (only-if-cached)"))
        case .knownMissing:
            return exchange.send(.error(404, "project \(name) not found upstream (cached answer)"))
        case .upstreamFailing:
            if let failing = health.failingResponse("project \(name)") { return exchange.send(failing) }
        case .fetch:
            break
        }
        fetch(name, revalidating: storedAt == nil ? nil : stored(name)) { [self] outcome in
            switch outcome {
            case .fetched(let page):
                exchange.send(response(page, name: name, variant, cache: .miss))
            case .notModified:
                let page = stored(name) ?? ProjectPage(name: name.normalized, files: [])
                exchange.send(response(page, name: name, variant, cache: .hit))
            case .notFound:
                exchange.send(.error(404, "project \(name) not found upstream"))
            case .failed(let reason, let timedOut):
                let stale = stored(name)
                if let result = policy.afterFailure(stored: stale != nil), let stale {
                    logger.warning("serving_stale_page", ["project": name.normalized, "error": reason])
                    exchange.send(response(stale, name: name, variant, cache: result))
                } else {
                    exchange.send(.error(timedOut ? 504 : 502, "upstream failed for \(name): \(reason)"))
                }
            }
        }
    }

    /// True when this node has no copy of the page and the shared bucket should be asked
    /// first (a read is in flight to join, or the bucket was not asked lately).
    func shouldReadSharedPage(_ name: ProjectName) -> Bool {
        guard let shared, !config.offline, stored(name) == nil else { return false }
        return shared.shouldAskForPage(name)
    }

    /// Reads the page from the shared bucket into the store, then calls `then`, found or not.
    func readSharedPage(_ name: ProjectName, then: @escaping () -> Void) {
        guard let shared else { return then() }
        shared.loadPage(name, then: then)
    }

    /// Fetches a project page, sharing the request with anyone already waiting
    /// for it. A fetched page is stored and indexed before waiters hear of it.
    func fetch(_ name: ProjectName, revalidating cached: ProjectPage?, then waiter: @escaping (PageFetch.Outcome) -> Void) {
        if let running = fetches[name] { return running.join(waiter) }

        var options = Transfer.Options()
        options.headers = ["Accept: application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"]
        if let etag = cached?.etag { options.headers.append("If-None-Match: \(etag)") }
        if let modified = cached?.lastModified { options.headers.append("If-Modified-Since: \(modified)") }
        options.connectTimeoutMS = config.connectTimeoutMS
        options.connectPolicy = connectPolicy
        options.totalTimeoutMS = config.pageTimeoutMS
        options.acceptCompressed = true

        let fetch = PageFetch(project: name, url: config.upstream + name.normalized + "/", options: options, logger: logger) { [self] fetch, outcome in
            finished(fetch, outcome, name: name)
        }
        fetch.join(waiter)
        fetches[name] = fetch
        let timeout = config.pageTimeoutMS
        fetch.deadline = loop.schedule(afterMilliseconds: timeout) { [weak self, weak fetch] in
            guard let self, let fetch, fetches[name] === fetch else { return }
            fetch.deadline = nil
            curl.cancel(fetch.transfer)
            fetch.expire(afterMilliseconds: timeout)
        }
        curl.add(fetch.transfer)
    }

    /// Page fetches in progress (one per project).
    var fetchesInProgress: Int { fetches.count }
    /// How many requests share the running fetch of a project's page (nil: none runs).
    func waiters(for name: ProjectName) -> Int? { fetches[name]?.waiterCount }

    private func finished(_ fetch: PageFetch, _ outcome: PageFetch.Outcome, name: ProjectName) {
        fetches.removeValue(forKey: name)
        if let deadline = fetch.deadline { loop.cancel(deadline) }
        if case .failed(let reason, _) = outcome, fetch.upstreamUnavailable {
            health.failed(reason, project: name)
        } else {
            health.succeeded()
        }
        switch outcome {
        case .fetched(var page):
            page.fetchedAt = clock.now
            remember(page, as: name)
        case .notModified:
            // 304: the stored copy is current again for another TTL.
            if var page = stored(name) {
                page.fetchedAt = clock.now
                remember(page, as: name, contentChanged: false)
            }
        case .notFound:
            notFound.remember(name, now: clock.now)
        case .failed:
            break
        }
        if case .failed(let reason, _) = outcome {
            stats.upstream(.page, succeeded: false, error: "\(name): \(reason)", now: clock.now)
        } else {
            stats.upstream(.page, succeeded: true, now: clock.now)
        }
        logger.info("upstream_page", ["project": name.normalized, "result": "\(outcome.summary)"])
        if fetch.skippedEntries > 0 {
            logger.warning("upstream_page_entries_skipped", ["project": name.normalized, "count": String(fetch.skippedEntries),
                                                              "reason": "not a usable file entry (null, no filename, no http(s) url)"])
        }
    }

    /// Indexes and stores a page; its renderings are dropped unless only its date changed (a 304).
    private func remember(_ page: ProjectPage, as name: ProjectName, contentChanged: Bool = true) {
        index.remember(page, as: name)
        if contentChanged { rendered.invalidate(name) }
        do {
            try store.savePage(page, as: name)
            shared?.pageStored(name)
        } catch {
            logger.error("page_store_failed", ["project": name.normalized, "error": "\(error)"])
        }
    }

    private func response(_ page: ProjectPage, name: ProjectName, _ variant: Variant, cache: CacheResult) -> Response {
        // A page in hand always gives a response.
        response(name, variant, cache: cache, page: { page })!
    }

    /// The page's response from its rendered body, else rendered from `page()` (read only
    /// then); nil when there is no page after all (removed behind our back).
    private func response(_ name: ProjectName, _ variant: Variant, cache: CacheResult, page source: () -> ProjectPage?) -> Response? {
        let key = RenderedPages.Key(project: name, format: variant.format, alias: variant.alias, gzip: variant.gzip)
        let now = clock.now
        let kept = rendered.cached(key, now: now)
        guard let found = kept ?? source().map({ page in rendered.rendered(key, now: now) {
            let (filtered, changesAt) = config.releaseFilter.apply(asServed(page), as: name, now: now)
            // Links are relative to the page: /root/pypi/+simple/<p>/ and /simple/<p>/ both reach /root/pypi/+f/.
            let prefix = variant.alias ? "../../root/pypi/+f/" : "../../+f/"
            return (PageRenderer.render(filtered, as: variant.format, filesPrefix: prefix), changesAt)
        } }) else { return nil }
        stats.served(.page, cache: cache, project: name, now: now)
        let page = found
        // Clients must not keep a page past the moment a cooldown lets a new file in.
        let maxAge = min(600, Int(config.indexTTLSeconds), page.validUntil.map { max(0, Int($0 - now)) } ?? Int.max)
        var headers = [
            ("Content-Type", variant.format.contentType),
            ("Vary", "Accept, Accept-Encoding"),
            ("ETag", page.etag),
            ("Cache-Control", "max-age=\(maxAge)"),
            ("X-Cache", cache.rawValue),
        ]
        if variant.gzip { headers.append(("Content-Encoding", "gzip")) }
        let body: Body = switch page.body {
        case .bytes(let bytes): .bytes(bytes)
        case .file(let fd, let length): .file(fd, offset: 0, length: length)
        }
        return Response(status: 200, headers: headers, body: body, logFields: cache.logFields)
    }

    /// The page as clients see it: what upstream said, plus what wheelhouse itself
    /// can add, minus what it cannot serve.
    private func asServed(_ page: ProjectPage) -> ProjectPage {
        var shown = page
        let reachable = health.reachable
        // Offline or while upstream fails, a page lists only what can be served: the cached files.
        if !reachable { shown.files = page.files.filter { $0.key.map { index.size(of: $0) != nil } ?? false } }
        for i in shown.files.indices {
            guard let key = shown.files[i].key else { continue }
            // PEP 700 sizes upstream left out, where the cache knows them.
            if shown.files[i].size == nil, let size = index.size(of: key) { shown.files[i].size = size }
            guard shown.files[i].isWheel else { continue }
            // PEP 658 metadata: never advertise what cannot be served.
            shown.files[i].coreMetadata = metadata.advertised(for: key, upstream: shown.files[i].coreMetadata, reachable: reachable)
        }
        return shown
    }

    /// The simple index root: the projects wheelhouse has pages for (not upstream's
    /// whole list, which pip and uv never need).
    func projectList() -> Response {
        var html = "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"\(PageRenderer.apiVersion)\">\n"
        html += "    <title>Simple index</title>\n  </head>\n  <body>\n"
        for name in index.projectNames where config.releaseFilter.projectRefusal(name) == nil {
            html += "    <a href=\"\(name.normalized)/\">\(name.normalized)</a><br/>\n"
        }
        html += "  </body>\n</html>\n"
        return Response(status: 200, headers: [("Content-Type", "text/html; charset=utf-8")], body: .bytes(Array(html.utf8)))
    }

    /// Abandons every page fetch (shutdown).
    func shutdown() {
        for fetch in Array(fetches.values) { curl.cancel(fetch.transfer) }
        fetches.removeAll()
    }
}
