import Foundation
import Testing
@testable import PyPICache

@Suite struct UpstreamPageParserTests {
    let name = ProjectName("demo")!
    let base = "https://index.example/simple/demo/"

    @Test func parsesPEP691JSON() throws {
        let json = """
        {"meta":{"api-version":"1.1"},"name":"demo","versions":["1.0"],"files":[
         {"filename":"demo-1.0-py3-none-any.whl","url":"https://files.example/demo-1.0-py3-none-any.whl",
          "hashes":{"sha256":"AB\(String(repeating: "0", count: 62))"},"requires-python":">=3.8","yanked":"bad",
          "size":123,"upload-time":"2024-01-01T00:00:00Z","core-metadata":{"sha256":"x"}},
         {"filename":"demo-1.0.tar.gz","url":"../../files/demo-1.0.tar.gz#sha256=\(String(repeating: "1", count: 64))","hashes":{},"yanked":true},
         {"filename":"demo-0.9.tar.gz","url":"ftp://elsewhere/demo-0.9.tar.gz","hashes":{}}
        ]}
        """
        let page = try UpstreamPageParser.parse(Array(json.utf8), contentType: "application/vnd.pypi.simple.v1+json", baseURL: base, project: name)
        #expect(page.files.count == 2, "ftp links are dropped")
        #expect(page.versions == ["1.0"])
        let wheel = page.files[0]
        #expect(wheel.sha256 == "ab" + String(repeating: "0", count: 62))
        #expect(wheel.requiresPython == ">=3.8" && wheel.yanked == "bad" && wheel.size == 123)
        #expect(wheel.uploadTime == "2024-01-01T00:00:00Z")
        let sdist = page.files[1]
        #expect(sdist.url == "https://index.example/files/demo-1.0.tar.gz")
        #expect(sdist.sha256 == String(repeating: "1", count: 64))
        #expect(sdist.yanked == "")
    }

    @Test func readsCoreMetadataUnderEitherName() throws {
        let json = """
        {"files":[
         {"filename":"a-1.0-py3-none-any.whl","url":"https://f/a1","hashes":{},"core-metadata":{"sha256":"AB"}},
         {"filename":"a-2.0-py3-none-any.whl","url":"https://f/a2","hashes":{},"dist-info-metadata":true},
         {"filename":"a-3.0-py3-none-any.whl","url":"https://f/a3","hashes":{},"core-metadata":false},
         {"filename":"a-4.0-py3-none-any.whl","url":"https://f/a4","hashes":{}}]}
        """
        let page = try UpstreamPageParser.parseJSON(Array(json.utf8), baseURL: base, project: name)
        #expect(page.files.map(\.coreMetadata) == ["ab", "", nil, nil])
        let html = """
        <a href="/a1" data-core-metadata="sha256=CD">a-1.0-py3-none-any.whl</a>
        <a href="/a2" data-dist-info-metadata="true">a-2.0-py3-none-any.whl</a>
        <a href="/a3" data-core-metadata="md5=x">a-3.0-py3-none-any.whl</a>
        <a href="/a4">a-4.0-py3-none-any.whl</a>
        """
        #expect(UpstreamPageParser.parseHTML(html, baseURL: base, project: name).files.map(\.coreMetadata) == ["cd", "", "", nil])
    }

    @Test func skipsInvalidEntriesAndKeepsTheRest() throws {
        let json = """
        {"files":[null, 7, "x", {"filename":null,"url":"https://f/a"}, {"filename":"a-1.0.tar.gz"},
         {"filename":"a-1.0-py3-none-any.whl","url":"https://f/a1","hashes":{"sha256":null}}]}
        """
        var skipped = 0
        let page = try UpstreamPageParser.parse(Array(json.utf8), contentType: "application/json", baseURL: base, project: name, skipped: &skipped)
        #expect(page.files.map(\.filename) == ["a-1.0-py3-none-any.whl"])
        #expect(skipped == 5)
    }

    @Test func rejectsJSONThatIsNotAProjectPage() {
        #expect(throws: UpstreamPageParser.Failure.self) {
            try UpstreamPageParser.parse(Array("{\"nope\":1}".utf8), contentType: "application/json", baseURL: base, project: name)
        }
    }

    @Test func parsesPEP503HTML() throws {
        let html = """
        <!DOCTYPE html><html><body>
        <a href="../../packages/demo-1.0.tar.gz#sha256=\(String(repeating: "a", count: 64))" data-requires-python="&gt;=3.6, &lt;4">demo-1.0.tar.gz</a><br/>
        <A HREF='https://cdn.example/demo-2.0-py3-none-any.whl' data-yanked="">
          demo-2.0-py3-none-any.whl </A>
        <a href="/x/demo-0.1.zip" data-yanked="security &amp; stuff">demo-0.1.zip</a>
        </body></html>
        """
        let page = try UpstreamPageParser.parse(Array(html.utf8), contentType: "text/html", baseURL: base, project: name)
        #expect(page.files.map(\.filename) == ["demo-1.0.tar.gz", "demo-2.0-py3-none-any.whl", "demo-0.1.zip"])
        #expect(page.files[0].url == "https://index.example/packages/demo-1.0.tar.gz")
        #expect(page.files[0].sha256 == String(repeating: "a", count: 64))
        #expect(page.files[0].requiresPython == ">=3.6, <4")
        #expect(page.files[0].yanked == nil)
        #expect(page.files[1].url == "https://cdn.example/demo-2.0-py3-none-any.whl")
        #expect(page.files[1].yanked == "")
        #expect(page.files[2].url == "https://index.example/x/demo-0.1.zip")
        #expect(page.files[2].yanked == "security & stuff")
    }
}

