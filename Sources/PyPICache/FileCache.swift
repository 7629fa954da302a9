import HTTPServer
import Reactor
import Support
import Upstream

/// Distribution files (and their PEP 658 `.metadata`): served from the cache, else fetched
/// once from the URL a page named however many clients ask (`FileFetch`), each client
/// following the growing temp file. Owns its downloads' temp files from creation to
/// commit (verified) or discard (failed, abandoned). Only URLs upstream pages named are fetched.
final class FileCache {
    /// Where the bytes for a `+f` key can come from.
    enum Source {
        /// An upstream URL named by a page (a distribution file, or its PEP 658 metadata).
        case upstream(DistributionFile)
        /// A wheel's metadata upstream offers none for: read off the wheel by ranges (RangedMetadata).
        case rangedMetadata(wheelKey: FileKey, wheel: CacheIndex.KnownFile)
        case unavailable(String)
    }

    /// Files have their own connection pool (16 per host), apart from pages.
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
    private let pages: PageCache
    private var fetches: [FileKey: FileFetch] = [:]
    /// `.metadata` read off uncached wheels by ranged GETs.
    private var ranged: RangedMetadata!
    /// `--max-cache-size` (nil: no cap), told of every use and every new file.
    var eviction: FileEviction?
    /// The shared bucket in front of upstream (`--s3-endpoint`), when configured.
    var shared: SharedTier?

    init(config: ProxyConfig, connectPolicy: ConnectPolicy, curl: CurlMulti, loop: EventLoop, clock: WallClock, logger: Logger,
         index: CacheIndex, store: CacheStorage, stats: CacheStats, health: UpstreamHealth, metadata: WheelMetadata, pages: PageCache) {
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
        self.pages = pages
        ranged = RangedMetadata(context: .init(
            curl: curl, loop: loop, logger: logger, index: index, store: store, metadata: metadata, pages: pages, health: health,
            options: fileTransferOptions, support: metadata.rangeSupport,
            fetchWhole: { [unowned self] key, file, done in fetchWhole(key, source: file, then: done) }),
            maxFetches: config.maxDownloads)
    }

    /// File downloads in progress (one per key).
    var fetchesInProgress: Int { fetches.count }
    /// How many clients wait for the running download's head (nil: none runs).
    func waiters(for key: FileKey) -> Int? { fetches[key]?.waitingCount }

    func serve(_ key: FileKey, exchange: Exchange) {
        // The page policies hide a file from pages; its URL is refused too, cached or not, never fetched.
        if let reason = refusal(for: key) { return exchange.send(.error(404, "\(key.filename) is not served: \(reason)")) }
        // A cached wheel's metadata is servable without upstream, whatever the mode.
        if let wheel = key.metadataSubject, serveLocalMetadata(key, of: wheel, exchange: exchange) { return }
        if key.metadataSubject == nil, index.size(of: key) != nil {
            switch store.open(key) {
            case .opened(let fd, let size):
                eviction?.used(key, holder: fd)
                return exchange.send(response(key, .file(fd, offset: 0, length: size), cache: .hit))
            case .failed(let error):
                // Out of fds or an I/O error: the file is still cached, so keep it indexed.
                logger.warning("cache_open_failed", ["file": key.filename, "error": error.description])
                return exchange.send(.error(503, "cannot open \(key.filename) now: \(error)"))
            case .missing:
                // Removed from disk behind our back: forget it and fetch again.
                index.removeCached(key)
            }
        }
        if config.offline { return exchange.send(.error(404, "offline mode: \(key.filename) is not cached")) }
        if PyPIProxy.onlyIfCached(exchange.request) {
            return exchange.send(.error(504, "\(key.filename) is not cached (only-if-cached)"))
        }
        if let running = fetches[key] { return running.join(exchange) }
        // The shared bucket may hold it even while upstream fails.
        if let shared, case .upstream(let file)? = source(for: key), shared.mayHold(file, key: key) {
            return serveFromSharedStore(key, file, exchange: exchange)
        }
        if let failing = health.failingResponse(key.filename) { return exchange.send(failing) }
        if let source = source(for: key) { return serve(key, from: source, exchange: exchange) }

        // Not named by any page seen yet (e.g. a lock file's URL after a restart):
        // load the page of the project the filename belongs to, then look again.
        guard let project = ProjectName.guess(fromFilename: (key.metadataSubject ?? key).filename) else {
            return exchange.send(.error(404, "\(key.filename) is not listed by any known project page"))
        }
        // The page may be in the shared bucket: read it, then start over (asked once a while per project).
        if pages.shouldReadSharedPage(project) { return pages.readSharedPage(project) { [self] in serve(key, exchange: exchange) } }
        let lookAgain = { [self] (failure: (status: Int, reason: String)?) in
            if let running = fetches[key] { return running.join(exchange) }
            if let reason = refusal(for: key) { return exchange.send(.error(404, "\(key.filename) is not served: \(reason)")) }
            if let source = source(for: key) { return serve(key, from: source, exchange: exchange) }
            if let failure { return exchange.send(.error(failure.status, failure.reason)) }
            exchange.send(.error(404, "\(key.filename) is not listed on the \(project) page"))
        }
        if let page = pages.stored(project), pages.isFresh(page) {
            return lookAgain(nil)
        }
        pages.fetch(project, revalidating: pages.stored(project)) { outcome in
            if case .failed(let reason, let timedOut) = outcome {
                lookAgain((timedOut ? 504 : 502, "upstream failed for \(project): \(reason)"))
            } else {
                lookAgain(nil)
            }
        }
    }

