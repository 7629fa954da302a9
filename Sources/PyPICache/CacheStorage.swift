import Reactor

/// Where cached files and pages are kept. The cache policy (`PageCache`, `FileCache`,
/// `WheelMetadata`) talks to storage only through this, so another store (a shared object
/// store) can be added without touching the policy. `CacheStore` (local disk) is the first.
///
/// The contract every store keeps: a file becomes visible under its key only complete and
/// verified (`commit` after the caller checked length and hash; `write` whole); pages are
/// replaced whole; nothing half-written is ever served or listed at start-up.
public protocol CacheStorage: AnyObject {
    // Start-up: what is stored.
    /// Every stored file with its size.
    func scanFiles() -> [FileKey: Int]
    func storedPageNames() -> [ProjectName]
    /// This server's identity, created on first start and kept with the cache.
    func serverUUID() throws -> String

    // Pages.
    func loadPage(_ name: ProjectName) -> ProjectPage?
    func savePage(_ page: ProjectPage, as name: ProjectName) throws
    /// The stored page's bytes in PageCodec's form, for a big page to be decoded a slice at
    /// a time; nil: not at hand in that form (then `loadPage` reads it whole).
    func storedPageBytes(_ name: ProjectName) -> [UInt8]?

    // Files.
    /// A stored file, opened for sending.
    func open(_ key: FileKey) -> StoredFileOpening
    /// Stores small bytes made here (extracted metadata) whole under `key`.
    func write(_ bytes: [UInt8], as key: FileKey) throws
    /// A new, empty, private file a download is written to while it runs.
    func createTemp() throws -> TempFile
    /// Makes a complete, verified download visible under `key`.
    func commit(_ temp: TempFile, as key: FileKey) throws
    /// Drops a download that failed or was abandoned.
    func discard(_ temp: TempFile)

    // The size cap (FileEviction); the defaults below keep nothing of it.
    /// Deletes a stored file (evicted); any descriptor kept open for it is let go first.
    func remove(_ key: FileKey)
    /// Lets go of a descriptor kept open for `key` (so only responses still hold one).
    func releaseOpen(_ key: FileKey)
    /// When the file was last used (as last recorded by `markUsed`, else when it was stored).
    func lastUse(of key: FileKey) -> Double?
    func markUsed(_ key: FileKey, at seconds: Double)

    // Pages as opaque bytes, for the shared tier (SharedTier): another node's copy is
    // stored as it came and read back with `loadPage`, whatever the format is.
    /// A stored page's bytes as kept, or nil.
    func pageBytes(_ name: ProjectName) -> [UInt8]?
    /// Stores a page's bytes (from `pageBytes` on another node), replacing it whole.
    func importPage(_ bytes: [UInt8], as name: ProjectName) throws
    /// Forgets a stored page (one imported that this node cannot read).
    func removePage(_ name: ProjectName)
}

extension CacheStorage {
    public func remove(_ key: FileKey) {}
    public func releaseOpen(_ key: FileKey) {}
    public func lastUse(of key: FileKey) -> Double? { nil }
    public func markUsed(_ key: FileKey, at seconds: Double) {}
}

extension CacheStorage {
    func storedPageBytes(_ name: ProjectName) -> [UInt8]? { nil }
}

/// The answer to `CacheStorage.open`.
public enum StoredFileOpening {
    case opened(FileDescriptor, size: Int)
    /// Not stored (removed behind our back).
    case missing
    /// Stored but not openable now (out of fds, I/O error): the cache entry stays.
    case failed(SystemError)
}

extension CacheStorage {
    // A store that cannot share its pages (none of the three is needed without a shared tier).
    public func pageBytes(_ name: ProjectName) -> [UInt8]? { nil }
    public func importPage(_ bytes: [UInt8], as name: ProjectName) throws {
        throw SystemError("this store cannot import pages", errno: 95)  // EOPNOTSUPP
    }
    public func removePage(_ name: ProjectName) {}

    /// The stored file's descriptor and size, or nil whatever the reason.
    public func openIfPresent(_ key: FileKey) -> (FileDescriptor, Int)? {
        if case .opened(let fd, let size) = open(key) { return (fd, size) }
        return nil
    }
}

/// A download in progress, in the store's scratch space.
public struct TempFile {
    public let fd: FileDescriptor
    public let path: String
}
