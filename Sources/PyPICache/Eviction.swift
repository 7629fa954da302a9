import Reactor
import Support

/// `--max-cache-size`: keeps the stored files under a cap by deleting the least
/// recently used ones; an evicted file comes back from upstream on its next request.
///
/// - Recency lives in memory (`RecencyList`, O(1) per hit). It survives a restart through
///   each file's modification time, written at most once an hour per file (`recordEvery`):
///   no per-hit disk write, no recency file to rewrite, and `wheelhouse gc` reads the same.
/// - Never evicted: pinned files (`Pins`); files still downloading (they live in `tmp/`,
///   not in the index, until verified); files being served. "Being served" is known from
///   the descriptor: every response sending a cached file holds its `FileDescriptor`
///   (followers of a download hold the temp file's, which becomes the cached file), and
///   each use records it weakly; once the open-file cache lets go of it, a live
///   descriptor means a response is still sending.
/// - A wheel's extracted or fetched `.metadata` goes with the wheel: offline, pages list
///   only cached wheels, so their metadata alone serves no install; online it comes
///   back from upstream (or from the wheel, once cached again). A `.metadata` fetched
///   without its wheel (a resolver reading it) ages on its own.
/// - Work is bounded: a pass visits at most `visitsPerPass` keys and deletes at most
///   `filesPerPass` files, then yields to the loop; the next pass runs next iteration.
final class FileEviction {
    struct Use {
        /// The descriptor the last response sent from; nil once nothing holds it.
        weak var holder: FileDescriptor?
        /// The last use written to disk (the file's modification time).
        var recordedAt: Double
    }

    let capBytes: Int
    static let recordEvery: Double = 3600
    static let filesPerPass = 64
    static let visitsPerPass = 1024
    /// When nothing could be evicted (all pinned or in use), look again this much later.
    static let retryMilliseconds = 2000

    private let index: CacheIndex
    private let store: CacheStorage
    let pins: Pins
    private let loop: EventLoop
    private let clock: WallClock
    private let logger: Logger
    /// Told of each evicted file (pages re-render: offline they list only cached files).
    var onEvicted: ((FileKey) -> Void)?

    private var recency = RecencyList<FileKey, Use>()
    private(set) var evictedFiles = 0
    private(set) var evictedBytes = 0
    private var passScheduled = false
    private var warnedStuck = false
    /// Files passed over (pinned, busy) since the last eviction: once every file was, wait.
    private var visitedWithoutEviction = 0

    init(capBytes: Int, index: CacheIndex, store: CacheStorage, pins: Pins, loop: EventLoop, clock: WallClock, logger: Logger) {
        self.capBytes = capBytes
        self.index = index
        self.store = store
        self.pins = pins
        self.loop = loop
        self.clock = clock
        self.logger = logger
        // One stat per cached file, once, at start-up: the order of last use as recorded on disk.
        let stored = index.cachedFiles.keys.map { ($0, store.lastUse(of: $0) ?? 0) }.sorted { $0.1 < $1.1 }
        for (key, at) in stored { recency.touch(key, value: Use(holder: nil, recordedAt: at)) }
        scheduleIfOverCap()
    }

    /// A cached file is being sent from `holder` (the hit path: keep it cheap).
    func used(_ key: FileKey, holder: FileDescriptor) {
        let now = clock.now
        recency.touch(key) { old in
            var recordedAt = old?.recordedAt ?? now
            if now - recordedAt >= FileEviction.recordEvery {
                store.markUsed(key, at: now)
                recordedAt = now
            }
            return Use(holder: holder, recordedAt: recordedAt)
        }
    }

    /// A file entered the cache; `holder` is the descriptor its followers send from.
    func added(_ key: FileKey, holder: FileDescriptor?) {
        recency.touch(key, value: Use(holder: holder, recordedAt: clock.now))
        scheduleIfOverCap()
    }

    private func scheduleIfOverCap(afterMilliseconds delay: Int = 0) {
        guard !passScheduled, index.cachedBytes > capBytes else { return }
        passScheduled = true
        loop.schedule(afterMilliseconds: delay) { [weak self] in self?.pass() }
    }

    /// One bounded pass from the least recently used end.
    private func pass() {
        passScheduled = false
        pins.reloadIfChanged()
        var excess = index.cachedBytes - capBytes
        guard excess > 0 else { return }
        var chosen: [FileKey] = [], kept: [FileKey] = [], gone: [FileKey] = []
        var visited = 0, planned = 0
        recency.walkOldestFirst { key, use in
            visited += 1
            if index.size(of: key) == nil {
                gone.append(key)  // removed behind our back, or with its wheel
            } else if pins.isPinned(key) {
                kept.append(key)
            } else {
                chosen.append(key)
                planned += index.size(of: key) ?? 0
            }
            return visited < FileEviction.visitsPerPass && chosen.count < FileEviction.filesPerPass && planned < excess
        }
        for key in gone { recency.remove(key) }
        var evicted = 0
        for key in chosen where excess > 0 && index.size(of: key) != nil {  // (a metadata file may have gone with its wheel)
            if inUse(key) {
                kept.append(key)
                continue
            }
            excess -= evict(key)
            evicted += 1
        }
        // Pinned and busy files go to the recent end, so the next pass does not walk them again.
        for key in kept {
            if let use = recency.value(of: key) { recency.touch(key, value: use) }
        }
        visitedWithoutEviction = evicted > 0 ? 0 : visitedWithoutEviction + visited
        if excess <= 0 {
            warnedStuck = false
        } else if evicted > 0 || !gone.isEmpty || visitedWithoutEviction < recency.count {
            scheduleIfOverCap()  // progress, or files not looked at yet (those passed over went to the recent end)
        } else {
            visitedWithoutEviction = 0
            if !warnedStuck {
                warnedStuck = true
                logger.warning("cache_over_cap", ["bytes": String(index.cachedBytes), "cap": String(capBytes),
                                                  "reason": "the rest is pinned or being served"])
            }
            scheduleIfOverCap(afterMilliseconds: FileEviction.retryMilliseconds)
        }
    }

    /// True when a response still sends from the file (the open-file cache let go first).
    private func inUse(_ key: FileKey) -> Bool {
        guard recency.value(of: key)?.holder != nil else { return false }
        store.releaseOpen(key)
        return recency.value(of: key)?.holder != nil
    }

    /// Deletes the file (and a wheel's metadata); the bytes freed.
    private func evict(_ key: FileKey) -> Int {
        var freed = drop(key)
        if key.metadataSubject == nil, let meta = key.metadataKey, index.size(of: meta) != nil, !inUse(meta) {
            freed += drop(meta)
        }
        index.removeMetadataHash(for: key.metadataSubject ?? key)
        logger.info("cache_evicted", ["file": key.filename, "bytes": String(freed), "cached_bytes": String(index.cachedBytes),
                                      "cap": String(capBytes)])
        onEvicted?(key)
        return freed
    }

    private func drop(_ key: FileKey) -> Int {
        let size = index.size(of: key) ?? 0
        store.remove(key)
        index.removeCached(key)
        recency.remove(key)
        evictedFiles += 1
        evictedBytes += size
        return size
    }
}
