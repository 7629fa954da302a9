import Reactor
import Support
import Upstream

/// Which upstream hosts honour Range, learnt from their first ranged answer (206 or 200)
/// and kept for the life of the process. Pages advertise metadata for wheels upstream
/// offers none for only while the wheel's host is not known to ignore ranges.
final class UpstreamRangeSupport {
    enum Known { case unknown, honoured, ignored }
    private var byHost: [String: Known] = [:]

    /// Hosts known to ignore Range (pages advertise no metadata read by ranges from them).
    var hostsIgnoringRanges: [String] { byHost.compactMap { $0.value == .ignored ? $0.key : nil } }

    func known(forURL url: String) -> Known {
        ConnectPolicy.host(of: url).flatMap { byHost[$0] } ?? .unknown
    }

    /// Records an answer; true when this changed what is known.
    @discardableResult
    func learn(url: String, honoured: Bool) -> Bool {
        guard let host = ConnectPolicy.host(of: url) else { return false }
        let now: Known = honoured ? .honoured : .ignored
        guard byHost[host] != now else { return false }
        byHost[host] = now
        return true
    }
}

/// Reads one wheel's METADATA off upstream without downloading the wheel: ranged GETs of
/// its tail (end records, central directory), then of the METADATA member (`RemoteZip`
/// decides what is missing), stored as the wheel's `.metadata`. Shared by every client
/// that asks while it runs. When upstream ignores Range, or the archive needs more bytes
/// than `maxBytes`, the whole wheel is fetched through FileCache's shared download and
/// the METADATA extracted from it (WheelMetadata), so an advertised `.metadata` is served.
final class RangedMetadataFetch {
    enum Outcome {
        /// The `.metadata` file is in the cache now.
        case stored
        case failed(status: Int, reason: String)
    }

    /// What a fetch needs from the rest of the cache; one per FileCache.
    struct Context {
        let curl: CurlMulti
        let loop: EventLoop
        let logger: Logger
        let index: CacheIndex
        let store: CacheStorage
        let metadata: WheelMetadata
        let pages: PageCache
        let health: UpstreamHealth
        let options: Transfer.Options
        let support: UpstreamRangeSupport
        /// Fetches the whole file through the shared download; calls back with nil once cached, else why not.
        let fetchWhole: (FileKey, DistributionFile, @escaping (String?) -> Void) -> Void
    }

    /// The first read: enough for the end records and the central directory of most wheels.
    static let initialTail = 16 << 10
    /// Bounds per wheel: bytes held in memory and round trips.
    static let maxBytes = 16 << 20
    static let maxRequests = 6

    let key: FileKey
    let wheelKey: FileKey
    let wheel: CacheIndex.KnownFile
    private let context: Context
    private var waiters: [(Outcome) -> Void] = []
    private var zip: RemoteZip?
    private var requests = 0
    private var bytesFetched = 0
    private var isFinished = false
    private(set) var running: RangeRequest?
    private let finished: (RangedMetadataFetch) -> Void

    init(key: FileKey, wheelKey: FileKey, wheel: CacheIndex.KnownFile, context: Context, finished: @escaping (RangedMetadataFetch) -> Void) {
        self.key = key
        self.wheelKey = wheelKey
        self.wheel = wheel
        self.context = context
        self.finished = finished
    }

    func join(_ waiter: @escaping (Outcome) -> Void) { waiters.append(waiter) }

    func start() {
        if context.support.known(forURL: wheel.file.url) == .ignored { return fetchWholeWheel(because: "upstream ignores Range") }
        request(.suffix(RangedMetadataFetch.initialTail))
    }

    /// Shutdown: the running request is cancelled by the caller; waiters get an answer.
    func abandon() {
        running = nil
        finish(.failed(status: 503, reason: "server shutting down"))
    }

