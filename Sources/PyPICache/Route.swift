/// Where a request path leads. Parsing is pure: it decides, the proxy acts.
///
/// Paths are split into segments first and each segment is percent-decoded on
/// its own, so `%2F` can never make a new segment and `.`/`..` (however
/// encoded) are refused before anything looks at the disk.
public enum Route: Equatable, Sendable {
    case home
    /// The web page of one project's cached files (devpi-web's /root/pypi/<project>).
    case projectWeb(ProjectName)
    case status
    case metrics
    case projectList
    /// `alias`: requested under `/simple/` rather than `/root/pypi/+simple/`.
    case project(ProjectName, alias: Bool)
    case file(FileKey)
    case redirect(String)
    case notFound(String)
    case badRequest(String)

    public static let simplePrefix = "/root/pypi/+simple/"
    public static let aliasPrefix = "/simple/"
    /// The segment of the file URLs pages link to (`/root/pypi/files/...`).
    public static let filesSegment = "files"

    public static func parse(path: Substring, query: Substring? = nil) -> Route {
        // Byte-wise throughout: paths are ASCII, and Character iteration is slow.
        var segments: [String] = []
        for raw in path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst() {
            guard let decoded = percentDecode(raw) else { return .badRequest("malformed percent-encoding in path") }
            if decoded == "." || decoded == ".." { return .badRequest("path traversal is not allowed") }
            if decoded.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") || $0 == 0 }) {
                return .badRequest("encoded separator in path")
            }
            segments.append(decoded)
        }
        let suffix = query.map { "?" + $0 } ?? ""
        // Repeated slashes (pipenv asks for `+simple//six/`): redirect to the collapsed
        // path rather than serve it, since page links are relative to the page's URL.
        // The collapsed path never starts with `//`, so this cannot redirect off-site.
        if segments.dropLast().contains("") {
            let collapsed = segments.enumerated().filter { !$0.element.isEmpty || $0.offset == segments.count - 1 }.map(\.element)
            return .redirect("/" + collapsed.map(percentEncodeSegment).joined(separator: "/") + suffix)
        }

        switch segments {
        case [""]:
            return .home
        case ["+status"]:
            return .status
        case ["+metrics"]:
            return .metrics
        case ["root", "pypi", "+simple", ""], ["simple", ""]:
            return .projectList
        case ["root", "pypi", "+simple"], ["simple"]:
            return .redirect("/" + segments.joined(separator: "/") + "/" + suffix)
        case let s where s.count >= 4 && s[0] == "root" && s[1] == "pypi" && s[2] == "+simple":
            return project(Array(s.dropFirst(3)), prefix: simplePrefix, alias: false, suffix: suffix)
        case let s where s.count >= 2 && s[0] == "simple":
            return project(Array(s.dropFirst(1)), prefix: aliasPrefix, alias: true, suffix: suffix)
        case let s where s.count == 3 && s[0] == "root" && s[1] == "pypi" && !s[2].hasPrefix("+"):
            guard let name = ProjectName(s[2]) else { return .notFound("not a valid project name") }
            return .projectWeb(name)
        // `files` is what pages link to: a path with no `+`, which pip quotes character by
        // character (2,000 links: ~0.2 s of pip's CPU per page); `+f` is devpi's, still served.
        case let s where s.count == 6 && s[0] == "root" && s[1] == "pypi" && (s[2] == "+f" || s[2] == filesSegment):
            guard let key = FileKey(hashDirectory: s[3], hashSubdirectory: s[4], filename: s[5]) else {
                return .notFound("not a valid file path")
            }
            return .file(key)
        default:
            return .notFound("no such page (project pages are under \(simplePrefix)<project>/)")
        }
    }

    /// `rest`: the segments after the simple prefix: [name] or [name, ""].
    private static func project(_ rest: [String], prefix: String, alias: Bool, suffix: String) -> Route {
        guard rest.count <= 2, rest.count == 1 || rest[1].isEmpty, let name = ProjectName(rest[0]) else {
            return .notFound("not a valid project name")
        }
        if rest.count == 1 || name.normalized != rest[0] {
            return .redirect(prefix + name.normalized + "/" + suffix)
        }
        return .project(name, alias: alias)
    }

    /// The percent-decoded value of `name` in a query string. `+` stays `+`: PEP 691
    /// writes `?format=application/vnd.pypi.simple.v1+json` unencoded.
    public static func queryValue(_ name: String, in query: Substring?) -> String? {
        guard let query else { return nil }
        for pair in query.utf8.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, String(Substring(parts[0])) == name else { continue }
            return percentDecode(parts[1])
        }
        return nil
    }

    /// Encodes a decoded segment for a Location header: what is not plainly safe in a path.
    static func percentEncodeSegment(_ segment: String) -> String {
        var out = ""
        for b in segment.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "!"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }

    /// Decodes %XX escapes; nil for a malformed escape or invalid UTF-8.
    static func percentDecode(_ s: some Collection<UInt8>) -> String? {
        guard s.contains(UInt8(ascii: "%")) else { return String(validating: s, as: UTF8.self) }
        var out: [UInt8] = []
        var bytes = s.makeIterator()
        while let b = bytes.next() {
            if b != UInt8(ascii: "%") { out.append(b); continue }
            guard let h = bytes.next(), let l = bytes.next(), let hi = hexValue(h), let lo = hexValue(l) else { return nil }
            out.append(hi << 4 | lo)
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
