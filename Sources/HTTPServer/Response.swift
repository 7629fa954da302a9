import Reactor

/// What a responder answers. The server adds Content-Length (not on a 304) and,
/// where needed, Connection itself, and drops the body for HEAD.
public struct Response {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Body
    /// Fields the responder adds to this response's access-log line (see
    /// `HTTPResponder.accessLogFieldNames`); the HTTP layer does not interpret them.
    public var logFields: [(String, String)]

    public init(status: Int, headers: [(String, String)] = [], body: Body = .empty, logFields: [(String, String)] = []) {
        self.status = status
        self.headers = headers
        self.body = body
        self.logFields = logFields
    }

    /// A one-line plain-text error, the form every failure takes.
    public static func error(_ status: Int, _ reason: String, headers: [(String, String)] = []) -> Response {
        Response(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")] + headers,
                 body: .bytes(Array("\(status) \(Response.reasonPhrase(status)): \(reason)\n".utf8)))
    }

    public static func redirect(to location: String, status: Int = 301) -> Response {
        Response(status: status, headers: [("Location", location), ("Content-Type", "text/plain; charset=utf-8")],
                 body: .bytes(Array("redirect to \(location)\n".utf8)))
    }

    /// The first value of a header field, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 416: "Range Not Satisfiable"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}

/// Where a response body comes from.
public enum Body {
    case empty
    /// Small in-memory bodies (pages, errors): sent with the head in one write.
    case bytes([UInt8])
    /// A complete file, sent with sendfile. The fd is shared, never moved.
    case file(FileDescriptor, offset: Int, length: Int)
    /// A file still being written by an upstream transfer.
    case growing(GrowingFile)
    /// A range of a file still being written (a 206 whose bytes are not all there yet):
    /// sent as the producer writes them, like `growing`.
    case growingPart(GrowingFile, offset: Int, length: Int)

    public var length: Int {
        switch self {
        case .empty: 0
        case .bytes(let b): b.count
        case .file(_, _, let length): length
        case .growing(let g): g.length
        case .growingPart(_, _, let length): length
        }
    }
}
