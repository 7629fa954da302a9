import Glibc

/// What kind of network an IP address belongs to, for the rule that upstream
/// fetches never reach loopback, link-local or private addresses (SSRF: a page
/// link or a redirect to 127.0.0.1, 10.0.0.0/8 or the cloud metadata service at
/// 169.254.169.254) unless the configured upstream itself lives there.
public enum AddressClass: String, Sendable, CaseIterable {
    case `public`
    /// 127.0.0.0/8, ::1, and the unspecified 0.0.0.0/8 and :: (which reach this host).
    case loopback
    /// 169.254.0.0/16, fe80::/10.
    case linkLocal = "link-local"
    /// RFC 1918, carrier-grade NAT 100.64.0.0/10, unique-local fc00::/7, site-local fec0::/10.
    case privateNetwork = "private"
    /// Multicast, broadcast, 240.0.0.0/4: never a web server.
    case reserved

    public init(ipv4 b: [UInt8]) {
        precondition(b.count == 4)
        switch (b[0], b[1]) {
        case (0, _), (127, _): self = .loopback
        case (10, _), (172, 16...31), (192, 168), (100, 64...127): self = .privateNetwork
        case (169, 254): self = .linkLocal
        case (224...255, _): self = .reserved
        default: self = .public
        }
    }

    public init(ipv6 b: [UInt8]) {
        precondition(b.count == 16)
        let first12Zero = b[0..<12].allSatisfy { $0 == 0 }
        if first12Zero && b[12..<15].allSatisfy({ $0 == 0 }) && (b[15] == 0 || b[15] == 1) {
            self = .loopback  // :: and ::1
        } else if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff {
            self = AddressClass(ipv4: Array(b[12..<16]))  // ::ffff:a.b.c.d, IPv4-mapped
        } else if first12Zero {
            self = AddressClass(ipv4: Array(b[12..<16]))  // ::a.b.c.d, IPv4-compatible (deprecated)
        } else if b[0] == 0x00, b[1] == 0x64, b[2] == 0xff, b[3] == 0x9b, b[4..<12].allSatisfy({ $0 == 0 }) {
            self = AddressClass(ipv4: Array(b[12..<16]))  // 64:ff9b::/96, NAT64
        } else if b[0] == 0xfe && b[1] & 0xc0 == 0x80 {
            self = .linkLocal
        } else if b[0] & 0xfe == 0xfc || (b[0] == 0xfe && b[1] & 0xc0 == 0xc0) {
            self = .privateNetwork
        } else if b[0] == 0xff {
            self = .reserved
        } else {
            self = .public
        }
    }

    /// An address in text form ("10.1.2.3", "::1", "[fe80::1]"); nil when it is not one.
    public init?(literal: String) {
        var text = literal
        if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = withUnsafeBytes(of: &v4) { AddressClass(ipv4: Array($0)) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            self = withUnsafeBytes(of: &v6) { AddressClass(ipv6: Array($0)) }
        } else {
            return nil
        }
    }
}

/// Which addresses upstream connections may reach. Public addresses always; a
/// loopback, link-local or private one only when the configured upstream host
/// itself resolved to that kind of address (a devpi on localhost, an Artifactory
/// on 10.x): its files may live beside it. Checked on every connection, after
/// DNS resolution and after every redirect (see Transfer's open-socket callback),
/// so neither a page link nor a redirect nor DNS can point a fetch inward.
public final class ConnectPolicy {
    /// The configured upstream's host, lower-cased, without brackets or port.
    public let upstreamHost: String
    /// Non-public kinds of address the upstream itself was found on.
    public private(set) var trusted: Set<AddressClass> = []
    /// False when an HTTP proxy from the environment is used: then every connection
    /// goes to the proxy, which resolves names itself, and nothing can be checked here.
    public let enforced: Bool

    public init(upstreamURL: String, environment: [String: String]) {
        upstreamHost = ConnectPolicy.host(of: upstreamURL) ?? ""
        let proxyVariables = ["http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
        enforced = !proxyVariables.contains { !(environment[$0] ?? "").isEmpty }
        if let literal = AddressClass(literal: upstreamHost), literal != .public {
            trusted.insert(literal)
        } else if upstreamHost == "localhost" || upstreamHost.hasSuffix(".localhost") {
            trusted.insert(.loopback)
        }
    }

    /// Whether a connection to an address of `kind`, made for a URL on `host`, may go ahead.
    public func permits(_ kind: AddressClass, host: String?) -> Bool {
        if !enforced || kind == .public { return true }
        if let host, host == upstreamHost {
            trusted.insert(kind)  // the upstream's own network: its files may live there too
            return true
        }
        return trusted.contains(kind)
    }

    /// The host of an absolute http(s) URL: lower-cased, no userinfo, port or brackets.
    public static func host(of url: String) -> String? {
        let chars = Array(url.utf8)
        guard let colon = chars.firstIndex(of: UInt8(ascii: ":")), chars.count > colon + 2,
              chars[colon + 1] == UInt8(ascii: "/"), chars[colon + 2] == UInt8(ascii: "/") else { return nil }
        var authority = Substring(String(decoding: chars[(colon + 3)...], as: UTF8.self))
        if let end = authority.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { authority = authority[..<end] }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            return String(authority[authority.index(after: authority.startIndex)..<close]).lowercased()
        }
        if let colon = authority.lastIndex(of: ":") { authority = authority[..<colon] }
        return authority.isEmpty ? nil : authority.lowercased()
    }
}
