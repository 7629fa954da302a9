import Reactor

/// Conditional and range requests (RFC 9110 13 and 14), applied by the server to
/// every 200 response before it is written. The application opts in through
/// headers: an `ETag` makes If-None-Match and If-Range work; `Accept-Ranges: bytes`
/// on a response with a file body makes Range work.
enum ConditionalRequest {
    /// Fields that describe a 200's body, dropped from a 304 (which has none).
    static let representationFields: Set<String> = ["content-type", "content-encoding", "content-language", "content-length",
                                                    "content-range", "content-location", "accept-ranges", "last-modified"]

    static func evaluate(_ response: Response, for request: Request) -> Response {
        guard response.status == 200 else { return response }
        let etag = response.header("ETag")
        if let etag, let condition = request.header("if-none-match"), EntityTag.anyMatches(condition, etag) {
            // RFC 9110 15.4.5: a 304 carries the 200's fields minus its representation metadata.
            let kept = response.headers.filter { !representationFields.contains($0.0.lowercased()) }
            return Response(status: 304, headers: kept, body: .empty, logFields: response.logFields)
        }
        // Two Range fields: which one was meant is unknown, so neither is honoured.
        guard request.method == "GET", response.header("Accept-Ranges") == "bytes", let rangeHeader = request.header("range"),
              request.headers.lazy.filter({ $0.name == "range" }).count == 1
        else { return response }
        // If-Range: the range only if the representation is still the one the client has.
        if let validator = request.header("if-range"), !(etag.map { EntityTag.strongMatch(validator, $0) } ?? false) {
            return response
        }
        let fd: FileDescriptor, offset: Int, length: Int
        var growing: GrowingFile?
        switch response.body {
        case .file(let file, let start, let count):
            (fd, offset, length) = (file, start, count)
        case .growing(let file):
            // A file still downloading: its length is known (upstream declared it), its bytes
            // only up to what was written so far.
            (fd, offset, length, growing) = (file.fd, 0, file.length, file)
        case .empty, .bytes, .growingPart:
            return response
        }
        switch ByteRange.parse(rangeHeader, size: length) {
        case nil:
            return response  // malformed or several ranges: ignore Range, send the whole file
        case .unsatisfiable:
            var refusal = Response.error(416, "range not satisfiable for \(length) bytes", headers: [("Content-Range", "bytes */\(length)")])
            refusal.logFields = response.logFields
            return refusal
        case .range(let first, let last):
            var partial = response
            partial.status = 206
            partial.headers.append(("Content-Range", "bytes \(first)-\(last)/\(length)"))
            if let growing, last >= growing.sendable {
                // Not all written yet: the 206 follows the download and sends the range as it
                // arrives. Not a 200 with the whole body: pip's lazy wheel writes whatever a
                // range request returns at the range's offset (it never checks for 206), and uv
                // gives up on ranges for the wheel. The last byte comes only once the file is
                // verified; a failed download cuts the response short, as for followers.
                partial.body = .growingPart(growing, offset: first, length: last - first + 1)
            } else {
                partial.body = .file(fd, offset: offset + first, length: last - first + 1)
            }
            return partial
        }
    }
}

/// A single byte range of a representation of known size.
public enum ByteRange: Equatable, Sendable {
    /// Inclusive first and last byte positions.
    case range(Int, Int)
    case unsatisfiable

    /// nil when the header is malformed, uses another unit, or asks for several
    /// ranges: all of which a server may answer with the whole representation.
    public static func parse(_ header: String, size: Int) -> ByteRange? {
        let spec = header.utf8.filter { $0 != 32 && $0 != 9 }
        guard spec.starts(with: "bytes=".utf8) else { return nil }
        let set = spec.dropFirst(6)
        guard !set.contains(UInt8(ascii: ",")), let dash = set.firstIndex(of: UInt8(ascii: "-")) else { return nil }
        let firstText = set[set.startIndex..<dash], lastText = set[set.index(after: dash)...]
        func number(_ digits: ArraySlice<UInt8>) -> Int? {
            guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            return Int(String(decoding: digits, as: UTF8.self))
        }
        if firstText.isEmpty {
            // Suffix range: the last n bytes.
            guard let n = number(lastText) else { return nil }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .range(max(0, size - n), size - 1)
        }
        guard let first = number(firstText) else { return nil }
        var last = size - 1
        if !lastText.isEmpty {
            guard let l = number(lastText), l >= first else { return nil }
            last = min(l, size - 1)
        }
        guard first < size else { return .unsatisfiable }
        return .range(first, last)
    }
}

/// Entity-tag comparison (RFC 9110 8.8.3.2).
public enum EntityTag {
    /// If-None-Match: weak comparison against each listed tag, or `*`.
    public static func anyMatches(_ list: String, _ etag: String) -> Bool {
        let opaque = stripWeak(etag)
        for candidate in list.split(separator: ",") {
            let tag = candidate.filter { $0 != " " && $0 != "\t" }
            if tag == "*" || stripWeak(tag) == opaque { return true }
        }
        return false
    }

    /// If-Range: strong comparison; weak tags and dates never match.
    public static func strongMatch(_ validator: String, _ etag: String) -> Bool {
        let v = validator.filter { $0 != " " && $0 != "\t" }
        return !v.hasPrefix("W/") && !etag.hasPrefix("W/") && v == etag
    }

    private static func stripWeak(_ tag: some StringProtocol) -> Substring {
        tag.hasPrefix("W/") ? Substring(tag).dropFirst(2) : Substring(tag)
    }
}
