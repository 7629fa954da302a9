import PyPICache
import TestSupport
import Testing
@testable import Prefetch

@Suite struct PageStreamTests {
    let pageURL = "http://127.0.0.1:3141/root/pypi/+simple/demo/"
    let page = """
    {"meta":{"api-version":"1.1"},"name":"files","versions":["1.0","2.0"],"x":{"files":[{"filename":"no"}]},"files":[
     {"filename":"demo-1.0.tar.gz","url":"../../+f/aaa/bbb/demo-1.0.tar.gz#sha256=ignored","hashes":{"md5":"x","sha256":"ABC"},
      "requires-python":">=3.8","size":10,"upload-time":"2024-01-02T03:04:05Z","yanked":"broken \\"badly\\" {[\\u00e9"},
     {"filename":"demo-2.0-py3-none-any.whl","url":"https://files.example/demo-2.0-py3-none-any.whl","hashes":{"sha256":"def"},
      "requires-python":null,"core-metadata":{"sha256":"F00"},"dist-info-metadata":{"sha256":"f00"},"yanked":false,"extra":[1,{"a":[true,null,-1.5e3]}]},
     {"filename":"demo-2.0-cp311-cp311-win_amd64.whl","url":"/root/pypi/+f/c/d/demo-2.0-cp311-cp311-win_amd64.whl","hashes":{},
      "dist-info-metadata":true,"yanked":true}
    ],"tail":"]}"}
    """

    func stream(_ bytes: [UInt8], chunk: Int, keep: @escaping (DistributionFile) -> Bool = { _ in true }) throws -> ProjectPage {
        var s = PageStream(pageURL: pageURL, keep: keep)
        var i = 0
        while i < bytes.count {
            let piece = Array(bytes[i..<min(bytes.count, i + chunk)])
            piece.withUnsafeBytes { s.feed($0) }
            i += chunk
        }
        return try s.finish(project: ProjectName("demo")!)
    }

    @Test func readsTheSameFilesAsAWholeBodyInAnyChunking() throws {
        let whole = try PageReader.read(Array(page.utf8), pageURL: pageURL, project: ProjectName("demo")!) { _ in true }
        for chunk in [1, 2, 3, 7, 64, 1 << 20] {
            #expect(try stream(Array(page.utf8), chunk: chunk).files == whole.files, "chunk \(chunk)")
        }
        #expect(whole.files.count == 3 && whole.files[0].yanked == "broken \"badly\" {[é")
        #expect(try stream(Array(page.utf8), chunk: 5) { !$0.filename.contains("win") }.files.count == 2)
    }

    @Test func brokenPagesAreErrors() {
        var rng = SeededRandom(seed: 5)
        let bytes = Array(page.utf8)
        for cut in stride(from: 0, to: bytes.count - 1, by: 5) {
            #expect(throws: PageReader.Failure.self) { try stream(Array(bytes.prefix(cut)), chunk: 13) }
        }
        for _ in 0..<2000 {
            var damaged = bytes
            for _ in 0..<4 { damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? stream(damaged, chunk: 9)
        }
        let deep = Array(("{\"files\":" + String(repeating: "[", count: 100_000)).utf8)
        #expect(throws: PageReader.Failure.self) { try stream(deep, chunk: 4096) }
        #expect(throws: PageReader.Failure.self) { try stream(Array("[]".utf8), chunk: 1) }
        var s = PageStream(pageURL: pageURL) { _ in true }
        #expect(Array("{\"files\":[".utf8).withUnsafeBytes { s.feed($0) })
        #expect(!Array("x".utf8).withUnsafeBytes { s.feed($0) }, "the transfer is told to stop")
        #expect(s.problem != nil)
        #expect(throws: PageReader.Failure.self) { try stream(Array("{} {}".utf8), chunk: 1) }
        #expect(throws: PageReader.Failure.self) { try stream(Array(#"{"files":[{"filename":"a","url":"b"} x]}"#.utf8), chunk: 3) }
    }
}

@Suite struct BestFilesTests {
    let target = Target(pythonVersion: "3.11", platforms: ["manylinux_2_28_x86_64"])!

    func file(_ name: String, yanked: String? = nil, requiresPython: String? = nil) -> DistributionFile {
        DistributionFile(filename: name, url: "http://x/\(name)", sha256: "00", requiresPython: requiresPython, yanked: yanked)
    }

    @Test func keepsWhatTheResolverCanChooseAndPicksTheSameCandidates() {
        let files = [
            file("demo-1.0.tar.gz"), file("demo-1.0-py3-none-any.whl"), file("demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
            file("demo-1.0-cp311-cp311-win_amd64.whl"),
            file("demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", yanked: "bad"), file("demo-2.0-py3-none-any.whl"),
            file("demo-2.0.tar.gz"), file("demo-2.0.zip"),
            file("demo-3.0.tar.gz", yanked: ""), file("demo-3.0.zip", yanked: ""),
            file("demo-4.0-py3-none-any.whl", requiresPython: ">=3.12"), file("demo-4.0.tar.gz"),
            file("demo-5.0.exe"),
        ]
        let kept = BestFiles(targets: [target]).select(files).map(\.filename)
        #expect(kept == ["demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
                         "demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", "demo-2.0-py3-none-any.whl",
                         "demo-3.0.tar.gz", "demo-4.0.tar.gz"])
        let tags = target.compatibleTags
        let all = ProjectVersions(page: ProjectPage(name: "demo", files: files), target: target, tags: tags)
        let few = ProjectVersions(page: ProjectPage(name: "demo", files: BestFiles(targets: [target]).select(files)), target: target, tags: tags)
        for text in ["", "==2.0", "==3.0", "<2", ">=1"] {
            let spec = SpecifierSet(parsing: text)!
            #expect(all.candidates(spec, hashes: []).map { all.file($0).filename } == few.candidates(spec, hashes: []).map { few.file($0).filename }, "\(text)")
        }
    }

    @Test func keepsTheBestOfEveryTarget() {
        let windows = Target(pythonVersion: "3.12", platforms: ["win_amd64"])!
        let files = [file("demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"), file("demo-1.0-cp312-cp312-win_amd64.whl"), file("demo-1.0.tar.gz")]
        #expect(BestFiles(targets: [target, windows]).select(files).count == 2)
    }
}