@Suite struct PageRendererTests {
    let sha = String(repeating: "c", count: 64)
    var page: ProjectPage {
        ProjectPage(name: "demo", files: [
            DistributionFile(filename: "demo-1.0+local.tar.gz", url: "https://x/demo-1.0+local.tar.gz", sha256: sha,
                             requiresPython: ">=3.8,<4", yanked: "a \"quoted\" reason", size: 10, uploadTime: "t"),
            DistributionFile(filename: "demo-0.1.tar.gz", url: "https://x/demo-0.1.tar.gz"),
        ], versions: ["0.1", "1.0"])
    }

    @Test func htmlRewritesLinksAndEscapes() {
        let html = PageRenderer.html(page, filesPrefix: "../../+f/")
        #expect(html.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"))
        #expect(html.contains("href=\"../../+f/ccc/ccccccccccccc/demo-1.0%2Blocal.tar.gz#sha256=\(sha)\""))
        #expect(html.contains("data-requires-python=\"&gt;=3.8,&lt;4\""))
        #expect(html.contains("data-yanked=\"a &quot;quoted&quot; reason\""))
        #expect(!html.contains("https://x/"), "upstream URLs never reach clients")
    }

    @Test func jsonIsValidAndComplete() throws {
        let json = PageRenderer.json(page, filesPrefix: "../../+f/")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect((root["meta"] as? [String: String])?["api-version"] == "1.0", "one file has no size: PEP 700 needs it")
        #expect(root["versions"] as? [String] == ["0.1", "1.0"])
        let files = try #require(root["files"] as? [[String: Any]])
        #expect(files[0]["yanked"] as? String == "a \"quoted\" reason")
        #expect((files[0]["hashes"] as? [String: String])?["sha256"] == sha)
        #expect(files[0]["size"] as? Int == 10)
        #expect(files[1]["yanked"] == nil)
        #expect((files[1]["hashes"] as? [String: String])?.isEmpty == true)
        let url = try #require(files[1]["url"] as? String)
        #expect(url.hasPrefix("../../+f/") && url.hasSuffix("/demo-0.1.tar.gz"))
    }

    @Test func apiVersionAndDerivedVersions() throws {
        let page = ProjectPage(name: "demo", files: [
            DistributionFile(filename: "demo-2.0-py3-none-any.whl", url: "https://x/a", size: 1),
            DistributionFile(filename: "demo-1.0.tar.gz", url: "https://x/b", size: 2),
            DistributionFile(filename: "demo-2.0.zip", url: "https://x/c", size: 3),
        ])
        let root = try #require(try JSONSerialization.jsonObject(with: Data(PageRenderer.json(page, filesPrefix: "").utf8)) as? [String: Any])
        #expect((root["meta"] as? [String: String])?["api-version"] == "1.1")
        #expect(root["versions"] as? [String] == ["2.0", "1.0"])
    }

    /// PEP 714: HTML keeps both attributes for old clients; JSON has only `core-metadata`
    /// (pip 22.3-23.1 crash on a JSON `dist-info-metadata` key).
    @Test func advertisesCoreMetadataUnderBothNamesInHTMLOnly() throws {
        var page = self.page
        page.files[0].coreMetadata = String(repeating: "e", count: 64)
        page.files[1].coreMetadata = ""
        let html = PageRenderer.html(page, filesPrefix: "")
        #expect(html.contains("data-core-metadata=\"sha256=\(String(repeating: "e", count: 64))\" data-dist-info-metadata=\"sha256="))
        #expect(html.contains("data-core-metadata=\"true\" data-dist-info-metadata=\"true\""))
        let root = try #require(try JSONSerialization.jsonObject(with: Data(PageRenderer.json(page, filesPrefix: "").utf8)) as? [String: Any])
        let files = try #require(root["files"] as? [[String: Any]])
        #expect((files[0]["core-metadata"] as? [String: String])?["sha256"] == String(repeating: "e", count: 64))
        #expect(files.allSatisfy { $0["dist-info-metadata"] == nil })
        #expect(files[1]["core-metadata"] as? Bool == true)
    }

    @Test func roundTripThroughOwnHTMLParser() throws {
        let html = PageRenderer.html(page, filesPrefix: "../../+f/")
        let parsed = UpstreamPageParser.parseHTML(html, baseURL: "http://h/root/pypi/+simple/demo/", project: ProjectName("demo")!)
        #expect(parsed.files.map(\.filename) == page.files.map(\.filename))
        #expect(parsed.files[0].requiresPython == ">=3.8,<4")
        #expect(parsed.files[0].yanked == "a \"quoted\" reason")
        #expect(parsed.files[0].url == "http://h/root/pypi/+f/ccc/ccccccccccccc/demo-1.0%2Blocal.tar.gz")
    }

    @Test func htmlEscapingBothWays() {
        #expect(HTMLEscaping.escape("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;")
        #expect(HTMLEscaping.unescape("&lt;&#62;&#x3C;&amp;amp;&bogus;&") == "<><&amp;&bogus;&")
    }
}
