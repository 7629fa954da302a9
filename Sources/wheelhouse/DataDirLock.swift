import Glibc
import Reactor

/// Who uses a data directory: a server (and prefetch's in-process one) holds a shared
/// lock on `<data-dir>/lock` for as long as it runs; `gc` and `purge` need it exclusive,
/// so they refuse to delete files a running server indexes and serves. flock(2): the
/// kernel drops the lock when the process ends, however it ends.
final class DataDirLock {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }
    deinit { Glibc.close(fd) }

    enum Mode { case shared, exclusive }

    /// nil when another process holds it in a conflicting mode.
    static func take(_ dataDir: String, _ mode: Mode) throws -> DataDirLock? {
        let path = "\(dataDir)/lock"
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        if flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
            let failure = errno
            Glibc.close(fd)
            if failure == EWOULDBLOCK { return nil }
            throw SystemError("flock \(path)", errno: failure)
        }
        return DataDirLock(fd: fd)
    }
}
