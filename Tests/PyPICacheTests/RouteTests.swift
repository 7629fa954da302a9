import Testing
@testable import PyPICache

@Suite struct RouteTests {
    func route(_ path: String) -> Route {
        let parts = path.split(separator: "?", maxSplits: 1)
        return Route.parse(path: parts[0], query: parts.count > 1 ? parts[1] : nil)
    }

    @Test func projectPages() {
        #expect(route("/root/pypi/+simple/django/") == .project(ProjectName("django")!, alias: false))
        #expect(route("/simple/django/") == .project(ProjectName("django")!, alias: true))
        #expect(route("/root/pypi/+simple/Django/") == .redirect("/root/pypi/+simple/django/"))
        #expect(route("/root/pypi/+simple/django") == .redirect("/root/pypi/+simple/django/"))
        #expect(route("/simple/Zope.Interface?format=json") == .redirect("/simple/zope-interface/?format=json"))
        #expect(route("/root/pypi/+simple/") == .projectList)
        #expect(route("/simple") == .redirect("/simple/"))
    }

    @Test func files() {
        let key = FileKey(hashDirectory: "abc", hashSubdirectory: "0123456789abc", filename: "a-1.0.tar.gz")!
        #expect(route("/root/pypi/+f/abc/0123456789abc/a-1.0.tar.gz") == .file(key))
        #expect(route("/root/pypi/%2Bf/abc/0123456789abc/a-1.0.tar.gz") == .file(key))
        #expect(route("/root/pypi/%2bf/abc/0123456789abc/a%2D1.0.tar.gz") == .file(key))
        let plus = FileKey(hashDirectory: "abc", hashSubdirectory: "0123456789abc", filename: "a-1.0+local.tar.gz")!
        #expect(route("/root/pypi/+f/abc/0123456789abc/a-1.0%2Blocal.tar.gz") == .file(plus))
        // What pages link to: the same files under a path pip need not re-quote.
        #expect(route("/root/pypi/files/abc/0123456789abc/a-1.0.tar.gz") == .file(key))
        #expect(route("/root/pypi/files/../../etc/passwd") == .badRequest("path traversal is not allowed"))
    }

    @Test(arguments: [
        "/root/pypi/+f/../../etc/passwd", "/root/pypi/+f/%2e%2e/x", "/root/pypi/+f/abc/0123456789abc/..%2fpasswd",
        "/simple/%2E%2E/", "/root/pypi/+f/abc/0123456789abc/%00", "/a/%zz", "/root/pypi/+simple/./",
    ])
    func traversalAndMalformedPathsAreBadRequests(path: String) {
        guard case .badRequest = route(path) else {
            Issue.record("\(path) -> \(route(path))"); return
        }
    }

    /// pipenv asks for `+simple//six/`; relative page links only work from the canonical URL.
    @Test func repeatedSlashesRedirectToTheCollapsedPath() {
        #expect(route("/root/pypi/+simple//six/") == .redirect("/root/pypi/+simple/six/"))
        #expect(route("//simple///Six//?format=json") == .redirect("/simple/Six/?format=json"))
        #expect(route("/root//pypi/+f/abc/0123456789abc/a-1.0%2Blocal.tar.gz") == .redirect("/root/pypi/+f/abc/0123456789abc/a-1.0+local.tar.gz"))
        #expect(route("//evil.example/x") == .redirect("/evil.example/x"), "never a protocol-relative Location")
        #expect(route("/root/pypi/+simple/six/") == .project(ProjectName("six")!, alias: false))
    }

    @Test(arguments: ["/etc/passwd", "/root/pypi/+f/abc/short/x.whl", "/root/pypi/+simple/a b/",
                      "/root/pypi/+simple/x/y/", "/root/pypi/+f/abc/0123456789abc/.hidden"])
    func unknownPathsAreNotFound(path: String) {
        guard case .notFound = route(path) else {
            Issue.record("\(path) -> \(route(path))"); return
        }
    }

    @Test func queryValues() {
        #expect(Route.queryValue("format", in: "format=application/vnd.pypi.simple.v1%2Bjson") == "application/vnd.pypi.simple.v1+json")
        #expect(Route.queryValue("format", in: "a=1&format=text/html&b") == "text/html")
        #expect(Route.queryValue("format", in: "formats=x") == nil)
        #expect(Route.queryValue("format", in: nil) == nil)
        #expect(Route.queryValue("format", in: "format=application/vnd.pypi.simple.v1+json") == "application/vnd.pypi.simple.v1+json")
    }

    @Test func metadataKeys() {
        let wheel = FileKey(hashDirectory: "abc", hashSubdirectory: "0123456789abc", filename: "a-1.0-py3-none-any.whl")!
        let meta = wheel.metadataKey!
        #expect(meta.filename == "a-1.0-py3-none-any.whl.metadata")
        #expect(meta.metadataSubject == wheel)
        #expect(wheel.metadataSubject == nil)
        #expect(meta.etag != wheel.etag)
    }

    @Test func infoPages() {
        #expect(route("/") == .home)
        #expect(route("/+status") == .status)
        #expect(route("/+metrics") == .metrics)
        #expect(route("/root/pypi/Django") == .projectWeb(ProjectName("django")!))
        guard case .notFound = route("/root/pypi/+nope") else { Issue.record("+nope"); return }
    }
}

@Suite struct NegotiationTests {
    @Test func pickByQualityThenServerPreference() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
        #expect(PageFormat.negotiate(accept: pip) == .json)
        #expect(PageFormat.negotiate(accept: "text/html") == .legacyHTML)
        #expect(PageFormat.negotiate(accept: nil) == .legacyHTML)
        #expect(PageFormat.negotiate(accept: "application/vnd.pypi.simple.v1+html") == .html)
        #expect(PageFormat.negotiate(accept: "application/vnd.pypi.simple.latest+json") == .json)
        #expect(PageFormat.negotiate(accept: "text/html;q=0.9, application/vnd.pypi.simple.v1+json;q=0.5") == .legacyHTML)
        #expect(PageFormat.negotiate(accept: "*/*") == .legacyHTML)
        #expect(PageFormat.negotiate(accept: "application/*") == .json)
        #expect(PageFormat.negotiate(accept: "image/png") == nil)
        #expect(PageFormat.negotiate(accept: "application/vnd.pypi.simple.v1+json;q=0") == nil)
    }

    @Test func gzipAcceptance() {
        #expect(Gzip.accepted(by: "gzip, deflate, br"))
        #expect(Gzip.accepted(by: "br;q=1.0, gzip;q=0.8, *;q=0.1"))
        #expect(!Gzip.accepted(by: "gzip;q=0"))
        #expect(!Gzip.accepted(by: "identity"))
        #expect(!Gzip.accepted(by: nil))
        #expect(Gzip.accepted(by: "*"))
    }

    @Test func exactContentTypes() {
        #expect(PageFormat.json.contentType == "application/vnd.pypi.simple.v1+json")
        #expect(PageFormat.html.contentType == "application/vnd.pypi.simple.v1+html")
    }
}
