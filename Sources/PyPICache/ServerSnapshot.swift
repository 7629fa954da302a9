import HTTPServer

/// What the views (`WebPages`, `StatusReport`) show, taken when a request for one arrives:
/// settings, identity, upstream's state and transfer counts as values; the cache index
/// and counters by reference, read only.
struct ServerSnapshot {
    let now: Double
    let uptimeSeconds: Int
    let config: ProxyConfig
    let uuid: String
    let upstream: UpstreamHealth.State
    let activeTransfers: Int
    let index: CacheIndex
    let stats: CacheStats
    /// Rendered page bodies in memory: how many, their bytes, their budget.
    let renderedPages: (count: Int, bytes: Int, budget: Int)
    let serverStats: ServerStats?
    /// The size cap, when one is set.
    let eviction: FileEviction?
    /// A project's stored page, whatever its age.
    let storedPage: (ProjectName) -> ProjectPage?
    /// The shared bucket's state and counters, when one is configured.
    var sharedStore: SharedTier.Report? = nil
    /// Renders made; bodies written to `rendered/` and served from it without reading the page.
    var renders: (renders: Int, keptWritten: Int, keptServed: Int) = (0, 0, 0)

    /// Distribution files in the cache (extracted `.metadata` files not counted).
    var cachedFileCount: Int { index.distributionFileCount }
}
