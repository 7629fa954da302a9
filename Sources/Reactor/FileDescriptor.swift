import Glibc

/// Owns one file descriptor and closes it exactly once, in `deinit` or `close()`.
/// Readers of a shared file (many clients following one download) share one
/// instance: `sendfile` takes an explicit offset, so they never disturb each other.
public final class FileDescriptor {
    public private(set) var raw: Int32

    public init(adopting raw: Int32) {
        precondition(raw >= 0, "FileDescriptor adopting an invalid fd")
        self.raw = raw
    }

    public var isOpen: Bool { raw >= 0 }

    public func close() {
        guard raw >= 0 else { return }
        _ = Glibc.close(raw)
        raw = -1
    }

    deinit { close() }
}
