/// Rendered page bodies with their ETags, kept so that serving a cached page
/// costs a dictionary lookup rather than a render (a 3,000-file page takes
/// milliseconds to render, and gzip more). A project's renderings are dropped
/// when its page or its cached files change; the whole set is bounded by bytes
/// and simply emptied when full (it refills from the pages). A rendering that a
/// `--min-age` cooldown will change by itself (a hidden file coming of age) carries
/// that moment and is rendered anew from then on.
final class RenderedPages {
    struct Key: Hashable {
        let project: ProjectName
        let format: PageFormat
        let alias: Bool
        let gzip: Bool
    }

    struct Rendered {
        let body: [UInt8]
        let etag: String
        /// When the page would list something else with nothing stored changing; nil: never.
        let validUntil: Double?
    }

    private var entries: [Key: Rendered] = [:]
    private var totalBytes = 0
    private let budgetBytes: Int

    init(budgetBytes: Int = 64 << 20) {
        self.budgetBytes = budgetBytes
    }

    func rendered(_ key: Key, now: Double, render: () -> (body: [UInt8], validUntil: Double?)) -> Rendered {
        if let hit = entries[key], hit.validUntil.map({ now < $0 }) ?? true { return hit }
        let plain = key.gzip
            ? rendered(Key(project: key.project, format: key.format, alias: key.alias, gzip: false), now: now, render: render) : nil
        let made = plain.map { (body: Gzip.compress($0.body) ?? $0.body, validUntil: $0.validUntil) } ?? render()
        let body = made.body
        // Strong ETags differ per encoding (RFC 9110 8.8.3); the hash prefix names the bytes.
        let etag = "\"" + String(SHA256.hex(body).prefix(20)) + (key.gzip ? "-gz" : "") + "\""
        let result = Rendered(body: body, etag: etag, validUntil: made.validUntil)
        if let old = entries.removeValue(forKey: key) { totalBytes -= old.body.count }
        if totalBytes + body.count > budgetBytes {
            entries.removeAll()
            totalBytes = 0
        }
        entries[key] = result
        totalBytes += body.count
        return result
    }

    /// Every page at once: what pages list depends on whether upstream is reachable.
    func invalidateAll() {
        entries.removeAll()
        totalBytes = 0
    }

    func invalidate(_ project: ProjectName) {
        for format in [PageFormat.json, .html, .legacyHTML] {
            for alias in [false, true] {
                for gzip in [false, true] {
                    if let r = entries.removeValue(forKey: Key(project: project, format: format, alias: alias, gzip: gzip)) {
                        totalBytes -= r.body.count
                    }
                }
            }
        }
    }
}
