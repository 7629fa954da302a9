import Testing
@testable import Prefetch
@testable import PyPICache

/// Builds ustar archives in memory (with pax headers when asked), gzipped.
enum TarFixture {
    static func header(_ name: String, size: Int, type: UInt8 = UInt8(ascii: "0")) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) { for (i, b) in text.utf8.enumerated() { h[offset + i] = b } }
        put(String(name.prefix(99)), at: 0)
        put("0000644", at: 100)
        put(String(size, radix: 8).leftPadded(11), at: 124)
        put("14536713245", at: 136)
        h[156] = type
        put("ustar", at: 257)
        put("00", at: 263)
        for i in 148..<156 { h[i] = 32 }
        let sum = h.reduce(0) { $0 + Int($1) }
        put(String(sum, radix: 8).leftPadded(6), at: 148)
        h[154] = 0
        return h
    }

    static func member(_ name: String, _ content: [UInt8], type: UInt8 = UInt8(ascii: "0")) -> [UInt8] {
        header(name, size: content.count, type: type) + content + [UInt8](repeating: 0, count: (512 - content.count % 512) % 512)
    }

    static func tarGz(_ members: [(String, String)], paxLongNames: Bool = false) -> [UInt8] {
        var tar: [UInt8] = []
        for (name, content) in members {
            if paxLongNames {
                let record = " path=\(name)\n"
                let line = "\(record.utf8.count + 3)\(record)"
                tar += member("PaxHeaders/x", Array(line.utf8), type: UInt8(ascii: "x"))
            }
            tar += member(paxLongNames ? "short" : name, Array(content.utf8))
        }
        tar += [UInt8](repeating: 0, count: 1024)
        return Gzip.compress(tar)!
    }
}

private extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

@Suite struct SdistTests {
    let pyproject = """
    [build-system]
    requires = ["setuptools>=61", "setuptools-scm[toml]>=6.2"]
    build-backend = "setuptools.build_meta"

    [project]
    name = "demo"
    requires-python = ">=3.8"
    dependencies = ["theta>=1.0", "tomli; python_version < '3.11'"]
    [project.optional-dependencies]
    fast = ["iota"]
    """

    func scan(_ bytes: [UInt8], chunk: Int) throws -> [String: [UInt8]] {
        let scanner = TarGzScanner()
        var i = 0
        while i < bytes.count {
            scanner.feed(Array(bytes[i..<min(i + chunk, bytes.count)]))
            i += chunk
        }
        return try scanner.finish()
    }

    @Test func readsTopLevelMembersInAnyChunking() throws {
        let big = String(repeating: "x", count: 200_000)
        let archive = TarFixture.tarGz([("demo-1.0/src/big.txt", big), ("demo-1.0/pyproject.toml", pyproject),
                                        ("demo-1.0/PKG-INFO", "Metadata-Version: 2.1\nName: demo\n"), ("demo-1.0/setup.py", "")])
        for chunk in [1, 7, 512, 4096, archive.count] {
            let members = try scan(archive, chunk: chunk)
            #expect(Set(members.keys) == ["pyproject.toml", "PKG-INFO"], "chunk \(chunk)")
            #expect(members["pyproject.toml"] == Array(pyproject.utf8))
        }
    }

    @Test func paxPathNamesTheNextMember() throws {
        let archive = TarFixture.tarGz([("demo-1.0/PKG-INFO", "Metadata-Version: 2.2\nName: demo\n")], paxLongNames: true)
        #expect(try scan(archive, chunk: 100)["PKG-INFO"] != nil)
    }

    @Test func badArchivesAreErrorsNotCrashes() throws {
        let archive = TarFixture.tarGz([("demo-1.0/PKG-INFO", "x")])
        #expect(throws: TarGzScanner.Failure.self) { try scan(Array(archive.prefix(archive.count / 2)), chunk: 64) }
        #expect(throws: TarGzScanner.Failure.self) { try scan(Array("not gzip at all".utf8), chunk: 64) }
        var corrupt = archive
        for i in 20..<min(60, corrupt.count) { corrupt[i] ^= 0x5A }
        #expect(throws: TarGzScanner.Failure.self) { try scan(corrupt, chunk: 64) }
    }

    @Test func detailsFromPyproject() throws {
        let details = SdistDetails.details(members: ["pyproject.toml": Array(pyproject.utf8),
                                                     "PKG-INFO": Array("Metadata-Version: 2.1\nName: demo\n".utf8)])
        #expect(details.buildSystem == BuildSystem(requires: ["setuptools>=61", "setuptools-scm[toml]>=6.2"],
                                                   backend: "setuptools.build_meta", defaulted: false))
        #expect(details.dependenciesKnown)
        #expect(details.metadata.requiresDist == ["theta>=1.0", "tomli; python_version < '3.11'", "iota ; extra == \"fast\""])
        #expect(details.metadata.requiresPython == ">=3.8")
    }

    @Test func legacyProjectsGetSetuptoolsAndUnknownDependencies() throws {
        let details = SdistDetails.details(members: ["PKG-INFO": Array("Metadata-Version: 1.1\nName: old\nVersion: 1.0\n".utf8)])
        #expect(details.buildSystem == .legacy && details.buildSystem?.requires == ["setuptools>=40.8.0", "wheel"])
        #expect(!details.dependenciesKnown)
        let modern = SdistDetails.details(members: ["PKG-INFO": Array("Metadata-Version: 2.2\nName: new\nRequires-Dist: six\n".utf8)])
        #expect(modern.dependenciesKnown && modern.metadata.requiresDist == ["six"])
        let dynamic = SdistDetails.details(members: ["PKG-INFO": Array("Metadata-Version: 2.2\nDynamic: Requires-Dist\n".utf8)])
        #expect(!dynamic.dependenciesKnown)
    }
}
