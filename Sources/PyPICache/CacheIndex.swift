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
    /// Kept up to date as files come and go, so /+status costs nothing with 100,000 files.
    public private(set) var cachedBytes = 0
    public private(set) var distributionFileCount = 0
    private var knownFiles: [FileKey: KnownFile] = [:]
    /// sha256 of metadata extracted from cached wheels, by wheel key.
    private var metadataHashes: [FileKey: String] = [:]
    private var pages: [ProjectName: ProjectPage] = [:]
    /// Projects whose page is on disk but not yet read.
    private var storedPages: Set<ProjectName> = []

    /// Takes the start-up scan as it is (no copy: with 100,000 files, two dictionaries
    /// at once would double the peak memory).
    public init(cachedFiles: [FileKey: Int], storedPages: [ProjectName]) {
        self.storedPages = Set(storedPages)
        self.cachedFiles = cachedFiles
        for (key, size) in cachedFiles {
            cachedBytes += size
            if key.metadataSubject == nil { distributionFileCount += 1 }
        }
    }
    public var projectNames: [ProjectName] { Array(storedPages.union(pages.keys)).sorted() }
    public var projectCount: Int { storedPages.count }

    public func size(of key: FileKey) -> Int? { cachedFiles[key] }
    public func known(_ key: FileKey) -> KnownFile? { knownFiles[key] }

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
