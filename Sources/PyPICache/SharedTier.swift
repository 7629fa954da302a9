import ObjectStore
import Reactor
import Support
import Upstream

/// The shared tier: an S3-compatible bucket several wheelhouse nodes put in front of
/// upstream (docs/scale-out.md). The local data directory stays a read-through cache in
/// front of it. This type owns the bucket's reachability, the lookups in flight (one per
/// object however many clients ask) and the counters; uploads are `SharedUploads`.
///
/// Keys in the bucket, under the prefix:
///
///     files/<full sha256>/<filename>   a verified file, written once (If-None-Match: *)
///     pages/<project>                  a project page as the local store keeps it, replaced whole
///
/// A file's key carries its whole hash, and a file read from the bucket is verified
/// against the hash the page gave before it is kept (`FileFetch`), so a bad object is
/// never served whole nor cached.
final class SharedTier {
    enum State {
        case up
        case down(since: Double, reason: String)
    }

    /// What /+status and /+metrics show.
    struct Report {
        let endpoint: String
        let bucket: String
        let prefix: String
        let up: Bool
        let downSince: Double?
        let lastError: String?
        let filesFetched: Int
        let filesFetchFailed: Int
        let pagesFetched: Int
        let uploads: Int
        let alreadyShared: Int
        let uploadsDropped: Int
        let uploadsPending: Int
    }

    let client: S3Client
    let uploads: SharedUploads
    private let loop: EventLoop
    private let clock: WallClock
    private let logger: Logger
    private let index: CacheIndex
    private let store: CacheStorage
    private(set) var state: State = .up
    private var lastError: String?
    private var probeTimer: TimerID?
    /// File lookups in flight: who waits for each object's answer.
    private var fileLookups: [FileKey: [(String?) -> Void]] = [:]
    /// Page reads in flight, and when each project was last asked (a miss is not asked again at once).
    private var pageLookups: [ProjectName: [() -> Void]] = [:]
    private var pageAsked: [ProjectName: Double] = [:]
    /// Objects that failed verification here: served from upstream from now on.
    private var badObjects: Set<FileKey> = []
    private(set) var filesFetched = 0
    private(set) var filesFetchFailed = 0
    private(set) var pagesFetched = 0

    static let pageAskIntervalSeconds = 30.0
    static let probeIntervalMS = 5_000
    static let pageLimitBytes = 64 << 20

    init(client: S3Client, dataDirectory: String, loop: EventLoop, clock: WallClock, logger: Logger,
         index: CacheIndex, store: CacheStorage) throws {
        self.client = client
        self.loop = loop
        self.clock = clock
        self.logger = logger
        self.index = index
        self.store = store
        uploads = try SharedUploads(client: client, journalDirectory: "\(dataDirectory)/shared-pending", logger: logger, store: store)
        uploads.tier = self
    }

    var isUp: Bool { if case .up = state { true } else { false } }

    // MARK: - Start-up

    /// The blocking start-up check (before the loop runs). Throws when the tier cannot work
    /// (credentials refused, no such bucket); a bucket that does not answer starts the node
    /// in the down state: it serves from disk and upstream and catches up later.
    func checkAtStartup() throws {
        let settings = client.settings
        switch client.checkAccess() {
        case .ok:
            logger.info("shared_store_ready", ["endpoint": settings.endpoint, "bucket": settings.bucket, "prefix": settings.prefix,
                                               "pending_uploads": String(uploads.pendingCount)])
            uploads.resume()
        case .notFound:
            throw SharedTierError("bucket '\(settings.bucket)' does not exist at \(settings.endpoint) (create it first)")
        case .alreadyExists:
            throw SharedTierError("unexpected 412 from \(settings.bucketURL)")
        case .refused(let status, let reason):
            if status == 403 || status == 401 {
                throw SharedTierError("the object store refused the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) for bucket '\(settings.bucket)': \(reason)")
            }
            storeFailed("start-up check: \(reason)")
        case .unreachable(let reason):
            storeFailed("start-up check: \(reason)")
        }
    }

    // MARK: - Reachability

    /// A request found the store unusable: log once, stop asking it, probe until it answers.
    func storeFailed(_ reason: String) {
        lastError = reason
        guard isUp else { return }
        state = .down(since: clock.now, reason: reason)
        logger.warning("shared_store_unreachable", ["endpoint": client.settings.endpoint, "bucket": client.settings.bucket, "error": reason,
                                                    "action": "serving from local disk and upstream; uploads wait"])
        scheduleProbe()
    }

    private func scheduleProbe() {
        guard probeTimer == nil else { return }
        probeTimer = loop.schedule(afterMilliseconds: SharedTier.probeIntervalMS) { [weak self] in
            guard let self else { return }
            probeTimer = nil
            client.probe { [weak self] outcome in self?.probed(outcome) }
        }
    }

    private func probed(_ outcome: S3Outcome) {
        guard case .ok = outcome else {
            lastError = outcome.summary
            return scheduleProbe()
        }
        if case .down(let since, _) = state {
            logger.info("shared_store_reachable", ["endpoint": client.settings.endpoint, "down_seconds": String(Int(clock.now - since)),
                                                   "pending_uploads": String(uploads.pendingCount)])
        }
        state = .up
        uploads.resume()
    }

    // MARK: - Files

    /// True when the bucket may hold the file: it is up, the file has a sha256 to verify
    /// against, and no copy of it failed verification here.
    func mayHold(_ file: DistributionFile, key: FileKey) -> Bool {
        guard isUp, let sha = file.sha256, sha.utf8.count == 64, FileKey.isHex(sha), !badObjects.contains(key) else { return false }
        return true
    }

    func objectKey(_ key: FileKey, sha256: String) -> String { "files/\(sha256)/\(key.filename)" }