    /// Why `--min-age`, `--exclude-newer` or the allow/deny lists hide the file (or the
    /// wheel a `.metadata` key describes); nil when it may be served. Reads the project's
    /// stored page first if no page in memory names the file, for its upload time.
    private func refusal(for key: FileKey) -> String? {
        let filter = config.releaseFilter
        guard !filter.isEmpty else { return nil }
        let subject = key.metadataSubject ?? key
        if index.known(subject) == nil, let project = ProjectName.guess(fromFilename: subject.filename) {
            _ = pages.stored(project)
        }
        if let known = index.known(subject) { return filter.refusal(known.project, known.file, now: clock.now) }
        // Named by no page: judged by name and version alone (no upload time known).
        guard let project = ProjectName.guess(fromFilename: subject.filename) else { return nil }
        return filter.refusal(project, DistributionFile(filename: subject.filename, url: ""), now: clock.now)
    }

    /// nil when no loaded page names the key (or the file its metadata describes).
    private func source(for key: FileKey) -> Source? {
        guard let subject = key.metadataSubject else {
            return index.known(key).map { .upstream($0.file) }
        }
        guard let known = index.known(subject) else { return nil }
        if let hash = known.file.coreMetadata {
            return .upstream(DistributionFile(filename: key.filename, url: known.file.url + ".metadata", sha256: hash.isEmpty ? nil : hash))
        }
        if known.file.isWheel { return .rangedMetadata(wheelKey: subject, wheel: known) }
        return .unavailable("no core metadata for \(subject.filename): upstream offers none and the wheel is not cached")
    }

    private func serve(_ key: FileKey, from source: Source, exchange: Exchange) {
        switch source {
        case .upstream(let file):
            if let shared, shared.mayHold(file, key: key) { return serveFromSharedStore(key, file, exchange: exchange) }
            startFetch(key, source: file, first: exchange)
        case .rangedMetadata(let wheelKey, let wheel):
            ranged.fetch(key, wheelKey: wheelKey, wheel: wheel) { [weak self] outcome in
                guard let self else { return }
                if case .failed(let status, let reason) = outcome { return exchange.send(.error(status, reason)) }
                guard let (fd, size) = store.openIfPresent(key) else { return exchange.send(.error(502, "\(key.filename) vanished from the cache")) }
                exchange.send(response(key, .file(fd, offset: 0, length: size), cache: .miss))
            }
        case .unavailable(let reason):
            exchange.send(.error(404, reason))
        }
    }

