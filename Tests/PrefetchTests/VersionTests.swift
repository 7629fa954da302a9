import Testing
@testable import Prefetch

@Suite struct VersionTests {
    @Test func ordersAsPEP440() {
        let ordered = ["1.0.dev1", "1.0a1", "1.0a2.dev1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0+local", "1.0.post1.dev1",
                       "1.0.post1", "1.1", "1.10", "2!0.1"]
        let versions = ordered.map { Version($0)! }
        for i in versions.indices.dropLast() {
            #expect(versions[i] < versions[i + 1], "\(ordered[i]) < \(ordered[i + 1])")
        }
        #expect(Version("1.0")! == Version("1.0.0")!)
        #expect(Version("1.0-1")!.post == 1)
        #expect(Version("1.0.RC1")!.pre! == (2, 1))
        #expect(Version("v2.0")! == Version("2.0")!)
    }

    @Test(arguments: ["", "abc", "1..0", "1.0+", "1.0-foo", "1.0 2"])
    func rejectsNonVersions(text: String) {
        #expect(Version(text) == nil)
    }
}

@Suite struct SpecifierTests {
    func allows(_ spec: String, _ version: String) -> Bool {
        SpecifierSet(parsing: spec)!.contains(Version(version)!)
    }

    @Test func clauses() {
        #expect(allows(">=1.0,<2", "1.5") && !allows(">=1.0,<2", "2.0"))
        #expect(allows("==1.2.*", "1.2.9") && !allows("==1.2.*", "1.3"))
        #expect(!allows("!=1.3.*", "1.3.1") && allows("!=1.3.*", "1.4"))
        #expect(allows("~=2.2", "2.9") && !allows("~=2.2", "3.0") && !allows("~=2.2", "2.1"))
        #expect(allows("~=1.4.5", "1.4.9") && !allows("~=1.4.5", "1.5"))
        #expect(allows("==1.0", "1.0+local") && !allows("==1.0+other", "1.0+local"))
        #expect(!allows("<2.0", "2.0rc1"), "pre-releases of the bound are excluded")
        #expect(!allows(">1.0", "1.0.post1"), "post-releases of the bound are excluded")
    }

    @Test func prereleasesOnlyWhenAskedFor() {
        #expect(!allows(">=1.0", "2.0b1"))
        #expect(allows(">=2.0b1", "2.0b2"))
        #expect(SpecifierSet(parsing: ">=1.0")!.contains(Version("2.0b1")!, prereleases: true))
    }

    @Test(arguments: [">=", "==1.*.2", "~=1", "=>1.0", ">=1.0.*", "1.0"])
    func rejectsMalformed(text: String) {
        #expect(SpecifierSet(parsing: text) == nil)
    }
}

@Suite struct MarkerTests {
    let env = Target(pythonVersion: "3.11", platforms: ["manylinux_2_28_x86_64"])!.markerEnvironment

    @Test(arguments: [
        ("python_version >= \"3.8\"", true),
        ("python_version < '3.10'", false),
        ("python_version >= '3.8' and sys_platform == 'win32'", false),
        ("sys_platform == 'win32' or (platform_system == 'Linux' and platform_machine == 'x86_64')", true),
        ("'linux' in sys_platform", true),
        ("os_name not in 'nt'", true),
        ("extra == 'test'", false),
        ("python_full_version >= '3.11.0'", true),
        ("platform_python_implementation == 'CPython'", true),
        ("python_version > '3.9'", true),
    ])
    func evaluates(marker: String, expected: Bool) throws {
        #expect(try Marker.parse(marker).evaluate(env) == expected)
    }

    @Test(arguments: ["python_version >", "nonsense == '1'", "python_version >= '3' and", "(python_version > '3'", "'a' = 'b'"])
    func rejectsMalformed(marker: String) {
        #expect(throws: Marker.Failure.self) { try Marker.parse(marker) }
    }
}
