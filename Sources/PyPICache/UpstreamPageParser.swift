import FoundationEssentials
import Support

/// Reads an upstream project page: PEP 691 JSON, or PEP 503 HTML from indexes
/// that only speak that (private indexes, devpi, static mirrors). Relative
/// links are resolved against the URL that answered.
public enum UpstreamPageParser {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ body: [UInt8], contentType: String?, baseURL: String, project: ProjectName) throws -> ProjectPage {
        var skipped = 0
        return try parse(body, contentType: contentType, baseURL: baseURL, project: project, skipped: &skipped)
    }

    /// `skipped` counts file entries left out because they were unusable (a `null`,
    /// no filename, no http(s) URL): one bad entry never loses the whole page.
    public static func parse(_ body: [UInt8], contentType: String?, baseURL: String, project: ProjectName, skipped: inout Int) throws -> ProjectPage {
        let type = (contentType ?? "").lowercased()
        if type.contains("json") { return try parseJSON(body, baseURL: baseURL, project: project, skipped: &skipped) }
        return parseHTML(String(decoding: body, as: UTF8.self), baseURL: baseURL, project: project)
    }

    // MARK: - PEP 691 JSON

    public static func parseJSON(_ body: [UInt8], baseURL: String, project: ProjectName) throws -> ProjectPage {
        var skipped = 0
        return try parseJSON(body, baseURL: baseURL, project: project, skipped: &skipped)
    }

    public static func parseJSON(_ body: [UInt8], baseURL: String, project: ProjectName, skipped: inout Int) throws -> ProjectPage {
        let root: JSONPage
        do { root = try JSONDecoder().decode(JSONPage.self, from: Data(body)) } catch {
            throw Failure(description: "upstream JSON page is not a PEP 691 project page")
        }
        var out: [DistributionFile] = []
        out.reserveCapacity(root.files.count)
        for entry in root.files {
            guard let f = entry.file, let filename = f.filename, !filename.isEmpty, let rawURL = f.url,
                  let (url, fragmentHash) = resolve(rawURL, against: baseURL) else {
                skipped += 1
                continue
            }
            out.append(DistributionFile(
                filename: filename, url: url,
                sha256: (f.hashes?["sha256"] ?? fragmentHash)?.lowercased(),
                requiresPython: f.requiresPython, yanked: f.yanked, size: f.size, uploadTime: f.uploadTime,
                coreMetadata: f.coreMetadata))
        }
        return ProjectPage(name: project.normalized, files: out, versions: root.versions)
    }

    /// PEP 691 as upstream sends it. Every per-file field is read leniently: one
    /// odd entry (a null, a number where a string belongs) must not lose the page.
    private struct JSONPage: Decodable {
        let files: [JSONEntry]
        let versions: [String]?

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            files = try c.decode([JSONEntry].self, forKey: .files)
            versions = try? c.decodeIfPresent([String].self, forKey: .versions)
        }

        private enum Key: String, CodingKey { case files, versions }
    }

    /// One element of `files`: nil when it is not an object at all (`null`, a number).
    private struct JSONEntry: Decodable {
        let file: JSONFile?
        init(from decoder: Decoder) throws { file = try? JSONFile(from: decoder) }
    }

    private struct JSONFile: Decodable {
        let filename: String?
        let url: String?
        let hashes: [String: String]?
        let requiresPython: String?
        /// nil: not yanked; "": yanked without a reason.
        let yanked: String?
        let size: Int?
        let uploadTime: String?
        let coreMetadata: String?

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            filename = try? c.decodeIfPresent(String.self, forKey: .filename)
            url = try? c.decodeIfPresent(String.self, forKey: .url)
            hashes = try? c.decodeIfPresent([String: String].self, forKey: .hashes)
            requiresPython = try? c.decodeIfPresent(String.self, forKey: .requiresPython)
            if let reason = try? c.decodeIfPresent(String.self, forKey: .yanked) {
                yanked = reason
            } else {
                yanked = (try? c.decodeIfPresent(Bool.self, forKey: .yanked)) == true ? "" : nil
            }
            size = try? c.decodeIfPresent(Int.self, forKey: .size)
            uploadTime = try? c.decodeIfPresent(String.self, forKey: .uploadTime)
            // PEP 714 renamed dist-info-metadata to core-metadata; either may come.
            coreMetadata = JSONFile.metadata(c, .coreMetadata) ?? JSONFile.metadata(c, .distInfoMetadata)
        }

        /// true -> "", {"sha256": h} -> h, false or absent -> nil.
        private static func metadata(_ c: KeyedDecodingContainer<Key>, _ key: Key) -> String? {
            if let hashes = try? c.decodeIfPresent([String: String].self, forKey: key) { return hashes["sha256"]?.lowercased() ?? "" }
            return (try? c.decodeIfPresent(Bool.self, forKey: key)) == true ? "" : nil
        }

        private enum Key: String, CodingKey {
            case filename, url, hashes, yanked, size
            case requiresPython = "requires-python"
            case uploadTime = "upload-time"
            case coreMetadata = "core-metadata"
            case distInfoMetadata = "dist-info-metadata"
        }
    }

    // MARK: - PEP 503 HTML

    public static func parseHTML(_ html: String, baseURL: String, project: ProjectName) -> ProjectPage {
        var files: [DistributionFile] = []
        for anchor in HTMLAnchorScanner.anchors(in: html) {
            guard let href = anchor.attributes["href"], let (url, fragmentHash) = resolve(href, against: baseURL) else { continue }
            var filename = anchor.text.trimmingCharacters(in: " \t\r\n")
            if filename.isEmpty { filename = String(url.split(separator: "/").last ?? "") }
            let metadata = anchor.attributes["data-core-metadata"] ?? anchor.attributes["data-dist-info-metadata"]
            files.append(DistributionFile(
                filename: filename, url: url, sha256: fragmentHash?.lowercased(),
                requiresPython: anchor.attributes["data-requires-python"],
                yanked: anchor.attributes["data-yanked"],
                coreMetadata: metadata.flatMap(metadataHash)))
        }
        return ProjectPage(name: project.normalized, files: files)
    }

    /// `true` -> "", `sha256=<h>` -> h, `false` -> nil, another hash -> "" (available, unverifiable).
    static func metadataHash(_ value: String) -> String? {
        if value == "false" { return nil }
        if value.hasPrefix("sha256=") { return String(value.dropFirst(7)).lowercased() }
        return ""
    }

    /// The absolute URL without its fragment, and the fragment's sha256 if it has one.
    /// Only http and https links are kept.
    static func resolve(_ raw: String, against base: String) -> (String, String?)? {
        guard let url = URL(string: raw, relativeTo: URL(string: base)) else { return nil }
        let absolute = url.absoluteURL
        guard let scheme = absolute.scheme?.lowercased(), scheme == "http" || scheme == "https" else { return nil }
        var hash: String?
        if let fragment = absolute.fragment, fragment.hasPrefix("sha256=") {
            hash = String(fragment.dropFirst("sha256=".count))
        }
        var text = absolute.absoluteString
        if let hashMark = text.firstIndex(of: "#") { text = String(text[..<hashMark]) }
        return (text, hash)
    }
}

