import Glibc

/// Plain file and directory operations on the local disk. The domain calls
/// these rather than syscalls; none of them touches the network.
public enum Files {
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws -> FileDescriptor {
        let fd = try syscallBlocking("open \(path)") { Glibc.open(path, flags | O_CLOEXEC, mode) }
        return FileDescriptor(adopting: fd)
    }

    /// Creates a new file for writing and reading; fails if the path exists.
    public static func createNew(_ path: String) throws -> FileDescriptor {
        try open(path, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o644)
    }

    public static func openForReading(_ path: String) throws -> FileDescriptor {
        try open(path, flags: O_RDONLY)
    }

    /// Writes every byte (regular files do not return EAGAIN).
    public static func writeAll(_ fd: FileDescriptor, _ buffer: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = try syscallBlocking("write") { Glibc.write(fd.raw, buffer.baseAddress! + done, buffer.count - done) }
            done += n
        }
    }

    /// Writes every byte at `offset`, leaving the file offset alone (a header filled in last).
    public static func writeAll(_ fd: FileDescriptor, _ buffer: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buffer.count {
            let n = try syscallBlocking("pwrite") { pwrite(fd.raw, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done)) }
            done += n
        }
    }

    public static func size(_ fd: FileDescriptor) throws -> Int {
        var st = stat()
        _ = try syscallBlocking("fstat") { fstat(fd.raw, &st) }
        return Int(st.st_size)
    }

    /// Reads up to `count` bytes at `offset` (fewer only at the end of the file).
    public static func read(_ fd: FileDescriptor, count: Int, at offset: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = try bytes.withUnsafeMutableBytes { buf in
                try syscallBlocking("pread") { pread(fd.raw, buf.baseAddress! + done, count - done, off_t(offset + done)) }
            }
            if n == 0 { break }
            done += n
        }
        return done == count ? bytes : Array(bytes.prefix(done))
    }

    /// Reads the whole (small) file at `path`, or nil when it does not exist.
    public static func readAll(_ path: String, limit: Int = 256 << 20) throws -> [UInt8]? {
        let fd: FileDescriptor
        do { fd = try open(path, flags: O_RDONLY) } catch let e as SystemError where e.errno == ENOENT { return nil }
        let size = try self.size(fd)
        guard size <= limit else { throw SystemError("read \(path): larger than \(limit) bytes", errno: EFBIG) }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = try bytes.withUnsafeMutableBytes { buf in
                try syscallBlocking("pread \(path)") { pread(fd.raw, buf.baseAddress! + done, size - done, off_t(done)) }
            }
            if n == 0 { break }
            done += n
        }
        return Array(bytes.prefix(done))
    }

    /// Creates `path` and any missing parents (mkdir -p).
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) != 0 && errno != EEXIST {
                throw SystemError("mkdir \(prefix)", errno: errno)
            }
        }
    }

    /// Atomic on one filesystem: readers see the old name's file or the new one, never a mix.
    public static func rename(_ from: String, to: String) throws {
        _ = try syscallBlocking("rename \(from) -> \(to)") { Glibc.rename(from, to) }
    }

    public static func remove(_ path: String) {
        _ = unlink(path)
    }

    public struct Entry {
        public let name: String
        public let isDirectory: Bool
        public let size: Int
    }

    /// The entries of a directory, without `.` and `..`; empty when it does not exist.
    /// Sizes are read (one fstatat each) only when `withSizes`; the type comes from
    /// readdir itself where the filesystem provides it.
    public static func list(_ path: String, withSizes: Bool = true) -> [Entry] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        let dfd = dirfd(dir)
        var entries: [Entry] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let type = Int32(ent.pointee.d_type)
            if type == DT_DIR || (type == DT_REG && !withSizes) {
                entries.append(Entry(name: name, isDirectory: type == DT_DIR, size: 0))
                continue
            }
            var st = stat()
            guard fstatat(dfd, name, &st, 0) == 0 else { continue }
            entries.append(Entry(name: name, isDirectory: (st.st_mode & S_IFMT) == S_IFDIR, size: Int(st.st_size)))
        }
        return entries
    }
}
