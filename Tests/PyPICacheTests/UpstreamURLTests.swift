import Testing
@testable import PyPICache

/// The fast path for absolute links must give exactly what Foundation's URL gave.
@Suite struct UpstreamURLTests {
    let base = "https://index.example/simple/demo/"
    let links = [
        "https://files.example/packages/ab/cd/ef/demo-1.0-py3-none-any.whl",
        "https://files.example/p/demo-1.0.tar.gz#sha256=ABCDEF0123", "https://files.example/p/x#md5=00", "https://h/x#",
        "http://127.0.0.1:8080/files/demo-1.0.tar.gz", "http://h", "http://h/", "http://h:80", "https://h:/x", "https://h:99999/x",
        "https://h:65535/x", "https://h/x?y=1&z=/a#sha256=aa", "https://h/~u/(x)*'!$,;=:@+-._", "https://h/x#sha256=ab#c",
        "https://h/a/./b", "https://h/a/../b", "https://h/a/.", "https://h/a/..", "https://h/.hidden", "https://h/a%20b", "https://h/a b",
        "https://H.example/x", "HTTPS://h/x", "https://user@h/x", "https://[::1]/x", "https://1.2.3.4/x", "https://-h-/x",
        "https://h..example/x", "https://h/é", "https://h/x\"y", "https://h/x<y>", "https://h/x|y", "https://h/x\\y", "https://h/x^`{}",
        "https://", "https:///x", "https:x", "//h/x", "/x", "x", "../../x#sha256=CC", "", "ftp://h/x", "javascript:alert(1)",
        "https://h/x#sha256=", "https://h?q", "https://h#f",
    ]

    @Test func fastPathAgreesWithFoundation() {
        for link in links {
            let old = OldPageDecoder.resolve(link, against: base)
            let new = UpstreamURLResolver(base: base).resolve(link)
            #expect(old?.0 == new?.url && old?.1 == new?.fragmentHash, "\(link): \(String(describing: old)) vs \(String(describing: new))")
            if let fast = UpstreamURLResolver.plainAbsolute(link) {
                #expect(fast.url == old?.0 && fast.fragmentHash == old?.1, "fast path for \(link)")
            }
        }
    }

    @Test func theFastPathTakesPyPIsLinks() {
        #expect(UpstreamURLResolver.plainAbsolute("https://files.pythonhosted.org/packages/3d/b5/demo-1.0-py3-none-any.whl#sha256=ab") != nil)
        #expect(UpstreamURLResolver.plainAbsolute("../../x") == nil)
    }
}
