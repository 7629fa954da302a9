/// How the cache answered a request: the `X-Cache` header and the access log's `cache=` field.
public enum CacheResult: String, Sendable {
    /// From the cache, fresh (or revalidated with upstream).
    case hit = "HIT"
    /// Fetched from upstream for this request.
    case miss = "MISS"
    /// An expired page served because upstream failed or is failing.
    case stale = "STALE"

    /// The access-log field the proxy adds to every line (`cache=HIT`, or `-`).
    static let logFieldName = "cache"
    var logFields: [(String, String)] { [(CacheResult.logFieldName, rawValue)] }
}
