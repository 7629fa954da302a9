/// When a project page may be served from the cache and when upstream must be asked:
/// pure decisions from the stored copy's age, the mode, upstream's health and the time,
/// so they can be tested without a network (PageCache carries them out).
struct PagePolicy: Sendable {
    /// How long a page is served without asking upstream again (`--index-ttl`).
    let ttlSeconds: Double
    /// `--offline`: never ask upstream.
    let offline: Bool

    /// What a request for a page gets.
    enum Decision: Equatable {
        /// The stored page, as `X-Cache` says: `.hit` (fresh, or offline), `.stale` (breaker open).
        case serveStored(CacheResult)
        /// Ask upstream (revalidating the stored page, if any); `PagePolicy.afterFailure` decides on failure.
        case fetch
        /// Offline and not stored: 404.
        case notCachedOffline
        /// `Cache-Control: only-if-cached` and not stored: 504.
        case notCachedOnlyIfCached
        /// Upstream said 404 not long ago (negative cache): 404 without asking again.
        case knownMissing
        /// The breaker is open and nothing is stored: 503 with Retry-After.
        case upstreamFailing
    }

    /// Facts about one request.
    struct Situation {
        /// When the stored page was last fetched or revalidated; nil when none is stored.
        var storedFetchedAt: Double?
        var now: Double
        var onlyIfCached = false
        /// Upstream's recent 404 for this project is still remembered.
        var knownMissing = false
        var breakerOpen = false
    }

    func isFresh(fetchedAt: Double, now: Double) -> Bool { now - fetchedAt < ttlSeconds }

    func decide(_ s: Situation) -> Decision {
        let stored = s.storedFetchedAt != nil
        if let fetchedAt = s.storedFetchedAt, offline || isFresh(fetchedAt: fetchedAt, now: s.now) { return .serveStored(.hit) }
        if offline { return .notCachedOffline }
        if s.onlyIfCached { return stored ? .serveStored(.hit) : .notCachedOnlyIfCached }
        if s.knownMissing { return .knownMissing }
        // Breaker open: answer now from the cache rather than wait out another timeout.
        if s.breakerOpen { return stored ? .serveStored(.stale) : .upstreamFailing }
        return .fetch
    }

    /// Upstream failed while asked for a page: the stored copy (stale) if there is one, else nothing (502/504).
    func afterFailure(stored: Bool) -> CacheResult? { stored ? .stale : nil }
}

/// Projects upstream said do not exist, remembered for `--not-found-ttl` so that a
/// typo or a private name does not reach upstream on every request. Bounded: random
/// names must not grow memory without end.
struct NegativeCache {
    let ttlSeconds: Double
    let capacity: Int
    private var until: [ProjectName: Double] = [:]

    init(ttlSeconds: Double, capacity: Int = 10_000) {
        self.ttlSeconds = ttlSeconds
        self.capacity = capacity
    }

    var count: Int { until.count }

    func contains(_ name: ProjectName, now: Double) -> Bool {
        guard let expiry = until[name] else { return false }
        return now < expiry
    }

    mutating func remember(_ name: ProjectName, now: Double) {
        if until.count >= capacity { until = until.filter { $0.value > now } }
        if until.count < capacity { until[name] = now + ttlSeconds }
    }
}
