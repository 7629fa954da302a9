/// What every request must be for this server to serve it, whatever the application.
enum RequestRules {
    /// The refusal for a request this server never serves, or nil. Framing headers
    /// are checked strictly (RFC 9112 6.3): a duplicated or malformed length, or any
    /// Transfer-Encoding, would let bytes we do not read as a body be taken for a
    /// second request (request smuggling), so they are refused and the connection closed.
    static func refusal(of request: Request) -> Response? {
        if request.method != "GET" && request.method != "HEAD" {
            return Response.error(405, "only GET and HEAD are supported", headers: [("Allow", "GET, HEAD")])
        }
        if request.header("transfer-encoding") != nil { return Response.error(400, "request bodies are not accepted") }
        let lengths = request.headers.filter { $0.name == "content-length" }
        if lengths.count > 1 { return Response.error(400, "more than one Content-Length") }
        if let length = lengths.first?.value {
            guard !length.isEmpty, length.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                return Response.error(400, "malformed Content-Length")
            }
            if length.utf8.contains(where: { $0 != 48 }) { return Response.error(413, "request bodies are not accepted") }
        }
        if request.headers.lazy.filter({ $0.name == "host" }).count > 1 { return Response.error(400, "more than one Host") }
        if !request.target.hasPrefix("/") { return Response.error(400, "request target must be an absolute path") }
        return nil
    }
}
