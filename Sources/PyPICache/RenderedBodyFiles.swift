import Glibc
import Reactor
import Support

/// Rendered page bodies kept as files in the data directory (`rendered/`), so that the first
/// request for a big page after a restart is an open, a 256-byte read and a sendfile, not a
/// read of the stored page and a render (80-180 ms for 10,000 files).
///
///     rendered/<project>.<json|html|legacy>[.alias][.h<host>][.gz]   one per variant asked for
///     rendered/.clean-stop                                 the last server stopped cleanly
///
/// Each file is a 256-byte header, then the body exactly as sent. The header names the state
/// the body was rendered from: a `stamp` (PageCache makes it: the stored page's content tag,
/// the variant, upstream's reachability, hosts known to ignore Range, the release filter,
/// this version) plus the length, ETag and the cooldown moment it is good until. A body is
/// served only when all of it matches the state now; anything else reads as absent.
///
/// What the stamp cannot see (which files are cached, metadata extracted) changes only while
/// a server runs, and that server deletes the project's bodies when it does (`remove`).
/// Hence the marker: bodies are trusted at start-up only when the last server stopped
/// cleanly (it writes `.clean-stop`, the next start takes it away); after a crash or
/// `kill -9`, or a `gc`/`purge` (they remove the marker), every body is deleted first.
/// Written to `tmp/` and renamed into place, a body is never seen half-written.
final class RenderedBodyFiles {
    static let headerSize = 256
    static let magic: [UInt8] = Array("WHRB1\n".utf8)
    static let cleanStopMarker = ".clean-stop"

    let directory: String
    /// This build of the program (its executable's modification time): a new build may render
    /// other bytes from the same page, so bodies written by another build never apply. Without
    /// it (no /proc) bodies are not kept.
    let build: String?
    private let makeTemp: () throws -> TempFile
    /// Paths of the bodies on disk, so that a page with none (most: small ones stay in
    /// memory) costs no failed open when it is not in memory.
    private var present: Set<String> = []
    /// A file-name-safe name for an absolute link base, the same for the same host in every
    /// run (a base is only this server's index of a host, in the order hosts came).
    var linkName: (Int) -> String = { String($0) }

    /// The directory ready for a server; nil when bodies cannot be kept (a read-only data
    /// directory, or old bodies that could not be deleted): then they stay in memory or
    /// unlinked files as before.
    init?(dataDirectory: String, makeTemp: @escaping () throws -> TempFile, logger: Logger) {
        directory = dataDirectory + "/rendered"
        build = Files.modificationTime("/proc/self/exe").map { String($0) }
        self.makeTemp = makeTemp
        guard (try? Files.makeDirectories(directory)) != nil else { return nil }
        let marker = directory + "/" + RenderedBodyFiles.cleanStopMarker
        if Files.modificationTime(marker) != nil {
            Files.remove(marker)  // from now on a crash must not leave bodies trusted
            guard Files.modificationTime(marker) == nil else { return nil }
            present = Set(Files.list(directory, withSizes: false).map { directory + "/" + $0.name })
            return
        }
        let old = Files.list(directory, withSizes: false)
        for entry in old { Files.remove(directory + "/" + entry.name) }
        guard Files.list(directory, withSizes: false).isEmpty else { return nil }
        if !old.isEmpty {
            logger.info("rendered_bodies_dropped", ["count": String(old.count), "reason": "the last server did not stop cleanly, or gc/purge ran"])
        }
    }

    /// A clean stop: the bodies on disk match what this server knew; the next one may use them.
    func markCleanStop() {
        guard let fd = try? Files.open(directory + "/" + RenderedBodyFiles.cleanStopMarker, flags: O_WRONLY | O_CREAT | O_TRUNC) else { return }
        fd.close()
    }

    /// Makes the next server start without the bodies (`gc`, `purge`: cached files changed offline).
    static func forgetAll(dataDirectory: String) {
        Files.remove(dataDirectory + "/rendered/" + cleanStopMarker)
    }

    func path(_ key: RenderedPages.Key) -> String {
        let format = switch key.format {
        case .json: "json"
        case .html: "html"
        case .legacyHTML: "legacy"
        }
        let links = key.linkBase > 0 ? ".h" + linkName(key.linkBase) : ""
        return "\(directory)/\(key.project.normalized).\(format)\(key.alias ? ".alias" : "")\(links)\(key.gzip ? ".gz" : "")"
    }

    /// A new draft in `tmp/`, its header still to be written.
    func draft() throws -> BodyDraft {
        let temp = try makeTemp()
        let draft = BodyDraft(temp: temp, bodyOffset: RenderedBodyFiles.headerSize)
        try [UInt8](repeating: 0, count: RenderedBodyFiles.headerSize).withUnsafeBytes { try Files.writeAll(temp.fd, $0) }
        return draft
    }

    /// Writes the header and renames the draft into place; false (the draft unlinked) when it cannot.
    @discardableResult
    func publish(_ draft: BodyDraft, as key: RenderedPages.Key, stamp: String, etag: String, validUntil: Double?) -> Bool {
        guard let temp = draft.tempPath, draft.bodyOffset == RenderedBodyFiles.headerSize,
              let header = RenderedBodyFiles.header(stamp: stamp, etag: etag, validUntil: validUntil, length: draft.length) else {
            draft.unlink()
            return false
        }
        do {
            try header.withUnsafeBytes { try Files.writeAll(draft.fd, $0, at: 0) }
            try Files.rename(temp, to: path(key))
            present.insert(path(key))
            draft.published()
            return true
        } catch {
            draft.unlink()
            return false
        }
    }

