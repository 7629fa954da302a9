import TestSupport
import Testing
@testable import PyPICache

/// The incremental page readers: the same page whatever the chunking, every odd entry
/// today's pages (and broken indexes) contain, and a clear refusal of what is not a page.
@Suite struct UpstreamPageReaderTests {
    let json = "application/vnd.pypi.simple.v1+json"
    let base = "https://index.example/simple/demo/"
    let name = ProjectName("demo")!

    /// A small page with one of everything odd.
    let oddPage = #"""
    {"meta":{"api-version":"1.1"},"versions":["1.0","2.\u0030"],"files":[null, 7, "x", [1], {"filename":null,"url":"https://f/a"},
     {"filename":"a-1.0.tar.gz"}, {"filename":"","url":"https://f/e"}, {"filename":"f.tar.gz","url":"ftp://f/f"},
     {"filename":12,"url":"https://f/n"},
     {"file\u006eame":"caf\u00e9-\ud83d\ude00.tar.gz","url":"https:\/\/f\/c#sha256=ABCD","hashes":{"md5":"0"},"yanked":"why \"not\"",
      "size":1.0,"core-metadata":false,"dist-info-metadata":{"sha256":"EF"}},
     {"filename":"d-1.whl","url":"../../d-1.whl","hashes":{"sha256":null},"yanked":true,"size":1e3,"core-metadata":true,
      "unknown":{"deep":[[[{"x":"\u0000\"]}"}]]],"n":-0.5e-7}},
     {"filename":"g-1.whl","filename":"ignored","url":"https://f/g","hashes":{"sha256":"AA","sha256":"BB"},"size":1.5,
      "requires-python":">=3.8","requires-python":7,"yanked":false,"core-metadata":{"sha256":7},"dist-info-metadata":true},
     {"filename":"h\ud800.whl","url":"https://f/h","upload-time":"2024-01-01T00:00:00Z","size":01,"requires-python":"bad\x"},
     {"filename":"i.whl","url":"https://f/i","hashes":{"sha256":"C","md5":7},"size":-12,"core-metadata":{"md5":"x"}}
    ],"name":"demo"}
    """#

    let oddExpected: [DistributionFile] = [
        DistributionFile(filename: "café-😀.tar.gz", url: "https://f/c", sha256: "abcd", yanked: "why \"not\"", size: 1, coreMetadata: "ef"),
        DistributionFile(filename: "d-1.whl", url: "https://index.example/d-1.whl", yanked: "", size: 1000, coreMetadata: ""),
        DistributionFile(filename: "g-1.whl", url: "https://f/g", sha256: "aa", requiresPython: ">=3.8", coreMetadata: ""),
        DistributionFile(filename: "h\u{FFFD}.whl", url: "https://f/h", uploadTime: "2024-01-01T00:00:00Z"),
        DistributionFile(filename: "i.whl", url: "https://f/i", size: -12, coreMetadata: ""),
    ]

    @Test func oddEntriesAreReadLikeTheDecoderDid() throws {
        var skipped = 0
        let page = try UpstreamPageParser.parse(Array(oddPage.utf8), contentType: json, baseURL: base, project: name, skipped: &skipped)
        // The lone surrogate makes that filename unusable, so the entry is skipped (JSONDecoder: nil).
        #expect(page.files == oddExpected.filter { !$0.filename.hasPrefix("h") })
        #expect(skipped == 10)
        #expect(page.versions == ["1.0", "2.0"])
        #expect(page.name == "demo")
    }

    @Test func everySplitPointGivesTheSamePage() throws {
        let bytes = Array(oddPage.utf8)
        let whole = try PageFixtures.read(bytes, cuts: [], contentType: json, base: base, project: name)
        for cut in 0...bytes.count {
            let split = try PageFixtures.read(bytes, cuts: [cut], contentType: json, base: base, project: name)
            #expect(split.0 == whole.0 && split.skipped == whole.skipped, "cut at \(cut)")
        }
        let byteByByte = try PageFixtures.read(bytes, cuts: Array(1..<bytes.count), contentType: json, base: base, project: name)
        #expect(byteByByte.0 == whole.0 && byteByByte.skipped == whole.skipped)
    }

    @Test func htmlEverySplitPointGivesTheSamePage() throws {
        let html = """
        <html><body><a href="/x/a-1.0.tar.gz#sha256=AB" data-requires-python="&gt;=3.6">a-1.0.tar.gz</a>
        <A HREF='https://cdn.example/b-2.0-py3-none-any.whl' data-yanked="" data-dist-info-metadata=true>
          b-2.0-py3-none-any.whl </A><a\thref=../c.zip data-core-metadata="sha256=CD" / >c &amp; d</a>
        <abbr>not a link</abbr><a name="x">no href</a><a href="ftp://x/y">ftp</a><a href="/e.whl"></a>
        <a href="/t.whl"><span>t</span> &lt;<</a><a href="/u.whl">u</a
        """
        let bytes = Array(html.utf8)
        let whole = try PageFixtures.read(bytes, cuts: [], contentType: "text/html", base: base, project: name)
        #expect(whole.0.files.map(\.filename) == ["a-1.0.tar.gz", "b-2.0-py3-none-any.whl", "c & d", "e.whl", "<span>t</span> <<", "u"])
        #expect(whole.0.files.map(\.url) == ["https://index.example/x/a-1.0.tar.gz", "https://cdn.example/b-2.0-py3-none-any.whl",
                                             "https://index.example/simple/c.zip", "https://index.example/e.whl",
                                             "https://index.example/t.whl", "https://index.example/u.whl"])
        #expect(whole.0.files[0].sha256 == "ab" && whole.0.files[0].requiresPython == ">=3.6")
        #expect(whole.0.files[1].yanked == "" && whole.0.files[1].coreMetadata == "")
        #expect(whole.0.files[2].coreMetadata == "cd")
        for cut in 0...bytes.count {
            let split = try PageFixtures.read(bytes, cuts: [cut], contentType: "text/html", base: base, project: name)
            #expect(split.0 == whole.0, "cut at \(cut)")
        }
        let byteByByte = try PageFixtures.read(bytes, cuts: Array(1..<bytes.count), contentType: "text/html", base: base, project: name)
        #expect(byteByByte.0 == whole.0)
    }

    @Test func generatedPagesReadRightWhateverTheChunking() throws {
        var rng = SeededRandom(seed: 13)
        for (generated, type) in [(PageFixtures.json(files: 3000), json), (PageFixtures.json(files: 500, plain: true), json),
                                  (PageFixtures.html(files: 1500), "text/html")] {
            let whole = try PageFixtures.read(generated.body, cuts: [], contentType: type, base: PageFixtures.base, project: ProjectName("big")!)
            #expect(whole.0 == generated.expected)
            #expect(whole.skipped == 0)
            for _ in 0..<5 {
                let cuts = PageFixtures.randomCuts(generated.body.count, rng: &rng)
                let chunked = try PageFixtures.read(generated.body, cuts: cuts, contentType: type, base: PageFixtures.base)
                #expect(chunked.0 == generated.expected, "\(cuts.count) chunks")
            }
        }
    }

    @Test(arguments: [
        ("", "ends early"), ("{\"files\":[", "ends early"), ("{\"files\":[]", "ends early"), ("{\"files\":[]}x", "after the page"),
        ("[]", "not a JSON object"), ("\"files\"", "not a JSON object"), ("{\"files\":{}}", "`files` is not an array"),
        ("{\"files\":null}", "`files` is not an array"), ("{\"versions\":[]}", "no `files`"), ("{\"files\":[] \"x\":1}", "expected ','"),
        ("{\"files\":[{\"a\" 1}]}", "expected ':'"), ("{\"files\":[1,]}", "expected a value"), ("{\"files\":[tru]}", "invalid literal"),
        ("{'files':[]}", "expected a key"), ("{\"files\":[],}", "expected a key"), ("{\"files\":[\"abc]}", "ends early"),
    ])
    func brokenJSONIsRefusedClearly(body: String, reason: String) {
        do {
            let page = try UpstreamPageParser.parse(Array(body.utf8), contentType: json, baseURL: base, project: name)
            Issue.record("accepted \(body): \(page)")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix("upstream JSON page is not a PEP 691 project page"), "\(text)")
            #expect(text.contains(reason), "\(body): \(text)")
        }
    }

    @Test func deepNestingIsRefusedNotRecursedInto() {
        let deep = "{\"files\":[],\"x\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        #expect(throws: UpstreamPageParser.Failure.self) {
            try UpstreamPageParser.parse(Array(deep.utf8), contentType: json, baseURL: base, project: name)
        }
        let fine = "{\"files\":[],\"x\":" + String(repeating: "[", count: 500) + String(repeating: "]", count: 500) + "}"
        #expect(throws: Never.self) { try UpstreamPageParser.parse(Array(fine.utf8), contentType: json, baseURL: base, project: name) }
    }

    @Test func aFailureIsKnownBeforeTheBodyEnds() {
        var reader = UpstreamPageReader(contentType: json, baseURL: base, project: name)
        Array("{\"files\":[{}] ]".utf8).withUnsafeBytes { reader.feed($0) }
        #expect(reader.failure?.contains("expected ','") == true, "PageFetch stops the transfer here")
    }

    @Test func escapesDecode() throws {
        let body = #"{"files":[{"filename":"\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud834\udd1e","url":"https://f/x"}]}"#
        let page = try UpstreamPageParser.parse(Array(body.utf8), contentType: json, baseURL: base, project: name)
        #expect(page.files.first?.filename == "\"\\/\u{8}\u{c}\n\r\tAé€𝄞")
        for bad in [#"\ud834"#, #"\udd1e"#, #"\ud834\u0041"#, #"\x"#, #"\u12G4"#, "\u{1}"] {
            let body = #"{"files":[{"filename":"a"# + bad + #"","url":"https://f/x"}]}"#
            var skipped = 0
            let page = try UpstreamPageParser.parse(Array(body.utf8), contentType: json, baseURL: base, project: name, skipped: &skipped)
            #expect(page.files.isEmpty && skipped == 1, "\(bad): an unusable filename skips the entry, not the page")
        }
    }

    @Test func numbersAsJSONDecoderReadsThem() {
        let cases: [(String, Int?)] = [("0", 0), ("-0", 0), ("123", 123), ("1.0", 1), ("1e3", 1000), ("1E+2", 100), ("-5", -5),
                                       ("1.5", nil), ("01", nil), ("-", nil), ("1.", nil), ("1e", nil), ("99999999999999999999", nil)]
        for (text, value) in cases { #expect(JSONPageReader.integer(Array(text.utf8)) == value, "\(text)") }
    }
}
