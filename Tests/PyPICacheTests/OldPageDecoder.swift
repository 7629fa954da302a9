import Foundation
@testable import PyPICache

/// The JSONDecoder-based parser that `JSONPageReader` replaced (as of 978be32), kept
/// only here: the oracle the new reader is compared with, and the "before" of the
/// parse benchmark. Not used by the server.
enum OldPageDecoder {
    struct Failure: Error {}

    /// Foundation's URL per link, as before.
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

    static func parseJSON(_ body: [UInt8], baseURL: String, project: ProjectName, skipped: inout Int) throws -> ProjectPage {
        let root: JSONPage
        do { root = try JSONDecoder().decode(JSONPage.self, from: Data(body)) } catch {
            throw Failure()
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

}
