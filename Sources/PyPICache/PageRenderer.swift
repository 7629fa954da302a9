/// Writes a project page for clients, with every file link pointing at
/// wheelhouse's own `+f` URL (relative, so it works behind any host name).
public enum PageRenderer {
    /// The API version wheelhouse implements (PEP 691 1.0, PEP 700 1.1). A JSON page
    /// says 1.1 only when it can: PEP 700 makes `size` mandatory for every file.
    public static let apiVersion = "1.1"

    static func apiVersion(of page: ProjectPage) -> String {
        page.files.allSatisfy { $0.size != nil } ? apiVersion : "1.0"
    }

    /// `filesPrefix` is the relative path from the page URL to `/root/pypi/+f/`.
    /// Written as bytes, copying whole strings that need no escaping: a 4,000-file page
    /// renders in about a millisecond this way (per-character String appends took tens).
    public static func render(_ page: ProjectPage, as format: PageFormat, filesPrefix: String) -> [UInt8] {
        var out = PageBytes(capacity: 512 + page.files.count * 420)
        var first = true
        head(page, as: format, into: &out)
        files(page, page.files.indices, as: format, filesPrefix: filesPrefix, first: &first, into: &out)
        tail(page, as: format, versions: format == .json ? versions(of: page) : [], into: &out)
        return out.bytes
    }

    // A page in three parts, so that a big one can be rendered a slice of files at a time
    // (`PageRenderJob`) into the same bytes `render` writes in one go.

    /// Everything before the first file.
    static func head(_ page: ProjectPage, as format: PageFormat, into out: inout PageBytes) {
        switch format {
        case .json:
            out.raw("{\"meta\":{\"api-version\":\"\(apiVersion(of: page))\"},\"name\":")
            out.quoted(page.name)
            out.raw(",\"files\":[")
        case .html, .legacyHTML:
            out.raw("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"\(apiVersion)\">\n    <title>Links for ")
            out.html(page.name)
            out.raw("</title>\n  </head>\n  <body>\n    <h1>Links for ")
            out.html(page.name)
            out.raw("</h1>\n")
        }
    }

    /// The files in `range`; `first` says whether none was written yet (JSON commas).
    static func files(_ page: ProjectPage, _ range: Range<Int>, as format: PageFormat, filesPrefix: String,
                      first: inout Bool, into out: inout PageBytes) {
        for file in page.files[range] {
            guard let key = file.key else { continue }
            switch format {
            case .json: json(file, key: key, filesPrefix: filesPrefix, first: first, into: &out)
            case .html, .legacyHTML: html(file, key: key, filesPrefix: filesPrefix, into: &out)
            }
            first = false
        }
    }

    /// Everything after the last file; `versions` is `versions(of: page)` (JSON only).
    static func tail(_ page: ProjectPage, as format: PageFormat, versions: [String], into out: inout PageBytes) {
        switch format {
        case .json:
            out.raw("],\"versions\":[")
            for (i, v) in versions.enumerated() {
                if i > 0 { out.raw(",") }
                out.quoted(v)
            }
            out.raw("]}")
        case .html, .legacyHTML:
            out.raw("  </body>\n</html>\n")
        }
    }

    static func fileURL(_ file: DistributionFile, key: FileKey, prefix: String) -> String {
        "\(prefix)\(key.hashDirectory)/\(key.hashSubdirectory)/\(percentEncode(file.filename))"
    }

    public static func html(_ page: ProjectPage, filesPrefix: String) -> String {
        String(decoding: render(page, as: .html, filesPrefix: filesPrefix), as: UTF8.self)
    }

    public static func json(_ page: ProjectPage, filesPrefix: String) -> String {
        String(decoding: render(page, as: .json, filesPrefix: filesPrefix), as: UTF8.self)
    }

    private static func html(_ file: DistributionFile, key: FileKey, filesPrefix: String, into out: inout PageBytes) {
        out.raw("    <a href=\"")
        out.html(filesPrefix)
        out.fileLocation(key, filename: file.filename)
        if let sha = file.sha256 {
            out.raw("#sha256=")
            out.html(sha)
        }
        out.raw("\"")
        if let rp = file.requiresPython {
            out.raw(" data-requires-python=\"")
            out.html(rp)
            out.raw("\"")
        }
        if let reason = file.yanked {
            out.raw(" data-yanked=\"")
            out.html(reason)
            out.raw("\"")
        }
        if let metadata = file.coreMetadata {
            // PEP 714: the new name, and the old one for older clients.
            let value = metadata.isEmpty ? "true" : "sha256=" + metadata
            out.raw(" data-core-metadata=\"")
            out.html(value)
            out.raw("\" data-dist-info-metadata=\"")
            out.html(value)
            out.raw("\"")
        }
        out.raw(">")
        out.html(file.filename)
        out.raw("</a><br/>\n")
    }

