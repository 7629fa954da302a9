import FoundationEssentials
import Glibc
import Reactor

/// The cache on local disk, the first `CacheStorage`. Layout under the data directory:
///
///     files/<sha256[0:3]>/<sha256[3:16]>/<filename>   verified distribution files
///     pages/<project>.page                            project pages (ProjectPage, PageCodec's form;
///                                                     <project>.json: the JSON form of earlier versions,
///                                                     read once and rewritten as .page)
///     rendered/<project>.<variant>                    rendered page bodies (RenderedBodyFiles: a
///                                                     derived copy, valid for the state it names)
///     tmp/                                            downloads in progress
///
/// Every write goes to `tmp/` first and is renamed into place only when complete
/// (and, for files, verified), so after a crash or `kill -9` the tree holds only
/// complete files; `tmp/` is emptied at start-up.
public final class CacheStore: CacheStorage {
    public let root: String
    private var tempCounter = 0
    let openFiles: OpenFileCache
    /// Big pages being written a slice at a time (`PageSave`), by project.
    var pendingSaves: [ProjectName: PageSave] = [:]

    /// `openFileCapacity`: how many cached files may stay open (a share of the fd limit).
    /// `clearingTemp: false` leaves `tmp/` alone (`wheelhouse gc --dry-run` reports it).
    public init(root: String, openFileCapacity: Int = 256, clearingTemp: Bool = true) throws {
        openFiles = OpenFileCache(capacity: max(1, openFileCapacity))
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        for dir in ["files", "pages", "tmp"] { try Files.makeDirectories("\(self.root)/\(dir)") }
        for leftover in Files.list("\(self.root)/tmp") where clearingTemp { Files.remove("\(self.root)/tmp/\(leftover.name)") }
    }

    func path(of key: FileKey) -> String { "\(root)/files/\(key.relativePath)" }
    func pagePath(_ name: ProjectName) -> String { "\(root)/pages/\(name.normalized).page" }
    /// Where versions before PageCodec kept a page (JSON by JSONEncoder).
    func legacyPagePath(_ name: ProjectName) -> String { "\(root)/pages/\(name.normalized).json" }

    // MARK: - Start-up scan

    /// Every cached file with its size: a walk of files/ (three levels, no reads).
    public func scanFiles() -> [FileKey: Int] {
        var found: [FileKey: Int] = [:]
        for d1 in Files.list("\(root)/files") where d1.isDirectory {
            for d2 in Files.list("\(root)/files/\(d1.name)") where d2.isDirectory {
                for f in Files.list("\(root)/files/\(d1.name)/\(d2.name)") where !f.isDirectory {
                    if let key = FileKey(hashDirectory: d1.name, hashSubdirectory: d2.name, filename: f.name) {
                        found[key] = f.size
                    }
                }
            }
        }
        return found
    }

    /// Names of the projects whose page is stored.
    public func storedPageNames() -> [ProjectName] {
        var names: Set<ProjectName> = []
        for entry in Files.list("\(root)/pages") {
            for suffix in [".page", ".json"] where entry.name.hasSuffix(suffix) {
                if let name = ProjectName(String(entry.name.dropLast(suffix.count))) { names.insert(name) }
            }
        }
        return names.sorted()
    }

    /// A random id made on first start and kept in `uuid`, like devpi's server uuid.
    public func serverUUID() throws -> String {
        let path = "\(root)/uuid"
        if let bytes = try Files.readAll(path), bytes.count == 32 { return String(decoding: bytes, as: UTF8.self) }
        let hex = (0..<2).map { _ in
            let s = String(UInt64.random(in: 0...UInt64.max), radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }.joined()
        try writeAtomically(Array(hex.utf8), to: path)
        return hex
    }

    // MARK: - Pages

    /// The stored page; nil when absent or unreadable (then it is fetched again). A page
    /// in the JSON form of earlier versions is read once and rewritten in PageCodec's form.
    public func loadPage(_ name: ProjectName) -> ProjectPage? {
        if let saving = pageBeingSaved(name) { return saving }
        if let bytes = try? Files.readAll(pagePath(name)) { return PageCodec.decode(bytes) }
        guard let bytes = try? Files.readAll(legacyPagePath(name)),
              let page = try? JSONDecoder().decode(ProjectPage.self, from: Data(bytes)) else { return nil }
        if (try? savePage(page, as: name)) != nil { Files.remove(legacyPagePath(name)) }
        return page
    }

    public func storedPageBytes(_ name: ProjectName) -> [UInt8]? {
        pendingSaves[name] == nil ? try? Files.readAll(pagePath(name)) : nil
    }

    func storedPageHead(_ name: ProjectName) -> PageCodec.Head? {
        guard pendingSaves[name] == nil, let fd = try? Files.openForReading(pagePath(name)), let bytes = try? Files.read(fd, count: PageCodec.headSize, at: 0) else { return nil }
        return PageCodec.head(bytes)
    }

    public func savePage(_ page: ProjectPage, as name: ProjectName) throws {
        abandonSavingPage(name)  // this one is newer
        try writeAtomically(PageCodec.encode(page), to: pagePath(name))
        Files.remove(legacyPagePath(name))  // else a later start would list both forms
    }

    // Pages as bytes, for the shared tier: the file as it is on disk.
    public func pageBytes(_ name: ProjectName) -> [UInt8]? { (try? Files.readAll(pagePath(name))) ?? nil }

    public func importPage(_ bytes: [UInt8], as name: ProjectName) throws {
        abandonSavingPage(name)
        try writeAtomically(bytes, to: pagePath(name))
    }

    /// The next server starts without the rendered bodies kept on disk (`gc` and `purge`
    /// change cached files, which bodies list, while no server is there to delete them).
    public func forgetRenderedBodies() { RenderedBodyFiles.forgetAll(dataDirectory: root) }

    /// Forgets a stored page in either form (`wheelhouse purge`, or an imported page this node cannot read).
    public func removePage(_ name: ProjectName) {
        abandonSavingPage(name)
        Files.remove(pagePath(name))
        Files.remove(legacyPagePath(name))
    }

    /// A small file made here (extracted metadata), written like any other: temp, then rename.
    public func write(_ bytes: [UInt8], as key: FileKey) throws {
        try Files.makeDirectories("\(root)/files/\(key.hashDirectory)/\(key.hashSubdirectory)")
        try writeAtomically(bytes, to: path(of: key))
        openFiles.forget(key)
    }

    private func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temp = try createTemp()
        do {
            try bytes.withUnsafeBytes { try Files.writeAll(temp.fd, $0) }
            try Files.rename(temp.path, to: path)
        } catch {
            discard(temp)
            throw error
        }
    }

