/// One distribution file as an index listed it. `url` is the absolute upstream
/// URL: the only kind of URL wheelhouse will ever fetch (no open proxy).
public struct DistributionFile: Codable, Sendable, Equatable {
    public var filename: String
    public var url: String
    /// Lower-case hex, when the index gave one.
    public var sha256: String?
    public var requiresPython: String?
    /// nil: not yanked; "": yanked without a reason (PEP 592).
    public var yanked: String?
    public var size: Int?
    public var uploadTime: String?
    /// PEP 658 core metadata: nil when not available, "" when available without a
    /// sha256, else the sha256 of the `.metadata` file.
    public var coreMetadata: String?

    public init(filename: String, url: String, sha256: String? = nil, requiresPython: String? = nil,
                yanked: String? = nil, size: Int? = nil, uploadTime: String? = nil, coreMetadata: String? = nil) {
        self.filename = filename
        self.url = url
        self.sha256 = sha256
        self.requiresPython = requiresPython
        self.yanked = yanked
        self.size = size
        self.uploadTime = uploadTime
        self.coreMetadata = coreMetadata
    }

    public var isWheel: Bool { filename.hasSuffix(".whl") }

    /// The version in a wheel or sdist filename (for PEP 700 `versions` when upstream gave none).
    public var version: String? {
        if isWheel {
            let parts = filename.split(separator: "-")
            return parts.count >= 5 ? String(parts[1]) : nil
        }
        var stem = Substring(filename)
        for ext in [".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar"] where stem.hasSuffix(ext) {
            stem = stem.dropLast(ext.count)
            break
        }
        let chars = Array(stem)
        for i in chars.indices.dropLast() where chars[i] == "-" && chars[i + 1].isNumber {
            return String(chars[(i + 1)...])
        }
        return nil
    }

    /// Where this file lives in wheelhouse's URL space and cache (devpi's scheme).
    /// Files without an upstream sha256 are keyed by a hash of their URL instead.
    public var key: FileKey? {
        FileKey(sha256: sha256 ?? SHA256.hex(Array(url.utf8)), filename: filename)
    }
}

/// A project's simple page as wheelhouse stores it: what upstream said, plus
/// what is needed to revalidate and expire it.
public struct ProjectPage: Codable, Sendable, Equatable {
    public var name: String
    public var files: [DistributionFile]
    /// PEP 700 `versions`, when upstream gave them.
    public var versions: [String]?
    public var etag: String?
    public var lastModified: String?
    /// Seconds since the epoch at which upstream last confirmed this page.
    public var fetchedAt: Double

    public init(name: String, files: [DistributionFile], versions: [String]? = nil,
                etag: String? = nil, lastModified: String? = nil, fetchedAt: Double = 0) {
        self.name = name
        self.files = files
        self.versions = versions
        self.etag = etag
        self.lastModified = lastModified
        self.fetchedAt = fetchedAt
    }
}

/// A file's place in wheelhouse: `<sha256[0:3]>/<sha256[3:16]>/<filename>`, as
/// devpi lays out `/root/pypi/+f/...`, so lock files made against devpi resolve.
/// It can only be built from validated parts, so it can never name a path
/// outside the cache.
public struct FileKey: Hashable, Sendable, CustomStringConvertible {
    /// The 16 hex digits of the two directory names, packed: a key is one integer
    /// and a filename, which keeps 100,000 cached files in a few MB.
    private let hashPrefix: UInt64
    public let filename: String

    public init?(sha256: String, filename: String) {
        // Read straight from the bytes (either case): pages build a key per file on every render.
        guard sha256.utf8.count == 64, FileKey.isSafeFilename(filename) else { return nil }
        var prefix: UInt64 = 0
        for b in sha256.utf8.prefix(16) {
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: return nil
            }
            prefix = prefix << 4 | UInt64(digit)
        }
        self.init(hashPrefix: prefix, filename: filename)
    }

    public init?(hashDirectory: String, hashSubdirectory: String, filename: String) {
        guard hashDirectory.utf8.count == 3, hashSubdirectory.utf8.count == 13,
              FileKey.isHex(hashDirectory), FileKey.isHex(hashSubdirectory),
              FileKey.isSafeFilename(filename), let prefix = UInt64(hashDirectory + hashSubdirectory, radix: 16)
        else { return nil }
        self.hashPrefix = prefix
        self.filename = filename
    }

    private init(hashPrefix: UInt64, filename: String) {
        self.hashPrefix = hashPrefix
        self.filename = filename
    }

    private var hex: String {
        let digits = String(hashPrefix, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// `<hashDirectory>/<hashSubdirectory>/`, appended as bytes (pages write one per file).
    func appendHashPath(to out: inout [UInt8]) {
        for shift in stride(from: 60, through: 0, by: -4) {
            let digit = UInt8(truncatingIfNeeded: hashPrefix >> UInt64(shift)) & 0xF
            out.append(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            if shift == 52 || shift == 0 { out.append(UInt8(ascii: "/")) }
        }
    }

    public var hashDirectory: String { String(hex.prefix(3)) }
    public var hashSubdirectory: String { String(hex.dropFirst(3)) }

    public var relativePath: String { "\(hashDirectory)/\(hashSubdirectory)/\(filename)" }

    /// The PEP 658 metadata file that belongs to this file: `<filename>.metadata` beside it.
    public var metadataKey: FileKey? {
        FileKey.isSafeFilename(filename + ".metadata") ? FileKey(hashPrefix: hashPrefix, filename: filename + ".metadata") : nil
    }

    /// For a `.metadata` key, the distribution file it describes.
    public var metadataSubject: FileKey? {
        guard filename.hasSuffix(".metadata"), filename.utf8.count > 9 else { return nil }
        return FileKey(hashPrefix: hashPrefix, filename: String(filename.dropLast(9)))
    }

    /// An ETag for the file: content-addressed, so the hash prefix identifies it.
    public var etag: String {
        "\"\(hex)\(filename.hasSuffix(".metadata") ? ".metadata" : "")\""
    }
    public var description: String { relativePath }

    static func isHex(_ s: String) -> Bool {
        s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// A plain file name: printable ASCII, no separators, not hidden, not `.`/`..`.
    static func isSafeFilename(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { b in
            guard let first = b.first, b.count <= 255, first != UInt8(ascii: ".") else { return false }
            for c in b where c <= 0x20 || c >= 0x7F || c == UInt8(ascii: "/") || c == UInt8(ascii: "\\") { return false }
            return true
        }
    }
}
