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
        /// Where file links point (`PageLinks`).
        let linkBase: Int
    }

    let policy: PagePolicy
    /// Pages have their own connection pool, so a page never queues behind file downloads.
    let curl: CurlMulti
    let config: ProxyConfig
    private let connectPolicy: ConnectPolicy
    let loop: EventLoop
    let clock: WallClock
    let logger: Logger
    let index: CacheIndex
    let store: CacheStorage
    let stats: CacheStats
    let health: UpstreamHealth
    let metadata: WheelMetadata
    private var fetches: [ProjectName: PageFetch] = [:]
    private var notFound: NegativeCache
    let rendered: RenderedPages
    /// Rendered bodies kept in the data directory across restarts; nil where they cannot be.
    let bodies: RenderedBodyFiles?
    /// Pages whose last save failed: the stored copy is older than the one in memory, so
    /// nothing rendered from the latter may be kept on disk as if it matched the former.
    var unsavedPages: Set<ProjectName> = []
    /// Bodies written to `rendered/`, and read back from it for a page not read since start-up.
    /// Bodies rendered while their page was being saved (no state to name yet): published
    /// when the save is done, dropped if anything changes first.
    var awaitingSave: [RenderedPages.Key: (draft: BodyDraft, made: RenderedPages.Rendered)] = [:]
    var keptBodiesWritten = 0
    var keptBodiesServed = 0
    var links: PageLinks
    /// The shared bucket (`--s3-endpoint`): pages this node lacks are looked for there first.
    var shared: SharedTier?
    /// Big page variants being rendered a slice per loop iteration (one per variant).
    private var renders: [RenderedPages.Key: PageRenderJob] = [:]
    /// Big stored pages being read from disk a slice per loop iteration (one per project).
    var loads: [ProjectName: PageLoad] = [:]
    private(set) var shuttingDown = false

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
        links = PageLinks(relativeOnly: config.relativeLinks)
        notFound = NegativeCache(ttlSeconds: config.notFoundTTLSeconds)
        rendered = RenderedPages(budgetBytes: config.memoryBudgetBytes - config.memoryBudgetBytes / 2)
        bodies = (store as? CacheStore).flatMap { local in
            config.keepRenderedBodies
                ? RenderedBodyFiles(dataDirectory: local.root, makeTemp: { try local.createTemp() }, logger: logger) : nil
        }
        rendered.spill = { [unowned self] key, made in spill(key, made) }
        bodies?.linkName = { [unowned self] base in String(SHA256.hex(Array(links.prefix(base, alias: false).utf8)).prefix(16)) }
    }

    /// Which rendered body answers a variant. Absolute links are the same from either path: one body for both.
    func renderedKey(_ name: ProjectName, _ variant: Variant) -> RenderedPages.Key {
        RenderedPages.Key(project: name, format: variant.format, alias: variant.linkBase == 0 && variant.alias,
                          gzip: variant.gzip, linkBase: variant.linkBase)
    }

    /// Rendered bodies in memory (for /+status), and how many renders were made.
    var renderedMemory: (count: Int, bytes: Int, budget: Int) { (rendered.count, rendered.totalBytes, rendered.budgetBytes) }
    var renderCount: Int { rendered.renderCount }
    /// Renders made, and bodies written to and served from `rendered/` (for /+status).
    var renderCounts: (renders: Int, keptWritten: Int, keptServed: Int) { (rendered.renderCount, keptBodiesWritten, keptBodiesServed) }

    /// The stored page (memory, else disk), whatever its age.
    func stored(_ name: ProjectName) -> ProjectPage? { index.page(name, load: store.loadPage) }

    func isFresh(_ page: ProjectPage) -> Bool { policy.isFresh(fetchedAt: page.fetchedAt, now: clock.now) }

    /// A project's cached files changed: its renderings list sizes and metadata anew.
    func invalidate(_ project: ProjectName) {
        rendered.invalidate(project)
        bodies?.remove(project)
        for key in awaitingSave.keys where key.project == project { awaitingSave.removeValue(forKey: key)?.draft.unlink() }
        abandonRenders { $0.project == project }
    }
    /// Upstream's reachability changed: every page's file list may change.
    func invalidateAll() {
        rendered.invalidateAll()
        for (_, parked) in awaitingSave { parked.draft.unlink() }
        awaitingSave.removeAll()
        abandonRenders { _ in true }
    }

    /// Renders under way for what changed finish for the requests that already wait
    /// (they asked before the change) but are not kept; later requests render anew.
    private func abandonRenders(_ affected: (RenderedPages.Key) -> Bool) {
        for (key, job) in renders where affected(key) {
            job.publishable = false
            renders.removeValue(forKey: key)
        }
    }

    /// Big page renders and big stored pages' reads under way (for tests).
    var rendersInProgress: Int { renders.count }
    var loadsInProgress: Int { loads.count }

    func serve(_ name: ProjectName, alias: Bool, exchange: Exchange) {
        let request = exchange.request
        // PEP 691: ?format= overrides the Accept header.
        let accept = Route.queryValue("format", in: request.query) ?? request.header("accept")
        guard let format = PageFormat.negotiate(accept: accept) else {
            return exchange.send(.error(406, "no acceptable page format (JSON and HTML are offered)"))
        }
        let linkBase = links.base(host: request.header("host"), forwardedProto: request.header("x-forwarded-proto"),
                                  forwardedHost: request.header("x-forwarded-host"), outsideURL: request.header("x-outside-url"),
                                  proxied: ["x-forwarded-for", "x-real-ip", "forwarded", "via"].contains { request.header($0) != nil })
        let variant = Variant(format: format, alias: alias, gzip: Gzip.accepted(by: request.header("accept-encoding")), linkBase: linkBase)
        // Denied (or not allowed) projects are refused before upstream is asked.
        if let reason = config.releaseFilter.projectRefusal(name) { return exchange.send(.error(404, reason)) }
        if shouldReadSharedPage(name) { return readSharedPage(name) { [self] in serve(name, alias: alias, exchange: exchange) } }
        // The first request after a restart: its date is in the page, read a slice at a time.
        if index.isStoredUnread(name) {
            if serveKeptBody(name, variant, exchange: exchange) { return }
            return readStored(name) { [self] _ in serve(name, variant, exchange: exchange) }
        }
        serve(name, variant, exchange: exchange)
    }

    private func serve(_ name: ProjectName, _ variant: Variant, exchange: Exchange) {
        let request = exchange.request
        // Only when the page was stored: a page served from its rendered body is not read again.
        let storedAt = index.fetchedAt(name)
        let now = clock.now
        let decision = policy.decide(.init(storedFetchedAt: storedAt, now: now, onlyIfCached: PyPIProxy.onlyIfCached(request),
                                           knownMissing: notFound.contains(name, now: now), breakerOpen: health.breakerOpen))
        switch decision {
        case .serveStored(let result):
            return respond(name, variant, cache: result, page: { [self] in readStored(name, then: $0) }) { [self] served in
                // No page after all (removed behind our back): ask upstream.
                if let served { exchange.send(served) } else { fetchAndServe(name, variant, storedAt: nil, exchange: exchange) }
            }
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
        fetchAndServe(name, variant, storedAt: storedAt, exchange: exchange)
    }

    private func fetchAndServe(_ name: ProjectName, _ variant: Variant, storedAt: Double?, exchange: Exchange) {
        fetch(name, revalidating: storedAt == nil ? nil : stored(name)) { [self] outcome in
            switch outcome {
            case .fetched(let page):
                respond(page, name: name, variant, cache: .miss, exchange: exchange)
            case .notModified:
                let page = stored(name) ?? ProjectPage(name: name.normalized, files: [])
                respond(page, name: name, variant, cache: .hit, exchange: exchange)
            case .notFound:
                exchange.send(.error(404, "project \(name) not found upstream"))
            case .failed(let reason, let timedOut):
                let stale = stored(name)
                if let result = policy.afterFailure(stored: stale != nil), let stale {
                    logger.warning("serving_stale_page", ["project": name.normalized, "error": reason])
                    respond(stale, name: name, variant, cache: result, exchange: exchange)
                } else {
                    exchange.send(.error(timedOut ? 504 : 502, "upstream failed for \(name): \(reason)"))
                }
            }
        }
    }

    /// True when this node has no copy of the page and the shared bucket should be asked
    /// first (a read is in flight to join, or the bucket was not asked lately).
    func shouldReadSharedPage(_ name: ProjectName) -> Bool {
        guard let shared, !config.offline, !index.hasStoredPage(name) else { return false }
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
        // Each buffer is parsed as it arrives: small ones bound what one libcurl call
        // (up to ~100 buffers when a big page waits in the socket) holds the loop for.
        options.bufferBytes = 16 * 1024

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
        loads.removeValue(forKey: name)  // a read under way is of the page this one replaces
        index.remember(page, as: name)
        if contentChanged { invalidate(name) }
        save(page, as: name)
    }

    private func respond(_ page: ProjectPage, name: ProjectName, _ variant: Variant, cache: CacheResult, exchange: Exchange) {
        // A page in hand always gives a response.
        respond(name, variant, cache: cache, page: { $0(page) }) { exchange.send($0!) }
    }

    /// Answers with the page's rendered body, else renders it from `page()` (read only
    /// then): small pages at once, big ones a slice per loop iteration (`PageRenderJob`),
    /// every request for that variant waiting for the one render. nil: there is no page
    /// after all (removed behind our back).
    private func respond(_ name: ProjectName, _ variant: Variant, cache: CacheResult,
                         page source: (@escaping (ProjectPage?) -> Void) -> Void, then answer: @escaping (Response?) -> Void) {
        let key = renderedKey(name, variant)
        let now = clock.now
        if let kept = keptRendering(key, now: now) { return answer(response(kept, name, variant, cache: cache)) }
        let reply = { [self] (made: RenderedPages.Rendered?) in
            answer(made.map { response($0, name, variant, cache: cache) } ?? .error(500, "rendering the page of \(name) failed"))
        }
        if let running = renders[key] { return running.join(reply) }
        source { [self] page in
            guard let page else { return answer(nil) }
            // Rendered, or begun, while the page was read.
            if let kept = keptRendering(key, now: clock.now) { return reply(kept) }
            if let running = renders[key] { return running.join(reply) }
            render(page, key, variant, reply: reply)
        }
    }

    private func render(_ page: ProjectPage, _ key: RenderedPages.Key, _ variant: Variant,
                        reply: @escaping (RenderedPages.Rendered?) -> Void) {
        let now = clock.now
        let name = key.project
        let (filtered, changesAt) = config.releaseFilter.apply(asServed(page), as: name, now: now)
        let prefix = links.prefix(variant.linkBase, alias: variant.alias)
        guard filtered.files.count > PageRenderJob.slicedAbove, !shuttingDown else {
            return reply(rendered.rendered(key, now: now) { (PageRenderer.render(filtered, as: variant.format, filesPrefix: prefix), changesAt) })
        }
        let job = PageRenderJob(key: key, page: filtered, filesPrefix: prefix, validUntil: changesAt,
                                spillAbove: rendered.spillAbove) { [unowned self] in try makeDraft() }
        job.join(reply)
        renders[key] = job
        loop.execute { [weak self] in self?.step(job) }
    }

    /// One slice of a big render; the next is queued behind whatever else the loop has to do.
    private func step(_ job: PageRenderJob) {
        guard !shuttingDown else { return }
        let made: RenderedPages.Rendered?
        do {
            guard let done = try job.step() else {
                loop.execute { [weak self] in self?.step(job) }
                return
            }
            made = done
        } catch {
            logger.error("page_render_failed", ["project": job.key.project.normalized, "error": "\(error)"])
            made = nil
        }
        if renders[job.key] === job { renders.removeValue(forKey: job.key) }
        if let made, job.publishable {
            // Nothing changed while it was rendered (else it would not be publishable): it is
            // what the state now renders, so the state now names it on disk.
            if let draft = job.draft { keep(draft, as: job.key, made) }
            rendered.keep(job.key, made)
        } else {
            job.draft?.unlink()
        }
        for waiter in job.takeWaiters() { waiter(made) }
    }

    /// Abandons every page fetch (shutdown).
    func shutdown() {
        // Renders under way stop; their clients' connections close with the server.
        shuttingDown = true
        for job in renders.values { job.draft?.unlink() }
        renders.removeAll()
        loads.removeAll()
        for fetch in Array(fetches.values) { curl.cancel(fetch.transfer) }
        fetches.removeAll()
        finishSavesNow()  // a fetched page is not lost to a stop
        // Last: every body on disk now matches what this server knew.
        bodies?.markCleanStop()
    }
}
