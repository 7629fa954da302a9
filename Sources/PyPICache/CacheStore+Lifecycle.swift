import Reactor

/// What the size cap, `wheelhouse gc` and `wheelhouse purge` need of the local disk.
/// A cached file's modification time is its last use (see `Files.modificationTime`).
extension CacheStore {
    public func remove(_ key: FileKey) {
        openFiles.forget(key)
        Files.remove(path(of: key))
    }

    public func releaseOpen(_ key: FileKey) { openFiles.forget(key) }

    public func lastUse(of key: FileKey) -> Double? { Files.modificationTime(path(of: key)) }

    public func markUsed(_ key: FileKey, at seconds: Double) { Files.setModificationTime(path(of: key), seconds) }

    /// Temp files left behind (a crash, or a server that is not running now).
    public func leftoverTempFiles() -> [(name: String, size: Int)] {
        Files.list("\(root)/tmp").filter { !$0.isDirectory }.map { ($0.name, $0.size) }
    }

    public func removeTempFile(named name: String) { Files.remove("\(root)/tmp/\(name)") }

    /// The data directory's own pins file, written by `wheelhouse prefetch`.
    public var pinsPath: String { "\(root)/pins" }
}
