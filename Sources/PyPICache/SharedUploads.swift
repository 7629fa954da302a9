import ObjectStore
import Reactor
import Support

/// Uploads of verified files to the shared bucket, after they were committed locally:
/// streamed from the cache file (never read whole), written once (`If-None-Match: *`: a
/// 412 means another node was first with the same bytes, which is success), a few at a time.
///
/// Crash-safe: before an upload starts, an empty marker `<sha256>-<filename>` is created in
/// the journal directory; it is removed only when the bucket has the object. Markers left by
/// a crash, or by uploads that waited while the bucket was down, are uploaded when the node
/// starts or the bucket comes back. A single PUT is atomic in S3: a node killed mid-upload
/// leaves no partial object, only its marker.
final class SharedUploads {
    struct Pending: Hashable {
        let key: FileKey
        let sha256: String
    }

    weak var tier: SharedTier?
    private let client: S3Client
    private let journal: String
    private let logger: Logger
    private let store: CacheStorage
    private var queue: [Pending] = []
    private var queued: Set<Pending> = []
    private var running = 0
    private(set) var uploaded = 0
    private(set) var alreadyShared = 0
    private(set) var dropped = 0

    static let concurrentUploads = 4

    init(client: S3Client, journalDirectory: String, logger: Logger, store: CacheStorage) throws {
        self.client = client
        journal = journalDirectory
        self.logger = logger
        self.store = store
        try Files.makeDirectories(journal)
        for entry in Files.list(journal, withSizes: false) {
            guard let pending = SharedUploads.parse(entry.name) else {
                Files.remove("\(journal)/\(entry.name)")
                continue
            }
            enqueue(pending)
        }
    }

    /// Uploads waiting or running.
    var pendingCount: Int { queue.count + running }

    /// A verified file was just committed locally: share it.
    func upload(_ key: FileKey, sha256: String) {
        let pending = Pending(key: key, sha256: sha256)
        let marker = "\(sha256)-\(key.filename)"
        // Names past NAME_MAX cannot be journaled: uploaded all the same, not retried after a crash.
        if marker.utf8.count <= 255 { _ = try? Files.createNew("\(journal)/\(marker)") }
        enqueue(pending)
        resume()
    }

    /// Starts waiting uploads while the bucket is up.
    func resume() {
        while running < SharedUploads.concurrentUploads, tier?.isUp ?? false, !queue.isEmpty {
            start(queue.removeFirst())
        }
    }

    private func enqueue(_ pending: Pending) {
        guard queued.insert(pending).inserted else { return }
        queue.append(pending)
    }

    private func start(_ pending: Pending) {
        guard case .opened(let fd, let size) = store.open(pending.key) else {
            // No longer in the local cache (removed by hand or by eviction): nothing to share.
            finish(pending)
            dropped += 1
            return logger.warning("shared_upload_dropped", ["file": pending.key.filename, "reason": "not in the local cache any more"])
        }
        running += 1
        let objectKey = "files/\(pending.sha256)/\(pending.key.filename)"
        client.put(objectKey, file: fd, length: size, sha256: pending.sha256, createOnly: true) { [weak self] outcome in
            guard let self else { return }
            running -= 1
            switch outcome {
            case .ok:
                uploaded += 1
                finish(pending)
                logger.info("shared_upload_done", ["file": pending.key.filename, "bytes": String(size)])
            case .alreadyExists:
                alreadyShared += 1
                finish(pending)
                logger.info("shared_upload_skipped", ["file": pending.key.filename, "reason": "already in the bucket"])
            case .notFound:
                // The bucket itself is gone: keep the marker, wait for it to come back.
                queue.append(pending)
                tier?.storeFailed("bucket not found on upload")
            case .refused, .unreachable:
                if outcome.storeFailing {
                    queue.append(pending)  // retried when the bucket answers again
                    tier?.storeFailed(outcome.summary)
                } else {
                    finish(pending)
                    dropped += 1
                    logger.error("shared_upload_dropped", ["file": pending.key.filename, "error": outcome.summary])
                }
            }
            resume()
        }
    }

    private func finish(_ pending: Pending) {
        queued.remove(pending)
        Files.remove("\(journal)/\(pending.sha256)-\(pending.key.filename)")
    }

    /// `<64 hex>-<filename>` back into what to upload.
    static func parse(_ marker: String) -> Pending? {
        let bytes = Array(marker.utf8)
        guard bytes.count > 65, bytes[64] == UInt8(ascii: "-") else { return nil }
        let sha = String(decoding: bytes[0..<64], as: UTF8.self)
        guard FileKey.isHex(sha) else { return nil }
        let filename = String(decoding: bytes[65...], as: UTF8.self)
        guard let key = FileKey(sha256: sha, filename: filename) else { return nil }
        return Pending(key: key, sha256: sha)
    }
}
