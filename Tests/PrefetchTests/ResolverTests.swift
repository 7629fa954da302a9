import PyPICache
import Testing
@testable import Prefetch

/// An index in memory. Each release is one pure wheel unless told otherwise.
final class FakeIndex: ResolverData {
    struct Release {
        var requires: [String] = []
        var requiresPython: String?
        var yanked: String?
        var fileRequiresPython: String?
        var sdistOnly = false
    }

    var projects: [String: [String: Release]] = [:]
    /// Requests answered `.pending` until `deliver()`.
    var pending: Set<DataRequest> = []
    var asked: [DataRequest] = []

    func add(_ name: String, _ version: String, _ requires: [String] = [], requiresPython: String? = nil,
             yanked: String? = nil, fileRequiresPython: String? = nil) {
        projects[name, default: [:]][version] = Release(requires: requires, requiresPython: requiresPython, yanked: yanked,
                                                         fileRequiresPython: fileRequiresPython)
    }

    func file(_ name: String, _ version: String, _ release: Release) -> DistributionFile {
        let filename = release.sdistOnly ? "\(name)-\(version).tar.gz" : "\(name.replacingDashes)-\(version)-py3-none-any.whl"
        return DistributionFile(filename: filename, url: "https://x/\(filename)", sha256: String(repeating: "a", count: 64),
                                requiresPython: release.fileRequiresPython, yanked: release.yanked)
    }

    func page(_ name: ProjectName) -> Lookup<ProjectPage> {
        guard let releases = projects[name.normalized] else { return .unavailable("no such project") }
        return .ready(ProjectPage(name: name.normalized, files: releases.map { file(name.normalized, $0.key, $0.value) }))
    }

    func details(_ ref: FileRef) -> Lookup<DistributionDetails> {
        asked.append(.details(ref))
        let version = ref.file.version!
        guard let release = projects[ref.project.normalized]?[version] else { return .unavailable("no file") }
        var metadata = CoreMetadata()
        metadata.metadataVersion = "2.1"
        metadata.requiresDist = release.requires
        metadata.providesExtra = release.requires.compactMap { $0.firstMatch(of: /extra == '([^']+)'/).map { String($0.1) } }
        metadata.requiresPython = release.requiresPython
        return .ready(DistributionDetails(metadata: metadata))
    }
}

private extension String {
    var replacingDashes: String { String(map { $0 == "-" ? "_" : $0 }) }
}

@Suite struct ResolverTests {
    let target = Target(pythonVersion: "3.11", platforms: ["manylinux_2_28_x86_64"])!

    func requirements(_ lines: [String]) throws -> [Requirement] {
        try lines.enumerated().map { try RequirementsParser.requirement($1, hashes: [], origin: .init(file: "in.txt", line: $0 + 1)) }
    }

    func resolve(_ index: FakeIndex, _ lines: [String], constraints: [String] = []) throws -> ResolutionOutcome {
        let resolver = Resolver(target: target, requirements: try requirements(lines), constraints: try requirements(constraints))
        return resolver.resolve(index)
    }

    func pins(_ outcome: ResolutionOutcome) -> [String: String] {
        guard case .resolved(let pins, _) = outcome else { return [:] }
        return Dictionary(uniqueKeysWithValues: pins.map { ($0.name.normalized, $0.version.description) })
    }

    func conflict(_ outcome: ResolutionOutcome) -> String? {
        if case .conflict(let lines) = outcome { return lines.joined(separator: "\n") }
        return nil
    }

