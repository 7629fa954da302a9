import Testing
@testable import PyPICache

@Suite struct PageLinksTests {
    @Test(arguments: ["devpi:3141", "localhost", "h:65535", "127.0.0.1:8080", "[::1]:3141", "[fe80::1]", "Files.Example.COM"])
    func plainHostsGiveAbsoluteLinks(host: String) {
        var links = PageLinks(relativeOnly: false)
        let base = links.base(host: host, forwardedProto: nil)
        #expect(base == 1)
        #expect(links.prefix(base, alias: true) == "http://\(host.lowercased())/root/pypi/files/")
    }

    @Test(arguments: ["", "evil.com/x", "user@host", "host:", "host:123456", "host:65536", "host:80x", "a b", "\"q\"", "-x", ".x",
                      "[::1", "[]:80", "[::1]x", "host\r\nX-Injected: 1", "h:1:2", String(repeating: "a", count: 256)])
    func anythingElseGivesRelativeLinks(host: String) {
        var links = PageLinks(relativeOnly: false)
        let base = links.base(host: host, forwardedProto: nil)
        #expect(base == 0)
        #expect(links.prefix(base, alias: false) == "../../files/")
        #expect(links.prefix(base, alias: true) == "../../root/pypi/files/")
    }

    @Test func missingHostOrRelativeLinksOptionGiveRelativeLinks() {
        var links = PageLinks(relativeOnly: false)
        #expect(links.base(host: nil, forwardedProto: nil) == 0)
        var relative = PageLinks(relativeOnly: true)
        #expect(relative.base(host: "devpi:3141", forwardedProto: nil) == 0)
    }

    @Test func forwardedProtoHTTPSOnlyChangesTheScheme() {
        var links = PageLinks(relativeOnly: false)
        let tls = links.base(host: "pypi.corp", forwardedProto: "HTTPS")
        let plain = links.base(host: "pypi.corp", forwardedProto: "gopher")
        #expect(links.prefix(tls, alias: false) == "https://pypi.corp/root/pypi/files/")
        #expect(links.prefix(plain, alias: false) == "http://pypi.corp/root/pypi/files/")
        #expect(tls != plain)
    }

    @Test func sameHostSameBaseAndAFewHostsAtMost() {
        var links = PageLinks(relativeOnly: false)
        #expect(links.base(host: "a", forwardedProto: nil) == links.base(host: "A", forwardedProto: nil))
        for i in 0..<PageLinks.maxHosts * 4 { _ = links.base(host: "h\(i)", forwardedProto: nil) }
        // Past the first few hosts, links are relative: bodies kept per host stay bounded.
        #expect(links.bases.count == PageLinks.maxHosts)
        #expect(links.base(host: "one-more", forwardedProto: nil) == 0)
        #expect(links.base(host: "a", forwardedProto: nil) == 1)
    }

    @Test func aFrontEndThatSaysWhereClientsAreIsBelieved() {
        var links = PageLinks(relativeOnly: false)
        // devpi's nginx configuration: X-Outside-URL, with or without a path prefix.
        let devpi = links.base(host: "backend", forwardedProto: nil, outsideURL: "http://localhost:8080", proxied: true)
        #expect(links.prefix(devpi, alias: false) == "http://localhost:8080/root/pypi/files/")
        let prefixed = links.base(host: "backend", forwardedProto: nil, outsideURL: "HTTPS://Pypi.Corp/devpi/", proxied: true)
        #expect(links.prefix(prefixed, alias: false) == "https://pypi.corp/devpi/root/pypi/files/")
        // X-Forwarded-Host (its first value) with X-Forwarded-Proto.
        let forwarded = links.base(host: "backend", forwardedProto: "https", forwardedHost: "pypi.corp:8443, inner", proxied: true)
        #expect(links.prefix(forwarded, alias: false) == "https://pypi.corp:8443/root/pypi/files/")
    }

    @Test func aProxyThatSaysNothingGetsRelativeLinks() {
        // nginx's default Host is its own upstream name, unreachable for clients.
        var links = PageLinks(relativeOnly: false)
        #expect(links.base(host: "backend", forwardedProto: nil, proxied: true) == 0)
        #expect(links.base(host: "backend", forwardedProto: nil, proxied: false) == 1)
    }

    @Test(arguments: ["ftp://h", "http://", "http://a b", "http://h/../x", "http://h/a//b", "http://h/a?q", "http://u@h", "//h", "h"])
    func oddOutsideURLsGiveRelativeLinks(url: String) {
        var links = PageLinks(relativeOnly: false)
        #expect(links.base(host: "devpi:3141", forwardedProto: nil, outsideURL: url) == 0)
    }
}
