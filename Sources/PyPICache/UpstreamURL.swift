import FoundationEssentials

/// Makes a file link of an upstream page absolute, against the URL that answered.
/// PyPI lists absolute https links: those take a byte-level fast path (Foundation's
/// URL costs microseconds per link, seconds for a page of 100,000 files). Anything
/// the fast path is not sure of (relative links, dot segments, percent-escapes,
/// unusual characters) goes through Foundation, as every link did before.
struct UpstreamURLResolver {
    let base: String
    /// Parsed once per page, not once per link.
    private let baseURL: URL?

    init(base: String) {
        self.base = base
        baseURL = URL(string: base)
    }

    /// The absolute URL without its fragment, and the fragment's sha256 if it has one.
    /// nil for anything but http(s).
    func resolve(_ raw: String) -> (url: String, fragmentHash: String?)? {
        if let fast = UpstreamURLResolver.plainAbsolute(raw) { return fast }
        guard let url = URL(string: raw, relativeTo: baseURL) else { return nil }
        let absolute = url.absoluteURL
        guard let scheme = absolute.scheme?.lowercased(), scheme == "http" || scheme == "https" else { return nil }
        var hash: String?
        if let fragment = absolute.fragment, fragment.hasPrefix("sha256=") {
            hash = String(fragment.dropFirst("sha256=".count))
        }
        var text = absolute.absoluteString
        if let hashMark = text.firstIndex(of: "#") { text = String(text[..<hashMark]) }
        return (text, hash)
    }

    /// `http(s)://host[:port]/path[?query][#fragment]` made only of characters RFC 3986
    /// allows as they stand, with no dot segments: Foundation would return it unchanged,
    /// so it is returned unchanged without asking (Tests: UpstreamURLTests compares both).
    static func plainAbsolute(_ raw: String) -> (url: String, fragmentHash: String?)? {
        var raw = raw
        return raw.withUTF8 { b -> (String, String?)? in
            let schemeLength: Int
            if startsWith(b, "https://") { schemeLength = 8 } else if startsWith(b, "http://") { schemeLength = 7 } else { return nil }
            var i = schemeLength
            // Authority: a host name or IPv4 address, an optional numeric port. No user info.
            let hostStart = i
            while i < b.count, isHostByte(b[i]) { i += 1 }
            guard i > hostStart else { return nil }
            if i < b.count, b[i] == UInt8(ascii: ":") {
                i += 1
                let portStart = i
                while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
                guard i > portStart, i - portStart <= 5 else { return nil }
            }
            guard i == b.count || b[i] == UInt8(ascii: "/") else { return nil }
            // Path and query.
            var previous: UInt8 = 0
            while i < b.count, b[i] != UInt8(ascii: "#") {
                let c = b[i]
                guard isPlainByte(c) else { return nil }
                // "/." may start a dot segment, which resolution would remove.
                if previous == UInt8(ascii: "/"), c == UInt8(ascii: ".") { return nil }
                previous = c
                i += 1
            }
            let end = i
            guard end < b.count else { return (String(decoding: b, as: UTF8.self), nil) }
            // Fragment: kept out of the URL; a sha256 in it is the file's hash.
            i += 1
            let fragmentStart = i
            while i < b.count {
                guard isPlainByte(b[i]) else { return nil }
                i += 1
            }
            let url = String(decoding: UnsafeBufferPointer(rebasing: b[..<end]), as: UTF8.self)
            let fragment = UnsafeBufferPointer(rebasing: b[fragmentStart...])
            guard startsWith(fragment, "sha256=") else { return (url, nil) }
            return (url, String(decoding: UnsafeBufferPointer(rebasing: fragment[7...]), as: UTF8.self))
        }
    }

    private static func startsWith(_ b: UnsafeBufferPointer<UInt8>, _ prefix: StaticString) -> Bool {
        guard b.count >= prefix.utf8CodeUnitCount else { return false }
        let p = prefix.utf8Start
        for k in 0..<prefix.utf8CodeUnitCount where b[b.startIndex + k] != p[k] { return false }
        return true
    }

    private static func isHostByte(_ c: UInt8) -> Bool {
        (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
    }

    /// Unreserved and sub-delimiter characters, ':', '@', '/', '?': no '%' (Foundation
    /// might re-encode an escape), no spaces, quotes, brackets or non-ASCII.
    private static func isPlainByte(_ c: UInt8) -> Bool {
        switch c {
        case 97...122, 65...90, 48...57: return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
             UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="),
             UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "/"), UInt8(ascii: "?"):
            return true
        default: return false
        }
    }
}
