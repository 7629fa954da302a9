import Glibc

/// A cached file's modification time doubles as its last use (cached files are
/// immutable, so mtime means nothing else): the size cap's recency survives a restart
/// without a recency file to rewrite.
extension Files {
    /// Seconds since the epoch, or nil when the file cannot be stat'ed.
    public static func modificationTime(_ path: String) -> Double? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
    }

    /// Sets the modification time (and the access time) to `seconds`; false when it could not.
    @discardableResult
    public static func setModificationTime(_ path: String, _ seconds: Double) -> Bool {
        let whole = seconds.rounded(.down)
        let ts = timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1e9))
        var times = [ts, ts]
        return utimensat(AT_FDCWD, path, &times, 0) == 0
    }
}