    // MARK: - Files

    /// A new, empty, private temp file for a download.
    public func createTemp() throws -> TempFile {
        tempCounter += 1
        let path = "\(root)/tmp/\(tempCounter)-\(UInt64.random(in: 0...UInt64.max)).part"
        return TempFile(fd: try Files.createNew(path), path: path)
    }

    /// Moves a complete, verified temp file to its place in the cache.
    public func commit(_ temp: TempFile, as key: FileKey) throws {
        try Files.makeDirectories("\(root)/files/\(key.hashDirectory)/\(key.hashSubdirectory)")
        try Files.rename(temp.path, to: path(of: key))
        openFiles.forget(key)  // a replaced file (upstream's metadata over an extracted copy) must not be served stale
    }

    public func discard(_ temp: TempFile) {
        Files.remove(temp.path)
    }

    public typealias OpenOutcome = StoredFileOpening

    /// Opens a cached file for sending. Hot files stay open (see OpenFileCache), so a
    /// hit usually costs no open, fstat or close. Out of fds, the cache of open files
    /// gives back half its descriptors and the open is tried once more.
    public func open(_ key: FileKey) -> OpenOutcome {
        if let (fd, size) = openFiles.get(key) { return .opened(fd, size: size) }
        var attempt = 0
        while true {
            do {
                let fd = try Files.openForReading(path(of: key))
                let size = try Files.size(fd)
                openFiles.put(key, fd, size)
                return .opened(fd, size: size)
            } catch let error as SystemError {
                if error.errno == ENOENT { return .missing }
                if (error.errno == EMFILE || error.errno == ENFILE) && attempt == 0 && openFiles.shrink() {
                    attempt += 1
                    continue
                }
                return .failed(error)
            } catch {
                return .failed(SystemError("open \(key.filename)", errno: EIO))
            }
        }
    }

}

/// Descriptors of recently served cached files, kept open: cached files are
/// immutable, and sendfile takes an explicit offset, so one descriptor serves any
/// number of concurrent responses. Least recently used goes first; a response
/// still sending from an evicted descriptor keeps it alive until it is done.
final class OpenFileCache {
    private var entries: [FileKey: (fd: FileDescriptor, size: Int, used: UInt64)] = [:]
    private var clock: UInt64 = 0
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func get(_ key: FileKey) -> (FileDescriptor, Int)? {
        guard let entry = entries[key] else { return nil }
        clock += 1
        entries[key]?.used = clock
        return (entry.fd, entry.size)
    }

    func forget(_ key: FileKey) { entries.removeValue(forKey: key) }

    func put(_ key: FileKey, _ fd: FileDescriptor, _ size: Int) {
        if entries.count >= capacity, let oldest = entries.min(by: { $0.value.used < $1.value.used })?.key {
            entries.removeValue(forKey: oldest)
        }
        clock += 1
        entries[key] = (fd, size, clock)
    }

    /// Closes the least recently used half (out of fds); false when there was nothing to give back.
    /// A response still sending from a dropped descriptor keeps it open until it is done.
    func shrink() -> Bool {
        guard !entries.isEmpty else { return false }
        let dropped = entries.sorted { $0.value.used < $1.value.used }.prefix(max(1, entries.count / 2))
        for (key, _) in dropped { entries.removeValue(forKey: key) }
        return true
    }
}
