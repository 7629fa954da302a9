import PyPICache
import TestSupport
import Testing
@testable import Prefetch

@Suite struct PageReaderTests {
    let pageURL = "http://127.0.0.1:3141/root/pypi/+simple/demo/"
    let page = """
    {"meta":{"api-version":"1.1"},"name":"demo","versions":["1.0","2.0"],"files":[
     {"filename":"demo-1.0.tar.gz","url":"../../+f/aaa/bbb/demo-1.0.tar.gz#sha256=ignored","hashes":{"md5":"x","sha256":"ABC"},
      "requires-python":">=3.8","size":10,"upload-time":"2024-01-02T03:04:05Z","yanked":"broken \\"badly\\" \\u00e9"},
     {"filename":"demo-2.0-py3-none-any.whl","url":"https://files.example/demo-2.0-py3-none-any.whl","hashes":{"sha256":"def"},
      "requires-python":null,"core-metadata":{"sha256":"F00"},"dist-info-metadata":{"sha256":"f00"},"yanked":false,"extra":[1,{"a":[true,null,-1.5e3]}]},
     {"filename":"demo-2.0-cp311-cp311-win_amd64.whl","url":"/root/pypi/+f/c/d/demo-2.0-cp311-cp311-win_amd64.whl","hashes":{},
      "dist-info-metadata":true,"yanked":true}
    ]}
    """

    @Test func readsWhatResolutionNeeds() throws {
        let read = try PageReader.read(Array(page.utf8), pageURL: pageURL, project: ProjectName("demo")!) { _ in true }
        #expect(read.files.count == 3)
        #expect(read.files[0] == DistributionFile(filename: "demo-1.0.tar.gz", url: "http://127.0.0.1:3141/root/pypi/+f/aaa/bbb/demo-1.0.tar.gz",
                                                  sha256: "abc", requiresPython: ">=3.8", yanked: "broken \"badly\" é"))
        #expect(read.files[1].coreMetadata == "f00" && read.files[1].yanked == nil && read.files[1].requiresPython == nil)
        #expect(read.files[2].url == "http://127.0.0.1:3141/root/pypi/+f/c/d/demo-2.0-cp311-cp311-win_amd64.whl")
        #expect(read.files[2].coreMetadata == "" && read.files[2].yanked == "" && read.files[2].sha256 == nil)
        let filtered = try PageReader.read(Array(page.utf8), pageURL: pageURL, project: ProjectName("demo")!) { !$0.filename.contains("win") }
        #expect(filtered.files.count == 2)
    }

    @Test func agreesWithTheProxysParser() throws {
        let ours = try PageReader.read(Array(page.utf8), pageURL: pageURL, project: ProjectName("demo")!) { _ in true }
        let theirs = try UpstreamPageParser.parseJSON(Array(page.utf8), baseURL: pageURL, project: ProjectName("demo")!)
        #expect(ours.files.map(\.url) == theirs.files.map(\.url))
        #expect(ours.files.map(\.sha256) == theirs.files.map(\.sha256))
        #expect(ours.files.map(\.coreMetadata) == theirs.files.map(\.coreMetadata))
    }

    @Test func brokenPagesAreErrors() {
        var rng = SeededRandom(seed: 3)
        let bytes = Array(page.utf8)
        for cut in stride(from: 0, to: bytes.count - 1, by: 7) {
            #expect(throws: PageReader.Failure.self) { try PageReader.read(Array(bytes.prefix(cut)), pageURL: pageURL, project: ProjectName("demo")!) { _ in true } }
        }
        for _ in 0..<2000 {
            var damaged = bytes
            for _ in 0..<4 { damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? PageReader.read(damaged, pageURL: pageURL, project: ProjectName("demo")!) { _ in true }
        }
        let deep = Array(("{\"files\":" + String(repeating: "[", count: 100_000)).utf8)
        #expect(throws: PageReader.Failure.self) { try PageReader.read(deep, pageURL: pageURL, project: ProjectName("demo")!) { _ in true } }
    }
}
