import HTTPServer

/// PEP 658 metadata for wheels upstream offers none for: one `RangedMetadataFetch` per
/// `.metadata` key, however many clients ask while it runs. Only wheels a page named are
/// read (the caller resolves the key through CacheIndex), so this is no open proxy.
final class RangedMetadata {
    let support: UpstreamRangeSupport
    private let context: RangedMetadataFetch.Context
    private let maxFetches: Int
    private var fetches: [FileKey: RangedMetadataFetch] = [:]

    init(context: RangedMetadataFetch.Context, maxFetches: Int) {
        self.context = context
        self.support = context.support
        self.maxFetches = maxFetches
    }

    var fetchesInProgress: Int { fetches.count }

    /// Gets `key` (a wheel's `.metadata`) into the cache, then calls `then`.
    func fetch(_ key: FileKey, wheelKey: FileKey, wheel: CacheIndex.KnownFile, then: @escaping (RangedMetadataFetch.Outcome) -> Void) {
        if let running = fetches[key] { return running.join(then) }
        guard fetches.count < maxFetches else {
            return then(.failed(status: 503, reason: "\(fetches.count) metadata reads in progress (--max-downloads); retry shortly"))
        }
        let fetch = RangedMetadataFetch(key: key, wheelKey: wheelKey, wheel: wheel, context: context) { [weak self] done in
            self?.fetches.removeValue(forKey: done.key)
        }
        fetches[key] = fetch
        fetch.join(then)
        fetch.start()
    }

    func shutdown() {
        for fetch in Array(fetches.values) {
            if let running = fetch.running { context.curl.cancel(running.transfer) }
            fetch.abandon()
        }
        fetches.removeAll()
    }
}