    /// Asks the bucket whether it holds the file; `then` gets the object's URL, or nil
    /// (not there, or the store failed: go upstream). One HEAD per object in flight.
    func lookUp(_ key: FileKey, sha256: String, then: @escaping (String?) -> Void) {
        if fileLookups[key] != nil { return fileLookups[key]!.append(then) }
        fileLookups[key] = [then]
        let objectKey = objectKey(key, sha256: sha256)
        client.head(objectKey) { [weak self] outcome in
            guard let self else { return }
            let waiters = fileLookups.removeValue(forKey: key) ?? []
            var url: String?
            switch outcome {
            case .ok: url = client.settings.url(for: objectKey)
            case .notFound, .alreadyExists: break
            case .refused, .unreachable:
                if outcome.storeFailing { storeFailed(outcome.summary) }
                logger.warning("shared_lookup_failed", ["file": key.filename, "error": outcome.summary])
            }
            for waiter in waiters { waiter(url) }
        }
    }

    /// A file read from the bucket ended: counted, and a store failure or a bad object noted.
    func fetchFinished(_ key: FileKey, failure: (reason: String, storeUnavailable: Bool)?) {
        guard let failure else { return filesFetched += 1 }
        filesFetchFailed += 1
        if failure.storeUnavailable {
            storeFailed(failure.reason)
        } else {
            // Wrong length or hash, or an error status: never ask the bucket for this one again.
            badObjects.insert(key)
            logger.error("shared_object_rejected", ["file": key.filename, "error": failure.reason, "action": "served from upstream from now on"])
        }
    }

    // MARK: - Pages

    /// True when a page this node lacks should be looked for in the bucket (a read is in
    /// flight to join, or none was made lately).
    func shouldAskForPage(_ name: ProjectName) -> Bool {
        guard isUp else { return false }
        if pageLookups[name] != nil { return true }
        guard let asked = pageAsked[name] else { return true }
        return clock.now - asked >= SharedTier.pageAskIntervalSeconds
    }

    /// Reads the project's page from the bucket into the local store and the index (the
    /// bytes are the store's own format, opaque here), then calls `then` either way.
    func loadPage(_ name: ProjectName, then: @escaping () -> Void) {
        if pageLookups[name] != nil { return pageLookups[name]!.append(then) }
        pageLookups[name] = [then]
        forgetOldPageAsks()
        pageAsked[name] = clock.now
        client.get("pages/\(name.normalized)", limit: SharedTier.pageLimitBytes) { [weak self] outcome, bytes in
            guard let self else { return }
            switch outcome {
            case .ok: importPage(name, bytes)
            case .notFound, .alreadyExists: break
            case .refused, .unreachable:
                if outcome.storeFailing { storeFailed(outcome.summary) }
                logger.warning("shared_page_failed", ["project": name.normalized, "error": outcome.summary])
            }
            for waiter in pageLookups.removeValue(forKey: name) ?? [] { waiter() }
        }
    }

    private func importPage(_ name: ProjectName, _ bytes: [UInt8]) {
        do {
            try store.importPage(bytes, as: name)
        } catch {
            return logger.warning("shared_page_import_failed", ["project": name.normalized, "error": "\(error)"])
        }
        guard var page = store.loadPage(name) else {
            // Another node's format (a different version): this node fetches its own.
            store.removePage(name)
            return logger.warning("shared_page_unreadable", ["project": name.normalized, "bytes": String(bytes.count)])
        }
        // A page fetched "in the future" (another node's clock, or a planted object) would
        // never expire here: it counts as fetched now at the latest. NaN counts as long ago.
        if !(page.fetchedAt <= clock.now) {
            page.fetchedAt = page.fetchedAt.isNaN ? 0 : clock.now
            try? store.savePage(page, as: name)
        }
        index.remember(page, as: name)
        pagesFetched += 1
        logger.info("shared_page_loaded", ["project": name.normalized, "bytes": String(bytes.count)])
    }

    /// A page this node fetched (or revalidated) from upstream: shared, replacing the bucket's copy.
    func pageStored(_ name: ProjectName) {
        guard isUp, let bytes = store.pageBytes(name) else { return }
        client.put("pages/\(name.normalized)", bytes: bytes) { [weak self] outcome in
            guard let self else { return }
            if case .ok = outcome { return }
            if outcome.storeFailing { storeFailed(outcome.summary) }
            logger.warning("shared_page_upload_failed", ["project": name.normalized, "error": outcome.summary])
        }
    }

    private func forgetOldPageAsks() {
        guard pageAsked.count > 10_000 else { return }
        let now = clock.now
        pageAsked = pageAsked.filter { now - $0.value < SharedTier.pageAskIntervalSeconds }
        // A flood of made-up names within the interval: forget them all (at worst a page is asked twice).
        if pageAsked.count > 10_000 { pageAsked.removeAll() }
    }

    // MARK: - Views, shutdown

    var report: Report {
        var since: Double?
        if case .down(let s, _) = state { since = s }
        let s = client.settings
        return Report(endpoint: s.endpoint, bucket: s.bucket, prefix: s.prefix, up: isUp, downSince: since, lastError: lastError,
                      filesFetched: filesFetched, filesFetchFailed: filesFetchFailed, pagesFetched: pagesFetched,
                      uploads: uploads.uploaded, alreadyShared: uploads.alreadyShared, uploadsDropped: uploads.dropped,
                      uploadsPending: uploads.pendingCount)
    }

    func shutdown() {
        if let probeTimer { loop.cancel(probeTimer) }
        probeTimer = nil
        client.cancelAll()
    }
}

/// Why the shared tier cannot start: one line for the start-up error.
public struct SharedTierError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
