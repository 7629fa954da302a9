/// A parsed request head. Header names are lower-cased; values are trimmed.
public struct Request: Sendable, Equatable {
    public let method: String
    /// The request target exactly as sent (origin form: path and optional query).
    public let target: String
    /// HTTP/1.x minor version: 0 or 1.
    public let minorVersion: Int
    public let headers: [Header]

    public struct Header: Sendable, Equatable {
        public let name: String
        public let value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(method: String, target: String, minorVersion: Int, headers: [Header]) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.headers = headers
    }

    /// The first value of a header, by lower-case name.
    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }

    // Targets are ASCII (the parser guarantees it), so these work on UTF-8 bytes:
    // Character-based String operations cost several times more on this hot path.

    /// The path part of the target, still percent-encoded.
    public var path: Substring {
        guard let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return target[...] }
        return target[..<q]
    }

    /// The query part of the target, without `?`, or nil.
    public var query: Substring? {
        guard let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return target[target.utf8.index(after: q)...]
    }

    /// HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless told to keep it.
    public var keepAlive: Bool {
        guard let value = header("connection") else { return minorVersion >= 1 }
        let tokens = value.utf8.split(separator: UInt8(ascii: ",")).map { token in
            String(decoding: token.filter { $0 != 32 && $0 != 9 }, as: UTF8.self).lowercased()
        }
        if minorVersion >= 1 { return !tokens.contains("close") }
        return tokens.contains("keep-alive")
    }
}