    private func request(_ wanted: RangeRequest.Wanted) {
        requests += 1
        let ranged = RangeRequest(url: wheel.file.url, wanted: wanted, options: context.options) { [weak self] outcome in
            // Off libcurl's completion path: the next request starts from the loop.
            self?.context.loop.execute { self?.received(outcome) }
        }
        running = ranged
        context.curl.add(ranged.transfer)
    }

    private func received(_ outcome: RangeRequest.Outcome) {
        guard running != nil else { return }  // abandoned meanwhile
        running = nil
        switch outcome {
        case .ignored:
            if context.support.learn(url: wheel.file.url, honoured: false) {
                context.logger.warning("upstream_ignores_range", ["host": ConnectPolicy.host(of: wheel.file.url) ?? "?",
                                                                   "action": "metadata from whole wheels; pages stop advertising it"])
                context.pages.invalidateAll()
            }
            fetchWholeWheel(because: "upstream ignores Range")
        case .failed(let status, let reason, let unavailable):
            if unavailable { context.health.failed(reason, project: wheel.project) }
            finish(.failed(status: status, reason: "\(wheel.file.filename): \(reason)"))
        case .partial(let offset, let bytes, let total):
            context.support.learn(url: wheel.file.url, honoured: true)
            if let declared = wheel.file.size, declared != total {
                return finish(.failed(status: 502, reason: "upstream's \(wheel.file.filename) is \(total) bytes; its page said \(declared)"))
            }
            if zip == nil { zip = RemoteZip(size: total) }
            guard zip?.size == total else {
                return finish(.failed(status: 502, reason: "upstream's \(wheel.file.filename) changed size between ranged reads"))
            }
            bytesFetched += bytes.count
            zip?.add(bytes, at: offset)
            proceed()
        }
    }

    private func proceed() {
        guard let zip else { return }
        do {
            switch try zip.nextStep() {
            case .fetch(let first, let last):
                guard requests < RangedMetadataFetch.maxRequests, zip.heldBytes + (last - first + 1) <= RangedMetadataFetch.maxBytes else {
                    return fetchWholeWheel(because: "METADATA not found within \(requests) ranged reads and \(RangedMetadataFetch.maxBytes) bytes")
                }
                request(.span(first, last))
            case .metadata(let bytes):
                store(bytes)
            }
        } catch {
            finish(.failed(status: 502, reason: "cannot read METADATA of \(wheel.file.filename) by ranges: \(error)"))
        }
    }

    private func store(_ bytes: [UInt8]) {
        do {
            try context.store.write(bytes, as: key)
        } catch {
            context.logger.error("cache_write_failed", ["file": key.filename, "error": "\(error)"])
            return finish(.failed(status: 503, reason: "cannot store \(key.filename) now: \(error)"))
        }
        let sha = SHA256.hex(bytes)
        context.index.addCached(key, size: bytes.count)
        context.index.setMetadataHash(sha, for: wheelKey)
        context.pages.invalidate(wheel.project)  // pages advertise its hash from now on
        context.logger.info("upstream_metadata_ranged", ["file": key.filename, "requests": String(requests),
                                                          "bytes": String(bytesFetched), "wheel_bytes": String(zip?.size ?? 0),
                                                          "sha256": sha])
        finish(.stored)
    }

    private func fetchWholeWheel(because reason: String) {
        context.logger.info("metadata_from_whole_wheel", ["file": wheelKey.filename, "reason": reason])
        context.fetchWhole(wheelKey, wheel.file) { [self] failure in
            if let failure { return finish(.failed(status: 502, reason: "\(wheelKey.filename): \(failure)")) }
            guard context.metadata.localHash(for: wheelKey) != nil, context.index.size(of: key) != nil else {
                return finish(.failed(status: 502, reason: "no METADATA could be read from \(wheelKey.filename)"))
            }
            finish(.stored)
        }
    }

    private func finish(_ outcome: Outcome) {
        guard !isFinished else { return }
        isFinished = true
        let ready = waiters
        waiters.removeAll()
        finished(self)
        for waiter in ready { waiter(outcome) }
    }
}
