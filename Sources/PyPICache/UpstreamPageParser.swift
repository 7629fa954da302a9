/// Reads an upstream project page: PEP 691 JSON, or PEP 503 HTML from indexes
/// that only speak that (private indexes, devpi, static mirrors). Relative
/// links are resolved against the URL that answered.
///
/// `UpstreamPageReader` reads a page as it arrives (`PageFetch` feeds it each chunk
/// libcurl delivers); these entry points read a page held whole, as one chunk.
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
        var reader = UpstreamPageReader(contentType: contentType, baseURL: baseURL, project: project)
        body.withUnsafeBytes { reader.feed($0) }
        let page = try reader.finish()
        skipped += reader.skipped
        return page
    }

    public static func parseJSON(_ body: [UInt8], baseURL: String, project: ProjectName) throws -> ProjectPage {
        var skipped = 0
        return try parseJSON(body, baseURL: baseURL, project: project, skipped: &skipped)
    }

    public static func parseJSON(_ body: [UInt8], baseURL: String, project: ProjectName, skipped: inout Int) throws -> ProjectPage {
        try parse(body, contentType: "application/json", baseURL: baseURL, project: project, skipped: &skipped)
    }

    public static func parseHTML(_ html: String, baseURL: String, project: ProjectName) -> ProjectPage {
        var reader = HTMLPageReader(baseURL: baseURL, project: project)
        var html = html
        html.withUTF8 { reader.feed(UnsafeRawBufferPointer($0)) }
        return reader.finish()
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
        UpstreamURLResolver(base: base).resolve(raw).map { ($0.url, $0.fragmentHash) }
    }
}

/// A page being read as it arrives, in the format its Content-Type names
/// (JSON when it says so, else HTML, as PEP 691 negotiation allows).
public struct UpstreamPageReader {
    /// Exactly one is set. Optionals, not an enum with payloads: `json?.feed` mutates in
    /// place, where taking a payload out of an enum would copy the reader's buffers.
    private var json: JSONPageReader?
    private var html: HTMLPageReader?

    public init(contentType: String?, baseURL: String, project: ProjectName) {
        if (contentType ?? "").lowercased().contains("json") {
            json = JSONPageReader(baseURL: baseURL, project: project)
        } else {
            html = HTMLPageReader(baseURL: baseURL, project: project)
        }
    }

    /// Reads one chunk; the work is proportional to its size.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) {
        json?.feed(chunk)
        html?.feed(chunk)
    }

    /// Why the page is already known to be unusable (broken JSON), so the rest need not be read.
    public var failure: String? {
        json?.syntaxError.map { "upstream JSON page is not a PEP 691 project page: \($0)" }
    }

    public mutating func finish() throws -> ProjectPage {
        if json != nil { return try json!.finish() }
        return html!.finish()
    }

    /// File entries kept so far.
    public var fileCount: Int { json?.fileCount ?? html?.fileCount ?? 0 }

    /// File entries left out as unusable (JSON pages count them).
    public var skipped: Int { json?.skipped ?? 0 }
}