/// Finds `<a ...>text</a>` elements in an HTML page, with unescaped attributes.
/// PEP 503 pages are machine-written and simple; this reads exactly that much HTML.
enum HTMLAnchorScanner {
    struct Anchor {
        var attributes: [String: String]
        var text: String
    }

    static func anchors(in html: String) -> [Anchor] {
        let s = Array(html.utf8)
        var result: [Anchor] = []
        var i = 0
        while i + 2 < s.count {
            guard s[i] == UInt8(ascii: "<"), s[i + 1] | 0x20 == UInt8(ascii: "a"), isSpace(s[i + 2]) || s[i + 2] == UInt8(ascii: ">") else {
                i += 1
                continue
            }
            i += 2
            var attributes: [String: String] = [:]
            // Attributes until '>'.
            while i < s.count, s[i] != UInt8(ascii: ">") {
                while i < s.count, isSpace(s[i]) || s[i] == UInt8(ascii: "/") { i += 1 }
                let nameStart = i
                while i < s.count, !isSpace(s[i]), s[i] != UInt8(ascii: "="), s[i] != UInt8(ascii: ">") { i += 1 }
                let name = String(decoding: s[nameStart..<i], as: UTF8.self).lowercased()
                while i < s.count, isSpace(s[i]) { i += 1 }
                var value = ""
                if i < s.count, s[i] == UInt8(ascii: "=") {
                    i += 1
                    while i < s.count, isSpace(s[i]) { i += 1 }
                    if i < s.count, s[i] == UInt8(ascii: "\"") || s[i] == UInt8(ascii: "'") {
                        let quote = s[i]
                        i += 1
                        let start = i
                        while i < s.count, s[i] != quote { i += 1 }
                        value = String(decoding: s[start..<min(i, s.count)], as: UTF8.self)
                        i += 1
                    } else {
                        let start = i
                        while i < s.count, !isSpace(s[i]), s[i] != UInt8(ascii: ">") { i += 1 }
                        value = String(decoding: s[start..<i], as: UTF8.self)
                    }
                }
                if !name.isEmpty { attributes[name] = HTMLEscaping.unescape(value) }
            }
            i += 1
            let textStart = min(i, s.count)
            while i + 3 < s.count, !(s[i] == UInt8(ascii: "<") && s[i + 1] == UInt8(ascii: "/") && s[i + 2] | 0x20 == UInt8(ascii: "a")) { i += 1 }
            let text = String(decoding: s[textStart..<min(i, s.count)], as: UTF8.self)
            result.append(Anchor(attributes: attributes, text: HTMLEscaping.unescape(text)))
        }
        return result
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 || c == 12 }
}