    /// The body kept for `key` when it was rendered from the state `stamp` names and its
    /// cooldown moment has not passed; nil otherwise (absent, other state, torn, expired).
    func open(_ key: RenderedPages.Key, stamp: String, now: Double) -> RenderedPages.Rendered? {
        guard present.contains(path(key)), let fd = try? Files.openForReading(path(key)),
              let bytes = try? Files.read(fd, count: RenderedBodyFiles.headerSize, at: 0),
              let header = RenderedBodyFiles.parseHeader(bytes), header.stamp == stamp,
              header.validUntil.map({ now < $0 }) ?? true,
              (try? Files.size(fd)) == RenderedBodyFiles.headerSize + header.length
        else { return nil }
        return RenderedPages.Rendered(body: .file(fd, offset: RenderedBodyFiles.headerSize, length: header.length),
                                      etag: header.etag, validUntil: header.validUntil)
    }

    /// Whether a body for `key` is on disk (as far as this server knows: it may still not apply).
    func mayHold(_ key: RenderedPages.Key) -> Bool { present.contains(path(key)) }

    /// Deletes every variant of the project (its page or its cached files changed). `present`
    /// holds every body in the directory (listed at start-up, kept since), and a normalized
    /// name has no '.', so "<project>." names that project's bodies and no other's.
    func remove(_ project: ProjectName) {
        let prefix = "\(directory)/\(project.normalized)."
        for path in present where path.hasPrefix(prefix) {
            Files.remove(path)
            present.remove(path)
        }
    }

    struct Header: Equatable {
        let stamp: String
        let etag: String
        let validUntil: Double?
        let length: Int
    }

    /// magic, stamp (64 hex digits), validUntil flag + 8 bytes, length 8 bytes, ETag length + bytes, zeros.
    static func header(stamp: String, etag: String, validUntil: Double?, length: Int) -> [UInt8]? {
        let stampBytes = Array(stamp.utf8), etagBytes = Array(etag.utf8)
        guard stampBytes.count == 64, etagBytes.count <= 120, length >= 0 else { return nil }
        var out = magic + stampBytes
        out.append(validUntil == nil ? 0 : 1)
        putFixed((validUntil ?? 0).bitPattern, into: &out)
        putFixed(UInt64(length), into: &out)
        out.append(UInt8(etagBytes.count))
        out += etagBytes
        out += [UInt8](repeating: 0, count: headerSize - out.count)
        return out
    }

    static func parseHeader(_ bytes: [UInt8]) -> Header? {
        guard bytes.count == headerSize, bytes.starts(with: magic) else { return nil }
        var at = magic.count
        let stampBytes = bytes[at..<(at + 64)]
        guard stampBytes.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        at += 64
        let hasValidUntil = bytes[at]
        guard hasValidUntil <= 1 else { return nil }
        let validUntil = Double(bitPattern: fixed(bytes, at + 1))
        let length = fixed(bytes, at + 9)
        let etagCount = Int(bytes[at + 17])
        at += 18
        guard length <= UInt64(Int.max) - UInt64(headerSize), etagCount > 0, etagCount <= 120,
              hasValidUntil == 1 || validUntil.bitPattern == 0,
              bytes[(at + etagCount)...].allSatisfy({ $0 == 0 }) else { return nil }  // every other byte as written
        return Header(stamp: String(decoding: stampBytes, as: UTF8.self), etag: String(decoding: bytes[at..<(at + etagCount)], as: UTF8.self),
                      validUntil: hasValidUntil == 1 ? validUntil : nil, length: Int(length))
    }

    private static func putFixed(_ value: UInt64, into out: inout [UInt8]) {
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    private static func fixed(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
        return v
    }
}

/// A rendered body being written to a temp file: published under its variant's name
/// (`RenderedBodyFiles.publish`) or unlinked, so that only its descriptor keeps the bytes.
/// Owns the temp path (removed if the draft is dropped unpublished); the descriptor is a
/// `FileDescriptor`, closed by its last holder (the kept rendering, or a response).
final class BodyDraft {
    let fd: FileDescriptor
    /// Where the body starts in the file (after the header space, or 0 for a plain spill).
    let bodyOffset: Int
    private(set) var length = 0
    /// The temp file's name while it may still be published; nil once published or unlinked.
    private(set) var tempPath: String?

    init(temp: TempFile, bodyOffset: Int) {
        fd = temp.fd
        tempPath = temp.path
        self.bodyOffset = bodyOffset
    }

    func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try Files.writeAll(fd, $0) }
        length += bytes.count
    }

    /// The body lives on in the descriptor only (a crash leaves nothing behind).
    func unlink() {
        guard let path = tempPath else { return }
        Files.remove(path)
        tempPath = nil
    }

    fileprivate func published() { tempPath = nil }

    var body: RenderedPages.Body { .file(fd, offset: bodyOffset, length: length) }

    deinit { unlink() }
}
