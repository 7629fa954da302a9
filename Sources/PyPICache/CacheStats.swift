/// What the cache has been doing since start-up, for the web page, /+status and
/// /+metrics. Counts live in memory only: they describe this run.
public final class CacheStats {
    public enum Kind: String, CaseIterable { case page, file }

    public private(set) var hits: [Kind: Int] = [:]
    public private(set) var misses: [Kind: Int] = [:]
    public private(set) var stale = 0
    public private(set) var upstreamFetches: [Kind: Int] = [:]
    public private(set) var upstreamFailures: [Kind: Int] = [:]
    /// Downloads served per file (hits and misses), and when each project was last used.
    public private(set) var fileDownloads: [FileKey: Int] = [:]
    public private(set) var lastUsed: [ProjectName: Double] = [:]
    /// When upstream last answered, and since when it has been failing (nil: not failing).
    public private(set) var lastUpstreamSuccess: Double?
    public private(set) var failingSince: Double?
    public private(set) var lastUpstreamError: String?
    /// Files cached although upstream listed no sha256 for them (checked against nothing).
    public private(set) var unverifiedFiles = 0

    func unverifiedFile() { unverifiedFiles += 1 }

    func served(_ kind: Kind, cache: CacheResult, project: ProjectName?, file: FileKey? = nil, now: Double) {
        switch cache {
        case .hit: hits[kind, default: 0] += 1
        case .stale: stale += 1
        case .miss: misses[kind, default: 0] += 1
        }
        if let file { fileDownloads[file, default: 0] += 1 }
        if let project { lastUsed[project] = now }
    }

    func upstream(_ kind: Kind, succeeded: Bool, error: String? = nil, now: Double) {
        upstreamFetches[kind, default: 0] += 1
        if succeeded {
            lastUpstreamSuccess = now
            failingSince = nil
        } else {
            upstreamFailures[kind, default: 0] += 1
            lastUpstreamError = error
            if failingSince == nil { failingSince = now }
        }
    }

    /// Hits over all cache lookups (pages and files), or nil before the first.
    public var hitRatio: Double? {
        let h = hits.values.reduce(0, +) + stale, m = misses.values.reduce(0, +)
        return h + m == 0 ? nil : Double(h) / Double(h + m)
    }
}