    @Test func takesNewestAndFollowsDependencies() throws {
        let index = FakeIndex()
        index.add("requests", "2.31.0", ["urllib3<3,>=1.21.1", "idna<4,>=2.5", "certifi>=2017.4.17", "charset-normalizer<4,>=2"])
        index.add("requests", "2.30.0", ["urllib3"])
        index.add("urllib3", "2.2.0")
        index.add("urllib3", "3.0.0")
        index.add("idna", "3.6")
        index.add("certifi", "2024.2.2")
        index.add("charset-normalizer", "3.3.2")
        #expect(pins(try resolve(index, ["requests"])) == ["requests": "2.31.0", "urllib3": "2.2.0", "idna": "3.6",
                                                          "certifi": "2024.2.2", "charset-normalizer": "3.3.2"])
    }

    @Test func backtracksToAnOlderVersion() throws {
        // The newest alpha needs gamma>=2, but beta (pinned) needs gamma<2: alpha 1.0 it is.
        let index = FakeIndex()
        index.add("alpha", "2.0", ["gamma>=2"])
        index.add("alpha", "1.0", ["gamma>=1"])
        index.add("beta", "1.0", ["gamma<2"])
        index.add("gamma", "1.5")
        index.add("gamma", "2.5")
        #expect(pins(try resolve(index, ["alpha", "beta==1.0"])) == ["alpha": "1.0", "beta": "1.0", "gamma": "1.5"])
    }

    @Test func backtracksThroughAChoiceMadeEarlier() throws {
        // a is decided before the conflict shows: b 2.0 needs c<1, which a 2.0's c>=1 rules out.
        let index = FakeIndex()
        index.add("a", "2.0", ["c>=1"])
        index.add("a", "1.0")
        index.add("b", "2.0", ["c<1"])
        index.add("b", "1.0", ["c<1", "a<2"])
        index.add("c", "0.5")
        index.add("c", "1.5")
        let result = pins(try resolve(index, ["a", "b==1.0"]))
        #expect(result == ["a": "1.0", "b": "1.0", "c": "0.5"])
    }

    @Test func conflictIsExplained() throws {
        let index = FakeIndex()
        index.add("alpha", "2.0", ["gamma>=2"])
        index.add("beta", "1.0", ["gamma<2"])
        index.add("gamma", "1.0")
        index.add("gamma", "2.0")
        let why = try #require(conflict(try resolve(index, ["alpha==2.0", "beta==1.0"])))
        #expect(why.contains("no version of alpha fits") || why.contains("no version of beta fits"), "\(why)")
        #expect(why.contains("gamma>=2") && why.contains("gamma<2"), "\(why)")
        #expect(why.contains("the input (in.txt:1)") || why.contains("the input (in.txt:2)"), "\(why)")
    }

    @Test func inputThatNothingSatisfiesIsExplained() throws {
        let index = FakeIndex()
        index.add("gamma", "1.0")
        let why = try #require(conflict(try resolve(index, ["gamma>=2"])))
        #expect(why == "no version of gamma fits:\n  gamma>=2 is required by the input (in.txt:1)\n  versions with a file for Python 3.11 on manylinux_2_28_x86_64: 1.0")
    }

    @Test func markersAndExtras() throws {
        let index = FakeIndex()
        index.add("requests", "2.31.0", ["idna", "PySocks!=1.5.7,>=1.5.6; extra == 'SOCKS'", "chardet; extra == 'use-chardet-on-py3'",
                                         "win-inet-pton; sys_platform == 'win32' and extra == 'socks'", "tomli; python_version < '3.11'"])
        index.add("idna", "3.6")
        index.add("pysocks", "1.7.1")
        index.add("chardet", "5.0")
        #expect(pins(try resolve(index, ["requests"])) == ["requests": "2.31.0", "idna": "3.6"])
        #expect(pins(try resolve(index, ["requests[socks]"])) == ["requests": "2.31.0", "idna": "3.6", "pysocks": "1.7.1"])
        #expect(pins(try resolve(index, ["requests[nope]"])) == ["requests": "2.31.0", "idna": "3.6"], "undeclared extras are ignored, as pip does")
        // An extra asked for by a dependency after the project was pinned: re-pinned with it.
        index.add("app", "1.0", ["requests", "helper"])
        index.add("helper", "1.0", ["requests[socks]"])
        #expect(pins(try resolve(index, ["app"]))["pysocks"] == "1.7.1")
    }

    @Test func yankedOnlyWhenPinned() throws {
        let index = FakeIndex()
        index.add("gamma", "1.0")
        index.add("gamma", "1.1", yanked: "broken")
        index.add("delta", "3.0", yanked: "oops")
        #expect(pins(try resolve(index, ["gamma"])) == ["gamma": "1.0"])
        #expect(pins(try resolve(index, ["gamma==1.1"])) == ["gamma": "1.1"])
        #expect(conflict(try resolve(index, ["delta>=1"])) != nil, "all yanked and not pinned: nothing")
        #expect(pins(try resolve(index, ["delta==3.0"])) == ["delta": "3.0"])
    }

    @Test func requiresPythonFromThePageAndTheMetadata() throws {
        let index = FakeIndex()
        index.add("zeta", "1.0")
        index.add("zeta", "2.0", fileRequiresPython: ">=3.99")
        index.add("eta", "1.0")
        index.add("eta", "2.0", requiresPython: ">=3.12")
        #expect(pins(try resolve(index, ["zeta", "eta"])) == ["zeta": "1.0", "eta": "1.0"])
        let why = try #require(conflict(try resolve(index, ["eta==2.0"])))
        #expect(why.contains("eta 2.0 requires Python >=3.12"), "\(why)")
    }

    @Test func constraintsApplyOnlyToWhatIsRequired() throws {
        let index = FakeIndex()
        index.add("a", "1.0", ["b"])
        index.add("b", "1.0")
        index.add("b", "2.0")
        index.add("c", "1.0")
        #expect(pins(try resolve(index, ["a"], constraints: ["b<2", "c==1.0"])) == ["a": "1.0", "b": "1.0"])
    }

    @Test func preReleasesOnlyWhenAskedOrAlone() throws {
        let index = FakeIndex()
        index.add("p", "1.0")
        index.add("p", "2.0b1")
        index.add("q", "1.0rc1")
        #expect(pins(try resolve(index, ["p", "q"])) == ["p": "1.0", "q": "1.0rc1"])
        #expect(pins(try resolve(index, ["p>=2.0b1"])) == ["p": "2.0b1"])
    }

    @Test func missingProjectsAreHolesWithTheirReason() throws {
        let index = FakeIndex()
        index.add("a", "1.0", ["nowhere>=1"])
        guard case .resolved(let pins, let holes) = try resolve(index, ["a"]) else { Issue.record("not resolved"); return }
        #expect(pins.map(\.description) == ["a 1.0"])
        #expect(holes.count == 1 && holes[0].1 == "no such project (required by a 1.0)")
    }

    @Test func stopsForMissingDataAndSaysWhatElseItWillNeed() throws {
        final class Slow: ResolverData {
            let index: FakeIndex
            var loaded: Set<DataRequest> = []
            init(_ index: FakeIndex) { self.index = index }
            func page(_ name: ProjectName) -> Lookup<ProjectPage> { loaded.contains(.page(name)) ? index.page(name) : .pending }
            func details(_ ref: FileRef) -> Lookup<DistributionDetails> { loaded.contains(.details(ref)) ? index.details(ref) : .pending }
        }
        let index = FakeIndex()
        index.add("a", "1.0", ["c"])
        index.add("b", "1.0")
        index.add("c", "1.0")
        let data = Slow(index)
        let resolver = Resolver(target: target, requirements: try requirements(["a", "b"]), constraints: [])
        var runs = 0
        while runs < 20 {
            runs += 1
            guard case .needs(let blocking, let likely) = resolver.resolve(data) else { break }
            data.loaded.insert(blocking)
            data.loaded.formUnion(likely)
        }
        #expect(pins(resolver.resolve(data)) == ["a": "1.0", "b": "1.0", "c": "1.0"])
        #expect(runs <= 5, "likely requests are fetched together: \(runs) runs")
    }

    @Test func hopelessSearchesGiveUpInsteadOfRunningForever() throws {
        // q can never be satisfied, and chronological backtracking would try every
        // combination of the twelve projects before it (5^12): the attempt limit ends it.
        let index = FakeIndex()
        for i in 0..<12 { for v in 1...5 { index.add("p\(i)", "\(v).0") } }
        index.add("q", "1.0", ["p0<0"])
        let resolver = Resolver(target: target, requirements: try requirements((0..<12).map { "p\($0)" } + ["q"]), constraints: [],
                                maxAttempts: 2_000)
        let why = try #require(conflict(resolver.resolve(index)))
        #expect(why == "gave up after trying 2000 candidates: pin more requirements")
    }
}
