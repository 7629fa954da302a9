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

@Suite struct PlannerTests {
    let target = Target(pythonVersion: "3.11", platforms: ["manylinux_2_17_x86_64"])!

    func file(_ name: String, rp: String? = nil, yanked: String? = nil, sha: String? = nil) -> DistributionFile {
        DistributionFile(filename: name, url: "https://x/\(name)", sha256: sha, requiresPython: rp, yanked: yanked)
    }

    var page: ProjectPage {
        ProjectPage(name: "demo", files: [
            file("demo-1.0.tar.gz"), file("demo-1.0-py3-none-any.whl"),
            file("demo-2.0.tar.gz"), file("demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"), file("demo-2.0-cp311-cp311-win_amd64.whl"),
            file("demo-2.1.tar.gz", yanked: "broken"),
            file("demo-3.0-py3-none-any.whl", rp: ">=3.99"), file("demo-3.0.tar.gz", rp: ">=3.99"),
            file("demo-4.0b1-py3-none-any.whl"),
        ])
    }

    func requirement(_ line: String) throws -> Requirement {
        try RequirementsParser.requirement(line, hashes: [], origin: .init(file: "t", line: 1))
    }

    func names(_ plan: Planner.Plan) -> [String] {
        if case .files(_, let files) = plan { return files.map(\.filename) }
        return []
    }

    @Test func picksNewestCompatibleBestWheel() throws {
        let planner = Planner(target: target, allFiles: false)
        #expect(names(planner.plan(try requirement("demo"), constraints: [], page: page)) == ["demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"])
        #expect(names(planner.plan(try requirement("demo<2"), constraints: [], page: page)) == ["demo-1.0-py3-none-any.whl"])
        #expect(names(planner.plan(try requirement("demo==2.1"), constraints: [], page: page)) == ["demo-2.1.tar.gz"], "pinned: yanked allowed")
        #expect(names(planner.plan(try requirement("demo>=4.0b1"), constraints: [], page: page)) == ["demo-4.0b1-py3-none-any.whl"])
        #expect(names(planner.plan(try requirement("demo"), constraints: [try requirement("demo<2")], page: page)) == ["demo-1.0-py3-none-any.whl"])
    }

    @Test func allFilesAndHashes() throws {
        let all = Planner(target: target, allFiles: true)
        #expect(names(all.plan(try requirement("demo==2.0"), constraints: [], page: page)).count == 3)
        var p = page
        p.files[0].sha256 = "aa"
        p.files[1].sha256 = "bb"
        let hashed = try RequirementsParser.requirement("demo==1.0", hashes: ["aa"], origin: .init(file: "t", line: 1))
        #expect(names(Planner(target: target, allFiles: false).plan(hashed, constraints: [], page: p)) == ["demo-1.0.tar.gz"])
    }

    @Test func failsAndSkipsClearly() throws {
        let planner = Planner(target: target, allFiles: false)
        guard case .fail(let why) = planner.plan(try requirement("demo>=3"), constraints: [], page: page) else {
            Issue.record("expected a failure"); return
        }
        #expect(why.contains("fits Python 3.11"))
        guard case .skip = planner.plan(try requirement("demo; sys_platform == 'win32'"), constraints: [], page: page) else {
            Issue.record("expected a skip"); return
        }
    }
}
