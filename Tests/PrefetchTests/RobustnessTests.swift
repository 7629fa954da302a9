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
}
