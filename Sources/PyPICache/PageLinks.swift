/// Where a page's file links point. pip turns every link that is not an absolute
/// http(s) URL into one with `urljoin`, and re-quotes any path holding a character
/// outside `A-Za-z0-9_.-~/` one character at a time: on a 2,000-file page the two cost
/// pip ~0.3 s of CPU per page, twice what the page from PyPI (absolute links) costs it.
/// So pages link absolutely, to `/root/pypi/files/` on the host the client asked
/// (`Host`, and `X-Forwarded-Proto` from a TLS front end), when that host is plainly a
/// host name; otherwise, or with `--relative-links`, relative to the page as before.
///
/// A body rendered for one host is kept for that host only (`RenderedPages.Key.linkBase`);
/// the first `maxHosts` distinct hosts get absolute links, later ones relative links, so a
/// client spraying `Host` values cannot grow memory or push real clients' bodies out.
struct PageLinks {
    static let maxHosts = 8
    /// The hosts in use; `RenderedPages.Key.linkBase` i (from 1) is `hosts[i - 1]`.
    private var hosts: [(name: String, https: Bool, prefix: String)] = []
    var bases: [String] { hosts.map(\.prefix) }
    let relativeOnly: Bool

    init(relativeOnly: Bool) { self.relativeOnly = relativeOnly }

    /// The link base for a request: 0 for links relative to the page, else the
    /// 1-based index of an absolute prefix.
    mutating func base(host: String?, forwardedProto: String?) -> Int {
        guard !relativeOnly, let host, PageLinks.isPlainHost(host) else { return 0 }
        let https = forwardedProto.map { $0.count == 5 && $0.lowercased() == "https" } ?? false
        // Clients spell their host the same way every time: compare as sent first.
        if let i = hosts.firstIndex(where: { $0.https == https && $0.name == host }) { return i + 1 }
        let name = host.lowercased()
        if let i = hosts.firstIndex(where: { $0.https == https && $0.name == name }) { return i + 1 }
        guard hosts.count < PageLinks.maxHosts else { return 0 }
        hosts.append((name, https, "\(https ? "https" : "http")://\(name)/root/pypi/\(Route.filesSegment)/"))
        return hosts.count
    }

    /// What file links start with for a link base; relative ones depend on the page's path.
    func prefix(_ base: Int, alias: Bool) -> String {
        if base > 0 { return hosts[base - 1].prefix }
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