    /// The shared bucket before upstream: a copy there is streamed from it (and kept here,
    /// verified against the page's sha256) like an upstream download; else upstream as usual.
    private func serveFromSharedStore(_ key: FileKey, _ file: DistributionFile, exchange: Exchange) {
        guard let shared, let sha256 = file.sha256 else { return startFetch(key, source: file, first: exchange) }
        shared.lookUp(key, sha256: sha256) { [self] objectURL in
            if let running = fetches[key] { return running.join(exchange) }
            if index.size(of: key) != nil, let (fd, size) = store.openIfPresent(key) {
                return exchange.send(response(key, .file(fd, offset: 0, length: size), cache: .hit))
            }
            if let objectURL {
                let copy = DistributionFile(filename: file.filename, url: objectURL, sha256: sha256)
                return startFetch(key, source: copy, first: exchange, fromSharedStore: true)
            }
            if let failing = health.failingResponse(key.filename) { return exchange.send(failing) }
            startFetch(key, source: file, first: exchange)
        }
    }

    /// Serves `<wheel>.metadata` from the cache (fetched earlier, or extracted from the
    /// cached wheel) unless upstream advertises different metadata and can be asked for
    /// it. False: not answered here, go to upstream.
    private func serveLocalMetadata(_ key: FileKey, of wheel: FileKey, exchange: Exchange) -> Bool {
        guard let local = metadata.localHash(for: wheel) else { return false }
        let advertised = index.known(wheel)?.file.coreMetadata.flatMap { $0.isEmpty ? nil : $0 }
        if let advertised, advertised != local, health.reachable {
            // PyPI's .metadata is the wheel's METADATA byte for byte; when they differ, upstream's wins.
            logger.warning("metadata_mismatch", ["file": wheel.filename, "upstream_sha256": advertised, "extracted_sha256": local,
                                                 "action": "fetching upstream's"])
            return false
        }
        guard let (fd, size) = store.openIfPresent(key) else { return false }
        eviction?.used(key, holder: fd)
        exchange.send(response(key, .file(fd, offset: 0, length: size), cache: .hit))
        return true
    }

    /// Upstream transfers of files (and ranges of them) share these limits.
    private var fileTransferOptions: Transfer.Options {
        var options = Transfer.Options()
        options.connectTimeoutMS = config.connectTimeoutMS
        options.connectPolicy = connectPolicy
        options.lowSpeedBytes = 1
        options.lowSpeedSeconds = config.stallTimeoutSeconds
        return options
    }

    /// Gets a file into the cache with no client waiting for its bytes (metadata of a wheel
    /// whose upstream ignores Range), sharing the download clients may be following.
    private func fetchWhole(_ key: FileKey, source: DistributionFile, then done: @escaping (String?) -> Void) {
        if index.size(of: key) != nil { return done(nil) }
        if fetches[key] == nil { startFetch(key, source: source, first: nil, orElse: done) }
        fetches[key]?.whenFinished(done)
    }

    private func startFetch(_ key: FileKey, source: DistributionFile, first exchange: Exchange?,
                            fromSharedStore: Bool = false, orElse refused: ((String) -> Void)? = nil) {
        guard fetches.count < config.maxDownloads else {
            logger.warning("download_refused", ["file": key.filename, "reason": "max-downloads", "in_flight": String(fetches.count)])
            refused?("\(fetches.count) downloads in progress (--max-downloads)")
            exchange?.send(.error(503, "\(fetches.count) downloads in progress (--max-downloads); retry shortly",
                                  headers: [("Retry-After", "1")]))
            return
        }
        let temp: TempFile
        do { temp = try store.createTemp() } catch {
            logger.error("temp_file_failed", ["error": "\(error)"])
            refused?("cannot create a cache file now: \(error)")
            exchange?.send(.error(503, "cannot create a cache file now: \(error)"))
            return
        }
        var options = fileTransferOptions
        if fromSharedStore, let shared {
            options.connectPolicy = nil  // the bucket is where the operator said, often a private address
            options.headers = shared.client.commonHeaders
            options.maxRedirects = 0
        }
        let fetch = FileFetch(
            key: key, source: source, temp: temp, loop: loop, options: options,
            answer: { [weak self] exchange, answer in self?.answer(exchange, key: key, with: answer) },
            finished: { [weak self] fetch, result in self?.finished(fetch, result) })
        fetches[key] = fetch
        if let exchange { fetch.join(exchange) }
        if fromSharedStore, let shared {
            fetch.fromSharedStore = true
            shared.client.sign(fetch.transfer)
        }
        logger.info(fromSharedStore ? "shared_file_start" : "upstream_file_start", ["file": key.filename, "url": source.url])
        curl.add(fetch.transfer)
    }

