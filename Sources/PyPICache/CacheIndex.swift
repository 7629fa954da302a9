/// What wheelhouse holds and knows, in memory, within bounds:
/// - cached files (key -> size), rebuilt from disk at start-up;
/// - project pages: on disk, with the most recently used ones kept parsed in memory
///   (a byte budget, least recently used first out);
/// - known files (a `+f` key upstream named, so it may be fetched: no open proxy). A key
///   is resolved through the project its filename names (`ProjectName.guess`) and that
///   project's page, from memory or disk; only files whose project the name does not
///   tell are kept in a small map. Only pages seen since start-up (fetched, or read
///   when first asked for) make their files known, as when every page was in memory.
public final class CacheIndex {
    public struct KnownFile {
        public let project: ProjectName
        public let file: DistributionFile
    }

    public private(set) var cachedFiles: [FileKey: Int] = [:]
    /// Kept up to date as files come and go, so /+status costs nothing with 100,000 files.
    public private(set) var cachedBytes = 0
    public private(set) var distributionFileCount = 0
    /// Files listed on a page whose project the filename does not tell (no guess, or
    /// another project): a handful per odd page, never one entry per file.
    private var unguessableFiles: [FileKey: ProjectName] = [:]
    /// Projects whose page was fetched or read since start-up (their files are known),
    /// with when upstream last confirmed it: the page policy needs only that, so a page
    /// served from its rendered body is not read again.
    private var pagesSeen: [ProjectName: Double] = [:]
    /// sha256 of metadata extracted from cached wheels, by wheel key.
    private var metadataHashes: [FileKey: String] = [:]
    /// Parsed pages most recently used, bounded by their estimated size in memory.
    private var pages: ByteBudgetCache<ProjectName, ProjectPage>
    /// Projects whose page is stored (on disk, whether in memory or not).
    private var storedPages: Set<ProjectName> = []
    /// Reads a stored page (the store's `loadPage`).
    private let loadPage: (ProjectName) -> ProjectPage?

    /// Takes the start-up scan as it is (no copy: with 100,000 files, two dictionaries
    /// at once would double the peak memory). `pageBudgetBytes` bounds the parsed pages
    /// kept in memory; `loadPage` reads one from storage when it is not.
    public init(cachedFiles: [FileKey: Int], storedPages: [ProjectName], pageBudgetBytes: Int = 8 << 20,
                loadPage: @escaping (ProjectName) -> ProjectPage? = { _ in nil }) {
        self.storedPages = Set(storedPages)
        self.loadPage = loadPage
        pages = ByteBudgetCache(budgetBytes: pageBudgetBytes)
        self.cachedFiles = cachedFiles
        for (key, size) in cachedFiles {
            cachedBytes += size
            if key.metadataSubject == nil { distributionFileCount += 1 }
        }
    }
    public var projectNames: [ProjectName] { storedPages.sorted() }
    public var projectCount: Int { storedPages.count }
    /// Parsed pages in memory: how many, and their estimated bytes against the budget.
    public var pagesInMemory: (count: Int, bytes: Int, budget: Int) { (pages.count, pages.totalBytes, pages.budgetBytes) }

    public func size(of key: FileKey) -> Int? { cachedFiles[key] }

    /// The page that lists `key` (seen since start-up) and the entry as upstream gave it.
    /// May read the page from disk.
    public func known(_ key: FileKey) -> KnownFile? {
        guard let project = unguessableFiles[key] ?? ProjectName.guess(fromFilename: key.filename),
              pagesSeen[project] != nil, let page = page(project, load: loadPage),
              let file = page.files.first(where: { $0.filename == key.filename && $0.key == key })
        else { return nil }
        return KnownFile(project: project, file: file)
    }

    /// The project a file belongs to, without reading any page: the page that listed
    /// it when its name does not tell, else the name's guess.
    public func project(of key: FileKey) -> ProjectName? {
        unguessableFiles[key] ?? ProjectName.guess(fromFilename: key.filename)
    }

    public func addCached(_ key: FileKey, size: Int) {
        if let old = cachedFiles.updateValue(size, forKey: key) {
            cachedBytes -= old
        } else if key.metadataSubject == nil {
            distributionFileCount += 1
        }
        cachedBytes += size
    }

