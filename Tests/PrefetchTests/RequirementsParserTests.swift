import Testing
@testable import Prefetch

@Suite struct RequirementsParserTests {
    func parse(_ files: [String: String], root: String = "req.txt") throws -> RequirementSet {
        try RequirementsParser.parse(files: [root]) { files[$0] }
    }

    /// Real-world lines, including the nasty ones: (line, name, specifier, extras, hashes).
    static let lines: [(String, String, String, [String], [String])] = [
        ("Django>=3.2,<4.0  # comment", "django", ">=3.2,<4.0", [], []),
        ("requests[security, socks]==2.31.0 ; python_version >= \"3.8\"", "requests", "==2.31.0", ["security", "socks"], []),
        ("zope.interface===5.0", "zope-interface", "===5.0", [], []),
        ("foo (>=1.0, !=1.3.*)", "foo", ">=1.0,!=1.3.*", [], []),
        ("PyYAML", "pyyaml", "", [], []),
        ("numpy==1.26.4 --hash=sha256:AAA --hash sha256:bbb", "numpy", "==1.26.4", [], ["aaa", "bbb"]),
        ("ruamel.yaml.clib~=0.2.8\t", "ruamel-yaml-clib", "~=0.2.8", [], []),
        ("pkg==1.0 --config-settings=--build-option=x", "pkg", "==1.0", [], []),
        ("importlib_metadata; python_version<'3.10'", "importlib-metadata", "", [], []),
    ]

    @Test(arguments: lines)
    func parsesRequirementLines(line: String, name: String, specifier: String, extras: [String], hashes: [String]) throws {
        let set = try parse(["req.txt": line + "\r\n"])
        let r = try #require(set.requirements.first)
        #expect(r.name.normalized == name)
        #expect(r.specifier.description == specifier)
        #expect(r.extras == extras)
        #expect(r.hashes == hashes)
        #expect(r.origin.description == "req.txt:1")
    }

    @Test func continuationsCommentsIncludesAndConstraints() throws {
        let set = try parse([
            "dir/req.txt": """
            # top comment
            -r common.txt
            --requirement=../other.txt
            -c constraints.txt
            alpha==2.0 \\
                --hash=sha256:abc \\
                --hash=sha256:def
            beta  # a trailing comment
            """,
            "dir/common.txt": "gamma\n",
            "other.txt": "delta>=1\n",
            "dir/constraints.txt": "gamma<1.1\n",
        ], root: "dir/req.txt")
        #expect(set.requirements.map(\.name.normalized) == ["gamma", "delta", "alpha", "beta"])
        let alpha = try #require(set.requirements.first { $0.name.normalized == "alpha" })
        #expect(alpha.hashes == ["abc", "def"] && alpha.origin.description == "dir/req.txt:5")
        #expect(set.constraints.map(\.name.normalized) == ["gamma"])
        #expect(set.requirements.first?.origin.description == "dir/common.txt:1")
    }

    @Test func skipsWhatNoIndexServesWithANoteEach() throws {
        let set = try parse(["req.txt": """
            -e git+https://github.com/org/repo.git#egg=repo
            git+https://github.com/org/other.git@v1#egg=other
            ./vendor/pkg
            /abs/path/pkg-1.0.tar.gz
            https://example.com/pkg-1.0-py3-none-any.whl
            pkg @ https://example.com/pkg-1.0.tar.gz
            --index-url https://pypi.org/simple
            --extra-index-url=https://other.example/simple
            --pre
            real==1.0
            """])
        #expect(set.requirements.map(\.name.normalized) == ["real"])
        #expect(set.notes.count == 9)
        #expect(set.notes[0].hasPrefix("req.txt:1: skipped editable"))
        #expect(set.notes[1].contains("VCS"))
        #expect(set.notes[2].contains("local path") && set.notes[3].contains("local path"))
        #expect(set.notes[4].contains("URL requirement") && set.notes[5].contains("direct URL"))
        #expect(set.indexURLs == ["https://pypi.org/simple", "https://other.example/simple"])
    }

    @Test(arguments: [
        ("foo>=", "req.txt:2: cannot parse the version specifier"),
        ("-r missing.txt", "req.txt:2: cannot read requirements file missing.txt"),
        ("bad name==1", "req.txt:2:"),
        ("foo; python_version >>> '3'", "req.txt:2: bad environment marker"),
        ("foo[extra==1", "req.txt:2: unclosed extras"),
        ("beta#comment-needs-a-space", "req.txt:2: cannot parse the version specifier"),
        ("-r", "req.txt:2: -r needs a file name"),
    ])
    func badLinesNameFileAndLine(line: String, message: String) {
        do {
            _ = try parse(["req.txt": "ok==1\n" + line + "\n"])
            Issue.record("accepted \(line)")
        } catch let e as RequirementsError {
            #expect(e.description.hasPrefix(message), "\(e.description)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func includeCyclesAreErrors() {
        #expect(throws: RequirementsError.self) { try parse(["a.txt": "-r b.txt\n", "b.txt": "-r a.txt\n"], root: "a.txt") }
    }
}
