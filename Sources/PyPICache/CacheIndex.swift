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
    /// Projects whose page was fetched or read since start-up: their files are known.
    private var pagesSeen: Set<ProjectName> = []
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
              pagesSeen.contains(project), let page = page(project, load: loadPage),
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

    /// The page in memory, loading it from disk with `load` on first use.
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
        pagesSeen.insert(name)
        for file in page.files where ProjectName.guess(fromFilename: file.filename) != name {
            if let key = file.key { unguessableFiles[key] = name }
        }
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
