/// `wheelhouse gc` and `wheelhouse purge`: the size cap's policy applied to a data
/// directory no server is using. The same order as `FileEviction` (least recently used
/// first, by each file's modification time; pinned files kept; a wheel's `.metadata`
/// goes with it), plus temp files left behind. Planned first, so `--dry-run` reports
/// exactly what a real run deletes.
public struct CacheCollector {
    public struct Plan {
        /// Files to delete, least recently used first.
        public var files: [(key: FileKey, size: Int)] = []
        /// Leftover temp files in tmp/ (a crash or a kill -9 left them).
        public var tempFiles: [(name: String, size: Int)] = []
        public var bytesBefore = 0
        public var bytesAfter = 0
        /// Pinned files the size alone would have evicted.
        public var pinnedKept = 0

        public var freedBytes: Int { files.reduce(0) { $0 + $1.size } + tempFiles.reduce(0) { $0 + $1.size } }
    }

    private let store: CacheStore

    public init(store: CacheStore) { self.store = store }

    /// What `gc` deletes: every leftover temp file and, with `maxBytes`, the least recently
    /// used unpinned files until the rest fits.
    public func plan(maxBytes: Int?, pinFiles: [String]) -> Plan {
        var plan = Plan()
        plan.tempFiles = store.leftoverTempFiles()
        let stored = store.scanFiles()
        plan.bytesBefore = stored.values.reduce(0, +)
        plan.bytesAfter = plan.bytesBefore
        guard let maxBytes, plan.bytesBefore > maxBytes else { return plan }
        let pins = Pins(paths: [store.pinsPath] + pinFiles)
        let byAge = stored.keys.map { ($0, store.lastUse(of: $0) ?? 0) }.sorted { $0.1 < $1.1 }.map(\.0)
        var chosen: Set<FileKey> = []
        for key in byAge where plan.bytesAfter > maxBytes && !chosen.contains(key) {
            if pins.isPinned(key) {
                plan.pinnedKept += 1
                continue
            }
            var group = [key]
            if key.metadataSubject == nil, let meta = key.metadataKey, stored[meta] != nil, !chosen.contains(meta) { group.append(meta) }
            for member in group {
                chosen.insert(member)
                plan.files.append((member, stored[member] ?? 0))
                plan.bytesAfter -= stored[member] ?? 0
            }
        }
        return plan
    }

    public func apply(_ plan: Plan) {
        for temp in plan.tempFiles { store.removeTempFile(named: temp.name) }
        for file in plan.files { store.remove(file.key) }
    }

    /// What `purge` deletes for a project: its stored page and every file its page names
    /// or whose filename belongs to it (with their `.metadata`).
    public func purgePlan(_ project: ProjectName) -> (hasPage: Bool, files: [(key: FileKey, size: Int)]) {
        let page = store.loadPage(project)
        let named = Set((page?.files ?? []).compactMap(\.key))
        // A name guess reads `mu-2fa-1.0.tar.gz` as project mu: files the stored pages of
        // such longer names (`mu-2fa`) list are theirs, not this project's.
        let longer = store.storedPageNames().filter { $0.normalized.hasPrefix(project.normalized + "-") }
        let theirs = Set(longer.flatMap { (store.loadPage($0)?.files ?? []).compactMap(\.key) })
        let files = store.scanFiles().filter { key, _ in
            let subject = key.metadataSubject ?? key
            if named.contains(subject) { return true }
            return !theirs.contains(subject) && ProjectName.guess(fromFilename: subject.filename) == project
        }
        let hasPage = page != nil || store.storedPageNames().contains(project)
        return (hasPage, files.map { ($0.key, $0.value) }.sorted { $0.key.filename < $1.key.filename })
    }

    public func purge(_ project: ProjectName, files: [(key: FileKey, size: Int)]) {
        for file in files { store.remove(file.key) }
        store.removePage(project)
    }
}
