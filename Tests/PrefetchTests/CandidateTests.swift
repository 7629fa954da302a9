import PyPICache
import Testing
@testable import Prefetch

@Suite struct TagTests {
    let target = Target(pythonVersion: "3.11", platforms: ["manylinux_2_17_x86_64"])!

    @Test func expandsManylinux() {
        #expect(target.platforms.prefix(3) == ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_16_x86_64"])
        #expect(target.platforms.contains("manylinux1_x86_64") && target.platforms.last == "linux_x86_64")
    }

    @Test func ranksWheels() {
        let tags = target.compatibleTags
        let native = target.rank(ofWheel: "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", in: tags)
        let abi3 = target.rank(ofWheel: "cryptography-42.0.0-cp39-abi3-manylinux_2_28_x86_64.whl", in: tags)
        let abi3ok = target.rank(ofWheel: "cryptography-42.0.0-cp37-abi3-manylinux_2_17_x86_64.whl", in: tags)
        let pure = target.rank(ofWheel: "six-1.16.0-py2.py3-none-any.whl", in: tags)
        #expect(native != nil && abi3ok != nil && pure != nil)
        #expect(abi3 == nil, "needs glibc 2.28, target has 2.17")
        #expect(native! < abi3ok! && abi3ok! < pure!)
        #expect(target.rank(ofWheel: "numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.whl", in: tags) == nil)
        #expect(target.rank(ofWheel: "pywin32-306-cp311-cp311-win_amd64.whl", in: tags) == nil)
        #expect(target.rank(ofWheel: "x-1.0-1build-py3-none-any.whl", in: tags) != nil, "build tag")
    }
}

/// Which file of which version pip would take, before any dependency is looked at.
@Suite struct CandidateTests {
    let target = Target(pythonVersion: "3.11", platforms: ["manylinux_2_17_x86_64"])!

    func file(_ name: String, rp: String? = nil, yanked: String? = nil, sha: String? = nil) -> DistributionFile {
        DistributionFile(filename: name, url: "https://x/\(name)", sha256: sha, requiresPython: rp, yanked: yanked)
    }

    var page: ProjectPage {
        ProjectPage(name: "demo", files: [
            file("demo-1.0.tar.gz", sha: "aa"), file("demo-1.0-py3-none-any.whl", sha: "bb"),
            file("demo-2.0.tar.gz"), file("demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"), file("demo-2.0-cp311-cp311-win_amd64.whl"),
            file("demo-2.1.tar.gz", yanked: "broken"),
            file("demo-3.0-py3-none-any.whl", rp: ">=3.99"), file("demo-3.0.tar.gz", rp: ">=3.99"),
            file("demo-4.0b1-py3-none-any.whl"),
        ])
    }

    func best(_ spec: String, hashes: Set<String> = []) -> String? {
        let versions = ProjectVersions(page: page, target: target, tags: target.compatibleTags)
        return versions.candidates(SpecifierSet(parsing: spec)!, hashes: hashes).first.map { versions.file($0).filename }
    }

    @Test func picksNewestCompatibleBestWheel() {
        #expect(best("") == "demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl")
        #expect(best("<2") == "demo-1.0-py3-none-any.whl")
        #expect(best("==2.1") == "demo-2.1.tar.gz", "pinned: yanked allowed")
        #expect(best(">=2.1,<2.2") == nil, "not pinned: yanked never")
        #expect(best(">=4.0b1") == "demo-4.0b1-py3-none-any.whl")
        #expect(best(">=3") == "demo-4.0b1-py3-none-any.whl", "only a pre-release fits: taken")
        #expect(best("==1.0", hashes: ["aa"]) == "demo-1.0.tar.gz")
        #expect(best("==3.0") == nil, "requires-python excludes 3.11")
    }
}