    public func removeCached(_ key: FileKey) {
        guard let old = cachedFiles.removeValue(forKey: key) else { return }
        cachedBytes -= old
        if key.metadataSubject == nil { distributionFileCount -= 1 }
    }

    public func metadataHash(for wheel: FileKey) -> String? { metadataHashes[wheel] }
    public func setMetadataHash(_ sha: String, for wheel: FileKey) { metadataHashes[wheel] = sha }
    public func removeMetadataHash(for wheel: FileKey) { metadataHashes.removeValue(forKey: wheel) }

    /// When upstream last confirmed the stored page (reading it only the first time); nil: not stored.
    public func fetchedAt(_ name: ProjectName) -> Double? {
        pagesSeen[name] ?? page(name, load: loadPage)?.fetchedAt
    }

    /// Whether a page of the project is stored (read or not), without reading it.
    public func hasStoredPage(_ name: ProjectName) -> Bool { storedPages.contains(name) }
    /// Whether the page is stored but not read since start-up: asking its date would read it.
    public func isStoredUnread(_ name: ProjectName) -> Bool { pagesSeen[name] == nil && storedPages.contains(name) }

    /// The page from memory, else read from disk with `load` (then kept while the budget allows).
    public func page(_ name: ProjectName, load: (ProjectName) -> ProjectPage?) -> ProjectPage? {
        if let page = pages.get(name) { return page }
        guard storedPages.contains(name), let page = load(name) else { return nil }
        remember(page, as: name)
        return page
    }

    /// A page fetched or read: its files become known, and it is kept parsed while the budget allows.
    public func remember(_ page: ProjectPage, as name: ProjectName) {
        pages.put(name, page, cost: page.estimatedMemory)
        storedPages.insert(name)
        pagesSeen[name] = page.fetchedAt
        for file in page.files where !CacheIndex.filename(file.filename, guessesAs: name) {
            if let key = file.key { unguessableFiles[key] = name }
        }
    }

    /// `ProjectName.guess(fromFilename:) == name`, on bytes and without allocating (it runs
    /// for every file of every page read: 100,000 for the biggest). Conservative: any
    /// non-ASCII byte answers false (the file then just goes to the small map).
    static func filename(_ filename: String, guessesAs name: ProjectName) -> Bool {
        let f = Array(filename.utf8)
        guard f.allSatisfy({ $0 < 0x80 }) else { return false }
        var end: Int?
        if filename.hasSuffix(".whl") {
            end = f.firstIndex(of: UInt8(ascii: "-"))
        } else {
            end = f.indices.dropLast().first { f[$0] == UInt8(ascii: "-") && f[$0 + 1] >= 48 && f[$0 + 1] <= 57 }
        }
        guard let end, end > 0, end <= 200 else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
        func separator(_ b: UInt8) -> Bool { b == 45 || b == 46 || b == 95 }
        guard alnum(f[0]), alnum(f[end - 1]) else { return false }
        var expected = name.normalized.utf8.makeIterator()
        var inSeparator = false
        for b in f[..<end] {
            if separator(b) {
                if !inSeparator, expected.next() != UInt8(ascii: "-") { return false }
                inSeparator = true
            } else {
                guard alnum(b), expected.next() == (b >= 65 && b <= 90 ? b + 32 : b) else { return false }
                inSeparator = false
            }
        }
        return expected.next() == nil
    }
}

extension ProjectPage {
    /// About what the parsed page takes in memory: each file's inline fields, plus a
    /// heap object for every string too long to be stored inline (over 15 UTF-8 bytes).
    var estimatedMemory: Int {
        func heap(_ s: String?) -> Int {
            guard let n = s?.utf8.count, n > 15 else { return 0 }
            return 32 + (n + 15) & ~15
        }
        var total = 256 + heap(etag) + heap(lastModified) + (versions?.count ?? 0) * 16
        for f in files {
            total += 160 + heap(f.filename) + heap(f.url) + heap(f.sha256) + heap(f.requiresPython) + heap(f.yanked)
                + heap(f.uploadTime) + heap(f.coreMetadata)
        }
        return total
    }
}
