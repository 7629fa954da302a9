/// Writes a project page for clients, with every file link pointing at
/// wheelhouse's own `+f` URL (relative, so it works behind any host name).
public enum PageRenderer {
    /// The API version wheelhouse implements (PEP 691 1.0, PEP 700 1.1). A JSON page
    /// says 1.1 only when it can: PEP 700 makes `size` mandatory for every file.
    public static let apiVersion = "1.1"

    static func apiVersion(of page: ProjectPage) -> String {
        page.files.allSatisfy { $0.size != nil } ? apiVersion : "1.0"
    }

    /// `filesPrefix` is the relative path from the page URL to `/root/pypi/+f/`.
    public static func render(_ page: ProjectPage, as format: PageFormat, filesPrefix: String) -> [UInt8] {
        switch format {
        case .json: Array(json(page, filesPrefix: filesPrefix).utf8)
        case .html, .legacyHTML: Array(html(page, filesPrefix: filesPrefix).utf8)
        }
    }

    static func fileURL(_ file: DistributionFile, key: FileKey, prefix: String) -> String {
        "\(prefix)\(key.hashDirectory)/\(key.hashSubdirectory)/\(percentEncode(file.filename))"
    }

    public static func html(_ page: ProjectPage, filesPrefix: String) -> String {
        let name = HTMLEscaping.escape(page.name)
        var out = """
        <!DOCTYPE html>
        <html>
          <head>
            <meta name="pypi:repository-version" content="\(apiVersion)">
            <title>Links for \(name)</title>
          </head>
          <body>
            <h1>Links for \(name)</h1>

        """
        for file in page.files {
            guard let key = file.key else { continue }
            var href = fileURL(file, key: key, prefix: filesPrefix)
            if let sha = file.sha256 { href += "#sha256=\(sha)" }
            out += "    <a href=\"\(HTMLEscaping.escape(href))\""
            if let rp = file.requiresPython { out += " data-requires-python=\"\(HTMLEscaping.escape(rp))\"" }
            if let reason = file.yanked { out += " data-yanked=\"\(HTMLEscaping.escape(reason))\"" }
            if let metadata = file.coreMetadata {
                // PEP 714: the new name, and the old one for older clients.
                let value = metadata.isEmpty ? "true" : "sha256=\(metadata)"
                out += " data-core-metadata=\"\(value)\" data-dist-info-metadata=\"\(value)\""
            }
            out += ">\(HTMLEscaping.escape(file.filename))</a><br/>\n"
        }
        out += "  </body>\n</html>\n"
        return out
    }

    public static func json(_ page: ProjectPage, filesPrefix: String) -> String {
        var out = "{\"meta\":{\"api-version\":\"\(apiVersion(of: page))\"},\"name\":\(quote(page.name)),\"files\":["
        var first = true
        for file in page.files {
            guard let key = file.key else { continue }
            if !first { out += "," }
            first = false
            out += "{\"filename\":\(quote(file.filename)),\"url\":\(quote(fileURL(file, key: key, prefix: filesPrefix)))"
            out += ",\"hashes\":{" + (file.sha256.map { "\"sha256\":\(quote($0))" } ?? "") + "}"
            if let rp = file.requiresPython { out += ",\"requires-python\":\(quote(rp))" }
            if let reason = file.yanked { out += ",\"yanked\":" + (reason.isEmpty ? "true" : quote(reason)) }
            if let size = file.size { out += ",\"size\":\(size)" }
            if let t = file.uploadTime { out += ",\"upload-time\":\(quote(t))" }
            if let metadata = file.coreMetadata {
                // PEP 714: JSON carries only the new key; pip 22.3-23.1 crash on the old one.
                let value = metadata.isEmpty ? "true" : "{\"sha256\":\(quote(metadata))}"
                out += ",\"core-metadata\":\(value)"
            }
            out += "}"
        }
        out += "],\"versions\":[" + versions(of: page).map(quote).joined(separator: ",") + "]}"
        return out
    }

    /// PEP 700 `versions`: upstream's, or else the versions in the filenames, in first-seen order.
    static func versions(of page: ProjectPage) -> [String] {
        if let versions = page.versions { return versions }
        var seen: Set<String> = []
        return page.files.compactMap(\.version).filter { seen.insert($0).inserted }
    }

    /// A JSON string literal.
    static func quote(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if ch.value < 0x20 {
                    let hex = String(ch.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        return out + "\""
    }

    /// Percent-encodes all but RFC 3986 unreserved characters and a few that
    /// are safe in a path segment and common in filenames.
    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }
}
