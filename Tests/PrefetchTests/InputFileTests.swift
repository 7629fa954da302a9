import Testing
@testable import Prefetch

@Suite struct TOMLTests {
    @Test func readsWhatProjectFilesUse() throws {
        let doc = try TOML.parse("""
        # comment
        title = "TOML \\"quoted\\" \\u00e9"   # trailing comment
        literal = 'C:\\path'
        multi = \"\"\"
        one \\
          two\"\"\"
        raw = '''
        keep \\n'''
        n = 1_000
        f = -0.5
        yes = true
        when = 1979-05-27T07:32:00Z
        list = [ 1, "two",
          [3], # comment inside
        ]
        inline = { a = 1, b.c = "d" }
        "quoted key" = 1
        dotted.key = 2

        [table.sub]
        x = 1

        [[array]]
        name = "first"
        [array.inner]
        y = 2
        [[array]]
        name = "second"
        """)
        #expect(doc["title"]?.string == "TOML \"quoted\" é")
        #expect(doc["literal"]?.string == "C:\\path")
        #expect(doc["multi"]?.string == "one two")
        #expect(doc["raw"]?.string == "keep \\n")
        #expect(doc["n"] == .integer(1000) && doc["f"] == .float(-0.5) && doc["yes"] == .bool(true))
        #expect(doc["when"]?.string == "1979-05-27T07:32:00Z")
        #expect(doc["list"] == .array([.integer(1), .string("two"), .array([.integer(3)])]))
        #expect(doc["inline"]?["b"]?["c"]?.string == "d")
        #expect(doc["quoted key"] == .integer(1) && doc["dotted"]?["key"] == .integer(2))
        #expect(doc["table"]?["sub"]?["x"] == .integer(1))
        #expect(doc["array"]?.array?.count == 2)
        #expect(doc["array"]?.array?[0]["inner"]?["y"] == .integer(2))
        #expect(doc["array"]?.array?[1]["name"]?.string == "second")
    }

    @Test func errorsNameTheLine() {
        for (text, line) in [("a = 1\nb = \n", 2), ("a = 1\na = 2\n", 2), ("x = \"open\n", 1), ("[t]\nk = [1,\n", 3), ("a = 1 b\n", 1)] {
            do {
                _ = try TOML.parse(text)
                Issue.record("no error for \(text)")
            } catch let error as TOMLError {
                #expect(error.description.hasPrefix("line \(line):"), "\(text): \(error)")
            } catch { Issue.record("\(error)") }
        }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        #expect(throws: TOMLError.self) { try TOML.parse("a = " + String(repeating: "[", count: 10_000)) }
    }
}

@Suite struct ProjectFileTests {
    func read(_ name: String, _ text: String, extras: [String] = [], groups: [String] = []) throws -> RequirementSet {
        try ProjectFiles.read(name, kind: ProjectFiles.kind(of: name)!, extras: extras, groups: groups) { _ in text }
    }

    func lines(_ requirements: [Requirement]) -> [String] {
        requirements.map { "\($0.name)\($0.extras.isEmpty ? "" : "[\($0.extras.joined(separator: ","))]")\($0.specifier)\($0.marker == nil ? "" : " ;m")" }
    }

    @Test func pyprojectDependenciesExtrasGroupsAndBuildSystem() throws {
        let set = try read("app/pyproject.toml", """
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        [project]
        name = "app"
        dependencies = ["requests>=2", "tomli; python_version < '3.11'"]
        [project.optional-dependencies]
        socks = ["pysocks"]
        [dependency-groups]
        test = ["pytest", {include-group = "lint"}]
        lint = ["ruff"]
        """, extras: ["socks"], groups: ["test"])
        #expect(lines(set.requirements) == ["requests>=2", "tomli ;m", "pysocks", "pytest", "ruff"])
        #expect(set.buildSystems.count == 1 && set.buildSystems[0].1.requires == ["hatchling"])
        #expect(throws: RequirementsError.self) { try read("pyproject.toml", "[project]\nname='x'\n", extras: ["nope"]) }
    }

    @Test func uvLockMembersDependenciesAndLockedVersions() throws {
        let set = try read("uv.lock", """
        version = 1
        requires-python = ">=3.11"

        [[package]]
        name = "app"
        version = "0.1.0"
        source = { virtual = "." }
        dependencies = [
            { name = "colorama", marker = "sys_platform == 'win32'" },
            { name = "requests", extra = ["socks"] },
        ]

        [[package]]
        name = "requests"
        version = "2.31.0"
        source = { registry = "https://pypi.org/simple" }
        dependencies = [{ name = "idna" }]
        sdist = { url = "https://x/requests-2.31.0.tar.gz", hash = "sha256:00", size = 1 }
        wheels = [{ url = "https://x/requests-2.31.0-py3-none-any.whl", hash = "sha256:00", size = 1 }]

        [[package]]
        name = "idna"
        version = "3.6"
        source = { registry = "https://pypi.org/simple" }

        [[package]]
        name = "numpy"
        version = "1.26.4"
        source = { registry = "https://pypi.org/simple" }
        [[package]]
        name = "numpy"
        version = "2.1.0"
        source = { registry = "https://pypi.org/simple" }
        """)
        #expect(lines(set.requirements) == ["colorama ;m", "requests[socks]"])
        #expect(lines(set.constraints) == ["idna==3.6", "requests==2.31.0"], "numpy, locked twice, is left to the resolver")
    }

    @Test func pylockPackagesArePins() throws {
        let set = try read("pylock.toml", """
        lock-version = "1.0"
        created-by = "test"
        [[packages]]
        name = "requests"
        version = "2.31.0"
        index = "https://pypi.org/simple"
        [[packages.wheels]]
        url = "https://x/requests-2.31.0-py3-none-any.whl"
        hashes = {sha256 = "00"}
        [[packages]]
        name = "pywin32"
        version = "306"
        marker = "sys_platform == 'win32'"
        [[packages]]
        name = "local"
        directory = { path = "." }
        """)
        #expect(lines(set.requirements) == ["requests==2.31.0", "pywin32==306 ;m"])
        #expect(set.notes == ["pylock.toml: skipped local: not from an index"])
    }
}
