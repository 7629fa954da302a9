/// Where a page's file links point. pip turns every link that is not an absolute
/// http(s) URL into one with `urljoin`, and re-quotes any path holding a character
/// outside `A-Za-z0-9_.-~/` one character at a time: on a 2,000-file page the two cost
/// pip ~0.3 s of CPU per page, twice what the page from PyPI (absolute links) costs it.
/// So pages link absolutely, to `/root/pypi/files/` on the host the client asked
/// (`Host`, or what a front end says: `X-Outside-URL`, `X-Forwarded-Host`,
/// `X-Forwarded-Proto`), when that is plainly a host name; otherwise, behind a proxy that
/// does not say, or with `--relative-links`, relative to the page as before.
///
/// A body rendered for one host is kept for that host only (`RenderedPages.Key.linkBase`);
/// the first `maxHosts` distinct hosts get absolute links, later ones relative links, so a
/// client spraying `Host` values cannot grow memory or push real clients' bodies out.
struct PageLinks {
    static let maxHosts = 8
    /// The absolute prefixes in use; `RenderedPages.Key.linkBase` i (from 1) is `prefixes[i - 1]`.
    private var prefixes: [String] = []
    var bases: [String] { prefixes }
    let relativeOnly: Bool

    init(relativeOnly: Bool) { self.relativeOnly = relativeOnly }

    /// The link base for a request: 0 for links relative to the page, else the 1-based index
    /// of an absolute prefix. Where the client reached us, in order of trust:
    /// - `X-Outside-URL` (devpi's header for its front ends: scheme, host, optional path prefix);
    /// - `X-Forwarded-Host` (its first value), with `X-Forwarded-Proto`;
    /// - `Host`, unless the request came through a proxy that named no outside host
    ///   (`proxied`: X-Forwarded-For, X-Real-IP, Forwarded or Via): nginx's default sends its
    ///   own upstream name as Host, which a client cannot reach, so such pages stay relative.
    mutating func base(host: String?, forwardedProto: String?, forwardedHost: String? = nil, outsideURL: String? = nil,
                       proxied: Bool = false) -> Int {
        guard !relativeOnly, let origin = PageLinks.origin(host: host, forwardedProto: forwardedProto, forwardedHost: forwardedHost,
                                                           outsideURL: outsideURL, proxied: proxied) else { return 0 }
        let prefix = origin + "/root/pypi/\(Route.filesSegment)/"
        if let i = prefixes.firstIndex(of: prefix) { return i + 1 }
        guard prefixes.count < PageLinks.maxHosts else { return 0 }
        prefixes.append(prefix)
        return prefixes.count
    }

    /// `scheme://host[:port][/path]` for absolute links, nil for relative ones.
    static func origin(host: String?, forwardedProto: String?, forwardedHost: String?, outsideURL: String?, proxied: Bool) -> String? {
        if let outsideURL { return origin(outsideURL: outsideURL) }
        let https = forwardedProto.map { $0.count == 5 && $0.lowercased() == "https" } ?? false
        let named: String?
        if let forwardedHost {
            named = forwardedHost.split(separator: ",", maxSplits: 1).first.map { $0.trimmingCharacters(in: " \t") }
        } else {
            named = proxied ? nil : host
        }
        guard let named, isPlainHost(named) else { return nil }
        return "\(https ? "https" : "http")://\(named.lowercased())"
    }

    /// devpi's `X-Outside-URL`: `http(s)://host[:port]` and an optional path of plain segments.
    static func origin(outsideURL: String) -> String? {
        let lower = outsideURL.lowercased()
        let scheme = lower.hasPrefix("https://") ? "https" : lower.hasPrefix("http://") ? "http" : nil
        guard let scheme else { return nil }
        let rest = outsideURL.dropFirst(scheme.count + 3)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let host = String(rest[..<slash])
        var path = String(rest[slash...])
        while path.hasSuffix("/") { path.removeLast() }
        let pathBytes = Array(path.utf8)
        guard isPlainHost(host), pathBytes.allSatisfy({ isNameByte($0) || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "~") }),
              !path.contains("//"), !path.split(separator: "/").contains(where: { $0 == "." || $0 == ".." }) else { return nil }
        return "\(scheme)://\(host.lowercased())\(path)"
    }

    /// What file links start with for a link base; relative ones depend on the page's path.
    func prefix(_ base: Int, alias: Bool) -> String {
        if base > 0 { return prefixes[base - 1] }
        // /root/pypi/+simple/<p>/ and /simple/<p>/ both reach /root/pypi/files/.
        return alias ? "../../root/pypi/\(Route.filesSegment)/" : "../../\(Route.filesSegment)/"
    }

    /// `name`, `name:port`, `1.2.3.4:port` or `[v6]:port`, nothing else: no user info,
    /// path, spaces or quotes can reach a link through `Host`.
    static func isPlainHost(_ host: String) -> Bool {
        let bytes = Array(host.utf8)
        guard !bytes.isEmpty, bytes.count <= 255 else { return false }
        var i = 0
        if bytes[0] == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return false }
            guard bytes[1..<close].allSatisfy({ isHex($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else { return false }
            i = close + 1
        } else {
            while i < bytes.count, isNameByte(bytes[i]) { i += 1 }
            guard i > 0, bytes[0] != UInt8(ascii: "-"), bytes[0] != UInt8(ascii: ".") else { return false }
        }
        if i == bytes.count { return true }
        guard bytes[i] == UInt8(ascii: ":") else { return false }
        let port = bytes[(i + 1)...]
        guard (1...5).contains(port.count), port.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return false }
        return port.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) } <= 65535
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
    }

    private static func isHex(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || (b | 0x20 >= UInt8(ascii: "a") && b | 0x20 <= UInt8(ascii: "f"))
    }
}