    private static func json(_ file: DistributionFile, key: FileKey, filesPrefix: String, first: Bool, into out: inout PageBytes) {
        out.raw(first ? "{\"filename\":" : ",{\"filename\":")
        out.quoted(file.filename)
        out.raw(",\"url\":\"")
        out.jsonEscaped(filesPrefix)
        out.fileLocation(key, filename: file.filename)
        out.raw("\",\"hashes\":{")
        if let sha = file.sha256 {
            out.raw("\"sha256\":")
            out.quoted(sha)
        }
        out.raw("}")
        if let rp = file.requiresPython {
            out.raw(",\"requires-python\":")
            out.quoted(rp)
        }
        if let reason = file.yanked {
            out.raw(",\"yanked\":")
            if reason.isEmpty { out.raw("true") } else { out.quoted(reason) }
        }
        if let size = file.size { out.raw(",\"size\":\(size)") }
        if let t = file.uploadTime {
            out.raw(",\"upload-time\":")
            out.quoted(t)
        }
        if let metadata = file.coreMetadata {
            // PEP 714: JSON carries only the new key; pip 22.3-23.1 crash on the old one.
            if metadata.isEmpty {
                out.raw(",\"core-metadata\":true")
            } else {
                out.raw(",\"core-metadata\":{\"sha256\":")
                out.quoted(metadata)
                out.raw("}")
            }
        }
        out.raw("}")
    }

    /// PEP 700 `versions`: upstream's, or else the versions in the filenames, in first-seen order.
    static func versions(of page: ProjectPage) -> [String] {
        if let versions = page.versions { return versions }
        var seen: Set<String> = []
        return page.files.compactMap(\.version).filter { seen.insert($0).inserted }
    }

    /// A JSON string literal.
    static func quote(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if ch.value < 0x20 {
                    let hex = String(ch.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        return out + "\""
    }

    /// Percent-encodes all but RFC 3986 unreserved characters and a few that
    /// are safe in a path segment and common in filenames.
    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }
}

/// The bytes of a page being rendered, with the escapings pages need. Every string
/// is checked once and copied whole when it needs no escaping (the common case).
struct PageBytes {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    /// The bytes written since the last take (a slice of a page rendered in parts).
    mutating func take() -> [UInt8] {
        defer { bytes.removeAll(keepingCapacity: true) }
        return bytes
    }

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    /// A JSON string literal (as `PageRenderer.quote`).
    mutating func quoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        jsonEscaped(s)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends the string whole when `needsEscaping` finds nothing in it (one pass over
    /// contiguous bytes); false when it must be escaped byte by byte.
    private mutating func appendWhole(_ s: String, unless needsEscaping: (UInt8) -> Bool) -> Bool {
        var s = s
        return s.withUTF8 { buffer in
            for b in buffer where needsEscaping(b) { return false }
            bytes.append(contentsOf: buffer)
            return true
        }
    }

    mutating func jsonEscaped(_ s: String) {
        if appendWhole(s, unless: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) { return }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case ..<0x20:
                raw("\\u00")
                bytes.append(PageBytes.hexDigit(b >> 4))
                bytes.append(PageBytes.hexDigit(b & 0xF))
            default: bytes.append(b)
            }
        }
    }

    /// HTML text or attribute (as `HTMLEscaping.escape`).
    mutating func html(_ s: String) {
        let special = { (b: UInt8) in
            b == UInt8(ascii: "&") || b == UInt8(ascii: "<") || b == UInt8(ascii: ">") || b == UInt8(ascii: "\"") || b == UInt8(ascii: "'")
        }
        if appendWhole(s, unless: special) { return }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "&"): raw("&amp;")
            case UInt8(ascii: "<"): raw("&lt;")
            case UInt8(ascii: ">"): raw("&gt;")
            case UInt8(ascii: "\""): raw("&quot;")
            case UInt8(ascii: "'"): raw("&#39;")
            default: bytes.append(b)
            }
        }
    }

    /// `<hashDirectory>/<hashSubdirectory>/<percent-encoded filename>` (as `PageRenderer.fileURL`);
    /// none of it ever needs JSON or HTML escaping.
    mutating func fileLocation(_ key: FileKey, filename: String) {
        key.appendHashPath(to: &bytes)
        if appendWhole(filename, unless: { !PageBytes.isUnreserved($0) }) { return }
        for b in filename.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"):
                bytes.append(b)
            default:
                bytes.append(UInt8(ascii: "%"))
                bytes.append(PageBytes.hexDigit(b >> 4, uppercase: true))
                bytes.append(PageBytes.hexDigit(b & 0xF, uppercase: true))
            }
        }
    }

    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"): true
        default: false
        }
    }

    static func hexDigit(_ v: UInt8, uppercase: Bool = false) -> UInt8 {
        v < 10 ? UInt8(ascii: "0") + v : (uppercase ? UInt8(ascii: "A") : UInt8(ascii: "a")) + v - 10
    }
}
