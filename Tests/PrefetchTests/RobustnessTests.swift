import TestSupport
import Testing
@testable import Prefetch

/// Random text must produce a parse error at worst, never a crash.
@Suite struct RobustnessTests {

    @Test func randomTextNeverCrashesTheParsers() {
        var rng = SeededRandom(seed: 42)
        let alphabet = Array("abcXYZ019._-+!*~=<>()[],;'\" \t\\#@/:%\u{e9}\r\n") + ["and", "or", "in", "not", "python_version"].flatMap { Array($0) }
        for _ in 0..<3000 {
            let text = String((0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            _ = Version(text)
            _ = SpecifierSet(parsing: text)
            _ = try? Marker.parse(text)
            _ = try? RequirementsParser.requirement(text, hashes: [], origin: .init(file: "f", line: 1))
            _ = try? RequirementsParser.parse(files: ["r.txt"]) { _ in text }
        }
    }

    @Test func randomTOMLNeverCrashes() {
        var rng = SeededRandom(seed: 7)
        let alphabet = Array("ab01.=_-+[]{},\"'#\\ \t\nuUtrfe:") + Array("[[x]]\n") + Array("\"\"\"") + Array("'''")
        for _ in 0..<3000 {
            let text = String((0..<Int.random(in: 0...60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            _ = try? TOML.parse(text)
            _ = try? ProjectFiles.read("uv.lock", kind: .uvLock, extras: [], groups: []) { _ in text }
            _ = try? ProjectFiles.read("pylock.toml", kind: .pylock, extras: [], groups: []) { _ in text }
        }
    }

    @Test func damagedArchivesNeverCrashTheScanner() {
        var rng = SeededRandom(seed: 9)
        let archive = TarFixture.tarGz([("demo-1.0/PKG-INFO", "Metadata-Version: 2.2\nName: demo\n"), ("demo-1.0/pyproject.toml", "[project]\n")])
        for _ in 0..<500 {
            var bytes = archive
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng))) }
            let scanner = TarGzScanner()
            scanner.feed(bytes)
            _ = try? scanner.finish()
            _ = try? SdistDetails.zipMembers(bytes)
        }
    }
}
