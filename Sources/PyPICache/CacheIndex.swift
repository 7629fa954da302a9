/// What wheelhouse holds and knows, in memory:
/// - cached files (key -> size), rebuilt from disk at start-up;
/// - known files (key -> where upstream has it), from every page seen, so a
///   `+f` request can be fetched only if an upstream page named it;
/// - project pages, loaded from disk on first use.
public final class CacheIndex {
    public struct KnownFile {
        public let project: ProjectName
        public let file: DistributionFile
    }

    public private(set) var cachedFiles: [FileKey: Int] = [:]
    private var knownFiles: [FileKey: KnownFile] = [:]
    /// sha256 of metadata extracted from cached wheels, by wheel key.
    private var metadataHashes: [FileKey: String] = [:]
    private var pages: [ProjectName: ProjectPage] = [:]
    /// Projects whose page is on disk but not yet read.
    private var storedPages: Set<ProjectName> = []

    public init(cachedFiles: [FileKey: Int], storedPages: [ProjectName]) {
        self.cachedFiles = cachedFiles
        self.storedPages = Set(storedPages)
    }

    public var cachedBytes: Int { cachedFiles.values.reduce(0, +) }
    public var projectNames: [ProjectName] { Array(storedPages.union(pages.keys)).sorted() }

    public func size(of key: FileKey) -> Int? { cachedFiles[key] }
    public func known(_ key: FileKey) -> KnownFile? { knownFiles[key] }

    public func addCached(_ key: FileKey, size: Int) { cachedFiles[key] = size }
    public func removeCached(_ key: FileKey) { cachedFiles.removeValue(forKey: key) }

    public func metadataHash(for wheel: FileKey) -> String? { metadataHashes[wheel] }
    public func setMetadataHash(_ sha: String, for wheel: FileKey) { metadataHashes[wheel] = sha }

    /// The page in memory, loading it from disk with `load` on first use.
    public func page(_ name: ProjectName, load: (ProjectName) -> ProjectPage?) -> ProjectPage? {
        if let page = pages[name] { return page }
        guard storedPages.contains(name), let page = load(name) else { return nil }
        remember(page, as: name)
        return page
    }

    public func remember(_ page: ProjectPage, as name: ProjectName) {
        pages[name] = page
        storedPages.insert(name)
        for file in page.files {
            if let key = file.key { knownFiles[key] = KnownFile(project: name, file: file) }
        }
    }
}
