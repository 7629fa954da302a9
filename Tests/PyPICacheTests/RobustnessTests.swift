import TestSupport
import Testing
@testable import PyPICache

/// Hostile or broken input from upstream or clients must never crash the parsers.
@Suite struct RobustnessTests {

    @Test func randomPagesAndPathsNeverCrash() throws {
        var rng = SeededRandom(seed: 7)
        let fragments = ["<a", "<A ", " href=", "\"", "'", ">", "</a>", "</A", "#sha256=", "data-yanked", "=", "&amp;", "&#x",
                         "&#999999999;", ";", "x.whl", "../", "http://h/", "{", "}", "[", "]", ":", ",", "\"files\"", "\"url\"",
                         "null", "true", "1e999", "%", "%2e", "/", "+simple", "+f", "abc", "0123456789abc", "\u{0}", "é"]
        let name = ProjectName("demo")!
        for _ in 0..<3000 {
            let text = (0..<Int.random(in: 0...30, using: &rng)).map { _ in fragments.randomElement(using: &rng)! }.joined()
            _ = UpstreamPageParser.parseHTML(text, baseURL: "https://index/simple/demo/", project: name)
            _ = try? UpstreamPageParser.parseJSON(Array(text.utf8), baseURL: "https://index/simple/demo/", project: name)
            _ = Route.parse(path: Substring("/" + text))
            _ = HTMLEscaping.unescape(text)
            _ = PageFormat.negotiate(accept: text)
            _ = ProjectName.guess(fromFilename: text)
        }
    }
}
