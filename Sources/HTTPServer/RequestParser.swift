/// An incremental HTTP/1.x request-head parser in the manner of picohttpparser:
/// hand it everything received so far; it answers complete (with the bytes the
/// head used), partial (send more), or invalid (with a one-line reason).
/// It looks at the bytes only once the whole head is there, so a partial head
/// costs one scan for the blank line and no allocation.
public enum RequestParser {
    public enum Result: Equatable {
        case complete(Request, consumed: Int)
        case partial
        case invalid(status: Int, reason: String)
    }

    public static let defaultMaxHeadBytes = 16 * 1024
    public static let maxHeaders = 100

    /// `scanFrom` lets a caller that was told `.partial` resume the search for the
    /// blank line near where the last search stopped (pass the previous byte count),
    /// so a head that trickles in byte by byte costs linear, not quadratic, time.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxHeadBytes: Int = defaultMaxHeadBytes, scanFrom: Int = 0) -> Result {
        // RFC 9112 2.2: a server SHOULD ignore empty lines before the request line.
        // They still count against the head's bound: every byte before a complete head does.
        var start = 0
        while start < bytes.count, bytes[start] == cr || bytes[start] == lf { start += 1 }

        guard let end = endOfHead(bytes, from: max(start, scanFrom - 3)) else {
            if bytes.count > maxHeadBytes { return tooLarge(bytes, start: start, limit: maxHeadBytes) }
            return .partial
        }
        if end > maxHeadBytes { return tooLarge(bytes, start: start, limit: maxHeadBytes) }

        var lines = LineReader(bytes: bytes, position: start, end: end)
        guard let requestLine = lines.next() else { return .invalid(status: 400, reason: "missing request line") }
        let parsedLine: (String, String, Int)
        switch parseRequestLine(bytes, requestLine) {
        case .success(let v): parsedLine = v
        case .failure(let e): return .invalid(status: e.status, reason: e.reason)
        }

        var headers: [Request.Header] = []
        while let line = lines.next() {
            if line.isEmpty { break }
            if headers.count == maxHeaders { return .invalid(status: 431, reason: "too many header fields") }
            switch parseHeaderLine(bytes, line) {
            case .success(let h): headers.append(h)
            case .failure(let e): return .invalid(status: e.status, reason: e.reason)
            }
        }
        let request = Request(method: parsedLine.0, target: parsedLine.1, minorVersion: parsedLine.2, headers: headers)
        return .complete(request, consumed: lines.position)
    }

    /// Which bound a head over `limit` bytes broke: 414 when the request line alone
    /// does not fit (the URI is too long), 431 when the header fields do.
    private static func tooLarge(_ bytes: UnsafeRawBufferPointer, start: Int, limit: Int) -> Result {
        if start >= limit { return .invalid(status: 400, reason: "only empty lines before the request line") }
        let window = start..<min(bytes.count, limit)
        if !window.contains(where: { bytes[$0] == lf }) { return .invalid(status: 414, reason: "request line too long") }
        return .invalid(status: 431, reason: "request head too large")
    }

    // MARK: - Pieces

    struct Failure: Error {
        let status: Int
        let reason: String
    }

    private static let cr: UInt8 = 13, lf: UInt8 = 10, space: UInt8 = 32, tab: UInt8 = 9, colon: UInt8 = 58

    /// Index just past the blank line that ends the head (CRLF CRLF or bare LF LF).
    private static func endOfHead(_ b: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        while i < b.count {
            if b[i] == lf {
                if i + 1 < b.count, b[i + 1] == lf { return i + 2 }
                if i + 2 < b.count, b[i + 1] == cr, b[i + 2] == lf { return i + 3 }
            }
            i += 1
        }
        return nil
    }

    /// Yields each line's byte range without its line ending.
    private struct LineReader {
        let bytes: UnsafeRawBufferPointer
        var position: Int
        let end: Int

        mutating func next() -> Range<Int>? {
            guard position < end else { return nil }
            var i = position
            while i < end, bytes[i] != RequestParser.lf { i += 1 }
            var lineEnd = i
            if lineEnd > position, bytes[lineEnd - 1] == RequestParser.cr { lineEnd -= 1 }
            let line = position..<lineEnd
            position = min(i + 1, end)
            return line
        }
    }

    /// RFC 9110 token characters.
    private static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }

    private static func parseRequestLine(_ b: UnsafeRawBufferPointer, _ line: Range<Int>) -> Swift.Result<(String, String, Int), Failure> {
        let parts = line.split(omittingEmptySubsequences: false) { b[$0] == space }
        guard parts.count == 3 else { return .failure(Failure(status: 400, reason: "malformed request line")) }
        let method = parts[0], target = parts[1], version = parts[2]
        guard method.allSatisfy({ isTokenChar(b[$0]) }) else { return .failure(Failure(status: 400, reason: "malformed method")) }
        // Visible ASCII only; no control bytes, no spaces, nothing past 0x7E.
        guard target.allSatisfy({ b[$0] > 0x20 && b[$0] < 0x7F }) else {
            return .failure(Failure(status: 400, reason: "malformed request target"))
        }
        let v = String(decoding: UnsafeRawBufferPointer(rebasing: b[version]), as: UTF8.self)
        let minor: Int
        switch v {
        case "HTTP/1.1": minor = 1
        case "HTTP/1.0": minor = 0
        default:
            if v.hasPrefix("HTTP/") { return .failure(Failure(status: 505, reason: "HTTP version not supported")) }
            return .failure(Failure(status: 400, reason: "malformed HTTP version"))
        }
        return .success((string(b, method), string(b, target), minor))
    }

    private static func parseHeaderLine(_ b: UnsafeRawBufferPointer, _ line: Range<Int>) -> Swift.Result<Request.Header, Failure> {
        if b[line.lowerBound] == space || b[line.lowerBound] == tab {
            return .failure(Failure(status: 400, reason: "obsolete header line folding"))
        }
        guard let colonAt = line.first(where: { b[$0] == colon }), colonAt > line.lowerBound else {
            return .failure(Failure(status: 400, reason: "malformed header field"))
        }
        let name = line.lowerBound..<colonAt
        guard name.allSatisfy({ isTokenChar(b[$0]) }) else {
            return .failure(Failure(status: 400, reason: "malformed header name"))
        }
        var vStart = colonAt + 1, vEnd = line.upperBound
        while vStart < vEnd, b[vStart] == space || b[vStart] == tab { vStart += 1 }
        while vEnd > vStart, b[vEnd - 1] == space || b[vEnd - 1] == tab { vEnd -= 1 }
        guard (vStart..<vEnd).allSatisfy({ b[$0] >= 0x20 && b[$0] != 0x7F || b[$0] == tab }) else {
            return .failure(Failure(status: 400, reason: "control character in header value"))
        }
        return .success(Request.Header(name: string(b, name).lowercased(), value: string(b, vStart..<vEnd)))
    }

    private static func string(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: b[r]), as: UTF8.self)
    }
}