    private func answer(_ exchange: Exchange, key: FileKey, with answer: FileFetch.Answer) {
        switch answer {
        case .streaming(let file):
            // Bytes from the bucket are trusted only once their sha256 is checked, and a range
            // carries no hash the client could check: from the bucket, the whole body only.
            let unverifiedSource = fetches[key]?.fromSharedStore == true
            exchange.send(response(key, .growing(file), cache: .miss, ranges: !unverifiedSource))
        case .cached:
            guard let (fd, size) = store.openIfPresent(key) else {
                return exchange.send(.error(502, "file vanished from the cache"))
            }
            eviction?.used(key, holder: fd)
            exchange.send(response(key, .file(fd, offset: 0, length: size), cache: .miss))
        case .failed(let status, let reason):
            exchange.send(.error(status, reason))
        }
    }

    private func finished(_ fetch: FileFetch, _ result: Result<Int, FileFetch.FetchFailure>) {
        fetches.removeValue(forKey: fetch.key)
        if fetch.fromSharedStore { return sharedFetchFinished(fetch, result) }
        switch result {
        case .success(let size):
            stats.upstream(.file, succeeded: true, now: clock.now)
            do {
                try store.commit(fetch.tempFile, as: fetch.key)
                index.addCached(fetch.key, size: size)
                eviction?.added(fetch.key, holder: fetch.tempFile.fd)
                let verified = fetch.source.sha256 != nil
                if !verified { stats.unverifiedFile() }
                logger.log(verified ? .info : .warning, "upstream_file_done",
                           ["file": fetch.key.filename, "bytes": String(size), "sha256": fetch.sha256 ?? "",
                            "verified": verified ? "sha256" : "no (upstream gave no sha256)"])
                didCache(fetch.key, sha256: fetch.sha256 ?? "")
                if verified, let sha256 = fetch.sha256 { shared?.uploads.upload(fetch.key, sha256: sha256) }
            } catch {
                store.discard(fetch.tempFile)
                logger.error("cache_commit_failed", ["file": fetch.key.filename, "error": "\(error)"])
            }
        case .failure(let failure):
            // A 404 is an answer: upstream is up, the file is just not there.
            stats.upstream(.file, succeeded: failure.status == 404, error: "\(fetch.key.filename): \(failure.reason)", now: clock.now)
            store.discard(fetch.tempFile)
            logger.warning("upstream_file_failed", ["file": fetch.key.filename, "status": String(failure.status), "error": failure.reason])
            let subject = fetch.key.metadataSubject ?? fetch.key
            if failure.upstreamUnavailable, let project = index.project(of: subject) {
                health.failed(failure.reason, project: project)
            }
        }
    }

