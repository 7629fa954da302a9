import Foundation
import TestSupport
@testable import PyPICache

/// Generated upstream pages of any size, with the page a correct reader must return.
/// Entries look like PyPI's (url, hashes, requires-python, upload-time, size, core
/// metadata, yanked on some) and vary the way real indexes do: key order, spacing,
/// escaped characters, unknown keys holding nested values, relative links.
enum PageFixtures {
    /// Relative links resolve against the page's URL: `origin` + /simple/big/.
    static let origin = "https://index.example"
    static let base = origin + "/simple/big/"

    struct Generated {
        var body: [UInt8]
        var expected: ProjectPage
    }

    static func hex(_ rng: inout SeededRandom) -> String {
        let digits = Array("0123456789abcdef")
        return String((0..<64).map { _ in digits[Int(rng.next() >> 60)] })
    }

    /// A JSON page of `count` files. With `plain`, one entry shape only, the way PyPI
    /// writes it (the benchmark's page); else every variation above.
    static func json(files count: Int, seed: UInt64 = 1, plain: Bool = false, origin: String = origin) -> Generated {
        var rng = SeededRandom(seed: seed)
        var expected: [DistributionFile] = []
        var entries: [String] = []
        entries.reserveCapacity(count)
        var versions: [String] = []
        for n in 0..<count {
            let version = "\(n / 20).\(n % 20 / 4).\(n % 4)"
            if n % 20 == 0 { versions.append(version) }
            let wheel = n % 5 != 0
            let filename = wheel ? "big-\(version)-cp312-cp312-manylinux_2_17_x86_64.whl" : "big-\(version).tar.gz"
            let sha = hex(&rng)
            let path = "packages/\(sha.prefix(2))/\(sha.dropFirst(2).prefix(2))/\(sha.dropFirst(4).prefix(60))/\(filename)"
            let size = Int(rng.next() >> 40)
            let uploaded = "2024-0\(n % 9 + 1)-1\(n % 10)T12:34:56.\(n % 1_000_000)Z"
            var file = DistributionFile(filename: filename, url: "https://files.example/\(path)", sha256: sha,
                                        requiresPython: n % 3 == 0 ? nil : ">=3.\(n % 13)", size: size, uploadTime: uploaded)
            var fields: [(String, String)] = [
                ("\"filename\"", "\"\(filename)\""),
                ("\"url\"", "\"https://files.example/\(path)\""),
                ("\"hashes\"", "{\"sha256\":\"\(sha)\"}"),
                ("\"size\"", "\(size)"),
                ("\"upload-time\"", "\"\(uploaded)\""),
            ]
            if let rp = file.requiresPython { fields.append(("\"requires-python\"", "\"\(rp)\"")) }
            if wheel {
                let metadataSHA = hex(&rng)
                file.coreMetadata = metadataSHA
                fields.append(("\"core-metadata\"", "{\"sha256\":\"\(metadataSHA)\"}"))
                fields.append(("\"data-dist-info-metadata\"", "{\"sha256\":\"\(metadataSHA)\"}"))
            }
            if n % 97 == 0 {
                file.yanked = n % 2 == 0 ? "" : "broken \"build\""
                fields.append(("\"yanked\"", n % 2 == 0 ? "true" : "\"broken \\\"build\\\"\""))
            } else {
                fields.append(("\"yanked\"", "false"))
            }
            if !plain { vary(&fields, &file, n: n, sha: sha, path: path, origin: origin) }
            expected.append(file)
            let separator = plain || n % 2 == 0 ? "," : " ,\n  "
            entries.append("{" + fields.map { "\($0.0):\($0.1)" }.joined(separator: separator) + "}")
        }
        let meta = plain ? "" : "\"meta\":{\"api-version\":\"1.1\",\"_last-serial\":12345},\"name\":\"big\",\"x\":[[{}],[],{\"a\":[1,2.5e-3,null]}],"
        let text = "{\(meta)\"versions\":[\(versions.map { "\"\($0)\"" }.joined(separator: ","))],\"files\":[\n"
            + entries.joined(separator: ",\n") + "\n]}\n"
        return Generated(body: Array(text.utf8), expected: ProjectPage(name: "big", files: expected, versions: versions))
    }

    /// What real pages (and odd indexes) do that a reader must not trip on.
    private static func vary(_ fields: inout [(String, String)], _ file: inout DistributionFile, n: Int, sha: String, path: String,
                             origin: String) {
        switch n % 7 {
        case 1:  // a relative link with the hash in the fragment, upper-case, and no `hashes` sha256
            fields[1].1 = "\"../../files/\(path)#sha256=\(sha.uppercased())\""
            fields[2].1 = "{\"md5\":\"x\"}"
            file.url = "\(origin)/files/\(path)"
        case 2:  // escapes: \/ in the URL, \u in the filename key and value, a surrogate pair elsewhere
            fields[0].0 = "\"file\\u006eame\""
            let escaped = file.filename.replacingOccurrences(of: "big-", with: "\\u0062ig-")
            fields[0].1 = "\"\(escaped)\""
            fields[1].1 = fields[1].1.replacingOccurrences(of: "/", with: "\\/")
            fields.append(("\"comment\"", "\"caf\\u00e9 \\ud83d\\ude00 \\n\\t\\\\\""))
        case 3:  // unknown keys holding nested values, and a null requires-python
            fields.append(("\"provenance\"", "{\"a\":[1,{\"b\":[true,false,null,\"}]\"]}],\"c\":-1.5E+3}"))
            if file.requiresPython == nil { fields.append(("\"requires-python\"", "null")) }
        case 4:  // upper-case hashes are lower-cased; spacing everywhere
            fields[2].1 = " { \"sha256\" : \"\(sha.uppercased())\" } "
            fields[0].0 = "\n\t\"filename\" "
        case 5:  // dist-info-metadata only (the pre-PEP 714 name)
            fields.removeAll { $0.0 == "\"core-metadata\"" }
            if file.isWheel { fields.append(("\"dist-info-metadata\"", "true")); file.coreMetadata = "" }
        default:
            break
        }
        // Key order must not matter.
        if n % 11 == 0 { fields.reverse() }
    }

    /// An HTML page of `count` links (PEP 503 with the PEP 592/658/714 attributes).
    static func html(files count: Int, seed: UInt64 = 2, origin: String = origin) -> Generated {
        var rng = SeededRandom(seed: seed)
        var expected: [DistributionFile] = []
        var links: [String] = []
        for n in 0..<count {
            let filename = "big-\(n / 4).\(n % 4)-py3-none-any.whl"
            let sha = hex(&rng)
            let quote = n % 2 == 0 ? "\"" : "'"
            var file = DistributionFile(filename: filename, url: "\(origin)/files/\(n)/\(filename)", sha256: sha)
            var attrs = "href=\(quote)../../files/\(n)/\(filename)#sha256=\(sha)\(quote)"
            if n % 3 == 0 { attrs += " data-requires-python=\(quote)&gt;=3.8,&lt;4\(quote)"; file.requiresPython = ">=3.8,<4" }
            if n % 5 == 0 { attrs += " data-yanked=\"bad &amp; &#39;old&#39;\""; file.yanked = "bad & 'old'" }
            if n % 4 == 0 { attrs += " data-core-metadata=\"sha256=\(sha.uppercased())\""; file.coreMetadata = sha }
            let tag = n % 6 == 0 ? "A" : "a"
            links.append("<\(tag)  \(attrs) >\n  \(filename) </\(tag)><br/>")
            expected.append(file)
        }
        let text = "<!DOCTYPE html><html><head><title>Links for big</title></head><body><h1>Links</h1>\n"
            + links.joined(separator: "\n") + "\n</body></html>\n"
        return Generated(body: Array(text.utf8), expected: ProjectPage(name: "big", files: expected))
    }

    /// Feeds `body` cut at the given offsets (ascending), as libcurl would deliver it.
    static func read(_ body: [UInt8], cuts: [Int], contentType: String, base: String = base,
                     project: ProjectName = ProjectName("big")!) throws -> (ProjectPage, skipped: Int) {
        var reader = UpstreamPageReader(contentType: contentType, baseURL: base, project: project)
        var start = 0
        body.withUnsafeBytes { all in
            for cut in cuts + [body.count] where cut >= start {
                reader.feed(UnsafeRawBufferPointer(rebasing: all[start..<cut]))
                start = cut
            }
        }
        let page = try reader.finish()
        return (page, reader.skipped)
    }

    /// Random cut points: from one byte apart to tens of kilobytes.
    static func randomCuts(_ count: Int, rng: inout SeededRandom) -> [Int] {
        var cuts: [Int] = []
        var at = 0
        while true {
            let step = Int(rng.next() >> 62 == 0 ? rng.next() >> 61 : rng.next() >> 49) + 1
            at += step
            guard at < count else { return cuts }
            cuts.append(at)
        }
    }
}
