/// Rendered page bodies, kept so that serving a cached page costs a dictionary
/// lookup rather than a render (a 3,000-file page takes milliseconds to render).
/// A project's renderings are dropped when its page changes; the whole set is
/// bounded by bytes and simply emptied when full (it refills from the pages).
final class RenderedPages {
    struct Key: Hashable {
        let project: ProjectName
        let format: PageFormat
        let alias: Bool
    }

    private var entries: [Key: [UInt8]] = [:]
    private var totalBytes = 0
    private let budgetBytes: Int

    init(budgetBytes: Int = 64 << 20) {
        self.budgetBytes = budgetBytes
    }

    func body(_ key: Key, render: () -> [UInt8]) -> [UInt8] {
        if let body = entries[key] { return body }
        let body = render()
        if totalBytes + body.count > budgetBytes {
            entries.removeAll()
            totalBytes = 0
        }
        entries[key] = body
        totalBytes += body.count
        return body
    }

    func invalidate(_ project: ProjectName) {
        for format in [PageFormat.json, .html, .legacyHTML] {
            for alias in [false, true] {
                if let body = entries.removeValue(forKey: Key(project: project, format: format, alias: alias)) {
                    totalBytes -= body.count
                }
            }
        }
    }
}