    /// A read from the shared bucket ended: kept like an upstream download when verified;
    /// a failure says nothing about upstream's health, only the bucket's.
    private func sharedFetchFinished(_ fetch: FileFetch, _ result: Result<Int, FileFetch.FetchFailure>) {
        switch result {
        case .success(let size):
            do {
                try store.commit(fetch.tempFile, as: fetch.key)
                index.addCached(fetch.key, size: size)
                logger.info("shared_file_done", ["file": fetch.key.filename, "bytes": String(size), "sha256": fetch.sha256 ?? ""])
                shared?.fetchFinished(fetch.key, failure: nil)
                didCache(fetch.key, sha256: fetch.sha256 ?? "")
            } catch {
                store.discard(fetch.tempFile)
                logger.error("cache_commit_failed", ["file": fetch.key.filename, "error": "\(error)"])
            }
        case .failure(let failure):
            store.discard(fetch.tempFile)
            logger.warning("shared_file_failed", ["file": fetch.key.filename, "status": String(failure.status), "error": failure.reason])
            shared?.fetchFinished(fetch.key, failure: (failure.reason, failure.upstreamUnavailable))
        }
    }

    /// A file just entered the cache: a wheel gets its METADATA extracted now (so its
    /// metadata is servable whatever happens to upstream later), fetched metadata
    /// replaces what was known of it, and the project's pages re-render when what they
    /// list changes (sizes, metadata).
    private func didCache(_ key: FileKey, sha256: String) {
        if let wheel = key.metadataSubject {
            index.setMetadataHash(sha256, for: wheel)
            if let known = index.known(wheel), pageChanges(whenCaching: known.file, metadataOnly: true) {
                pages.invalidate(known.project)
            }
            return
        }
        guard let known = index.known(key) else { return }
        // Metadata read earlier by ranges was not verified with the wheel's hash: compare it now.
        if known.file.isWheel, known.file.coreMetadata == nil { metadata.recheckRangedCopy(of: key) }
        if known.file.isWheel, let local = metadata.localHash(for: key),
           let advertised = known.file.coreMetadata, !advertised.isEmpty, advertised != local {
            logger.warning("metadata_mismatch", ["file": key.filename, "upstream_sha256": advertised, "extracted_sha256": local,
                                                 "action": "upstream's is fetched when asked for and upstream is reachable"])
        }
        if pageChanges(whenCaching: known.file, metadataOnly: false) { pages.invalidate(known.project) }
    }

    /// Whether caching a file (or only its `.metadata`) changes what its project's page says
    /// of it. Only what wheelhouse adds itself can change (`PageCache.asServed`): a size upstream
    /// left out, metadata upstream advertises no hash for, and, while upstream is unreachable,
    /// which files are listed at all. Usually nothing does: re-rendering the page anyway cost a
    /// 2,000-file page's render (~15 ms) per project on pip's first warm run.
    private func pageChanges(whenCaching file: DistributionFile, metadataOnly: Bool) -> Bool {
        guard health.reachable else { return true }
        let upstreamMetadata = file.coreMetadata.map { !$0.isEmpty } ?? false
        if metadataOnly { return !upstreamMetadata }
        return file.size == nil || (file.isWheel && !upstreamMetadata)
    }

    private func response(_ key: FileKey, _ body: Body, cache: CacheResult, ranges: Bool = true) -> Response {
        let subject = key.metadataSubject ?? key
        let project = index.project(of: subject)  // reads no page: this runs on every hit
        stats.served(.file, cache: cache, project: project, file: key, now: clock.now)
        var headers = [
            ("Content-Type", "application/octet-stream"),
            ("ETag", key.etag),
            ("Cache-Control", "max-age=365000000, immutable"),
            ("X-Cache", cache.rawValue),
        ]
        // Ranges on a complete file, and on one still downloading for the bytes written so far
        // (the server answers other ranges with 416 or the whole growing body: ConditionalRequest).
        switch body {
        case .file, .growing, .growingPart: if ranges { headers.append(("Accept-Ranges", "bytes")) }
        case .empty, .bytes: break
        }
        return Response(status: 200, headers: headers, body: body, logFields: cache.logFields)
    }

    /// Abandons every download and deletes its temp file, so a shutdown leaves no
    /// partial file behind. Clients still following a download are cut short.
    func shutdown() {
        ranged.shutdown()
        shared?.shutdown()
        for fetch in Array(fetches.values) {
            curl.cancel(fetch.transfer)
            fetch.abandon()
            store.discard(fetch.tempFile)
        }
        fetches.removeAll()
    }
}
