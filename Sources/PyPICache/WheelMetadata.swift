import Reactor
import Support

/// PEP 658 core metadata the cache can serve without upstream: a `.metadata` file fetched
/// earlier, or else the wheel's own `*.dist-info/METADATA`, extracted (ZipReader) and stored
/// beside the wheel as soon as the wheel is cached. Knows each wheel's metadata hash.
final class WheelMetadata {
    private let index: CacheIndex
    private let store: CacheStorage
    private let logger: Logger
    /// Which upstream hosts honour Range: metadata upstream offers none for is advertised
    /// (and read by ranges, RangedMetadataFetch) unless the wheel's host ignores it.
    let rangeSupport = UpstreamRangeSupport()

    init(index: CacheIndex, store: CacheStorage, logger: Logger) {
        self.index = index
        self.store = store
        self.logger = logger
    }

    /// The sha256 of the metadata wheelhouse can serve for a wheel without upstream:
    /// a cached `.metadata` file, or else the wheel's METADATA, extracted now if the
    /// wheel is cached. nil when neither is there. Hashed once, then remembered.
    func localHash(for wheel: FileKey) -> String? {
        if let sha = index.metadataHash(for: wheel) { return sha }
        guard let metaKey = wheel.metadataKey else { return nil }
        if index.size(of: metaKey) != nil, let (fd, size) = store.openIfPresent(metaKey), let bytes = try? Files.read(fd, count: size, at: 0) {
            let sha = SHA256.hex(bytes)
            index.setMetadataHash(sha, for: wheel)
            return sha
        }
        return extract(wheel, as: metaKey)
    }

    /// Extracts a cached wheel's METADATA and stores it as `metaKey`; its sha256, or nil.
    private func extract(_ wheel: FileKey, as metaKey: FileKey) -> String? {
        guard wheel.filename.hasSuffix(".whl"), index.size(of: wheel) != nil, let (fd, size) = store.openIfPresent(wheel) else { return nil }
        do {
            let metadata = try ZipReader(size: size) { offset, count in try Files.read(fd, count: count, at: offset) }.wheelMetadata()
            try store.write(metadata, as: metaKey)
            index.addCached(metaKey, size: metadata.count)
            let sha = SHA256.hex(metadata)
            index.setMetadataHash(sha, for: wheel)
            return sha
        } catch {
            logger.warning("metadata_extraction_failed", ["file": wheel.filename, "error": "\(error)"])
            return nil
        }
    }

    /// The wheel was just cached (its sha256 verified): metadata read earlier off upstream by
    /// ranges was not, so it is extracted again from the verified wheel; the wheel's copy wins.
    func recheckRangedCopy(of wheel: FileKey) {
        guard let earlier = index.metadataHash(for: wheel), let metaKey = wheel.metadataKey, index.size(of: metaKey) != nil,
              let extracted = extract(wheel, as: metaKey), extracted != earlier else { return }
        logger.warning("metadata_mismatch", ["file": wheel.filename, "ranged_sha256": earlier, "extracted_sha256": extracted,
                                             "action": "the verified wheel's METADATA replaces the copy read by ranges"])
    }

    /// The metadata hash a page advertises for a wheel. Upstream's while upstream can be
    /// asked; else (or when upstream offers none or no hash) the hash of what the cache
    /// holds. Never advertises what cannot be served.
    func advertised(for key: FileKey, upstream advertised: String?, reachable: Bool) -> String? {
        if reachable, let advertised, !advertised.isEmpty { return advertised }
        let local = (index.size(of: key) != nil || key.metadataKey.map { index.size(of: $0) != nil } == true)
            ? localHash(for: key) : nil
        if let local { return local }
        // Upstream offers none: wheelhouse reads it off the wheel by ranges when asked (PEP 714's
        // `true`: no hash before it is read), unless the wheel's host is known to ignore Range.
        if reachable, advertised == nil, let known = index.known(key), known.file.isWheel,
           rangeSupport.known(forURL: known.file.url) != .ignored { return "" }
        return reachable ? advertised : nil
    }
}
