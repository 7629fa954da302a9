import Testing
@testable import HTTPServer

/// The bounds on what a client may send before a complete head, and the framing
/// headers a request without a body may carry.
@Suite struct HeadLimitsTests {
    func parse(_ bytes: [UInt8], max: Int = 64, scanFrom: Int = 0) -> RequestParser.Result {
        bytes.withUnsafeBytes { RequestParser.parse($0, maxHeadBytes: max, scanFrom: scanFrom) }
    }

    @Test func emptyLinesBeforeTheRequestLineCountAgainstTheBound() {
        // Fewer than the bound: skipped (RFC 9112 2.2).
        #expect(parse(Array("\r\n\r\nGET / HTTP/1.1\r\n\r\n".utf8)) != .partial)
        // Past the bound, with or without a request after them: refused, never buffered forever.
        #expect(parse(Array(repeating: 13, count: 65)) == .invalid(status: 400, reason: "only empty lines before the request line"))
        let padded = Array(String(repeating: "\r\n", count: 30).utf8) + Array("GET / HTTP/1.1\r\n\r\n".utf8)
        guard case .invalid(let status, _) = parse(padded) else { Issue.record("accepted \(padded.count) bytes"); return }
        #expect((400..<500).contains(status))
    }

    @Test func aLongRequestLineIs414AndLongFieldsAre431() {
        let longURI = Array("GET /\(String(repeating: "a", count: 100)) HTTP/1.1\r\n\r\n".utf8)
        #expect(parse(longURI) == .invalid(status: 414, reason: "request line too long"))
        #expect(parse(Array(longURI.prefix(70))) == .invalid(status: 414, reason: "request line too long"))
        let longField = Array("GET / HTTP/1.1\r\nX: \(String(repeating: "b", count: 100))\r\n\r\n".utf8)
        #expect(parse(longField) == .invalid(status: 431, reason: "request head too large"))
    }

    @Test func resumingTheScanFindsTheEndAcrossEveryChunkBoundary() {
        let text = Array("GET /x HTTP/1.1\r\nHost: y\r\n\r\n".utf8)
        for split in 0..<text.count {
            #expect(parse(Array(text.prefix(split)), scanFrom: 0) == .partial)
            // Resuming where the partial parse stopped gives the same answer as a full scan.
            #expect(parse(text, scanFrom: split) == parse(text), "split at \(split)")
        }
    }

    @Test func bufferConsumesPipelinedRequestsInOrder() {
        var buffer = InboundBuffer()
        let requests = (0..<50).map { "GET /\($0) HTTP/1.1\r\n\r\n" }.joined()
        Array(requests.utf8).withUnsafeBytes { buffer.append($0) }
        for i in 0..<50 {
            guard case .complete(let request, _) = buffer.nextRequest(maxHeadBytes: 1024) else { Issue.record("request \(i)"); return }
            #expect(request.target == "/\(i)")
        }
        #expect(buffer.isEmpty)
    }

    @Test func bufferFindsAHeadSentByteByByte() {
        var buffer = InboundBuffer()
        let text = Array("GET /slow HTTP/1.1\r\nHost: y\r\n\r\nGET /next".utf8)
        var completed: [String] = []
        for byte in text {
            [byte].withUnsafeBytes { buffer.append($0) }
            if case .complete(let request, _) = buffer.nextRequest(maxHeadBytes: 1024) { completed.append(request.target) }
        }
        #expect(completed == ["/slow"])
        #expect(buffer.count == "GET /next".utf8.count)
    }

    func refusal(_ headers: [(String, String)], method: String = "GET") -> Int? {
        let request = Request(method: method, target: "/", minorVersion: 1, headers: headers.map { .init(name: $0.0, value: $0.1) })
        return RequestRules.refusal(of: request)?.status
    }

    @Test func framingHeadersAreCheckedStrictly() {
        #expect(refusal([]) == nil)
        #expect(refusal([("content-length", "0")]) == nil)
        #expect(refusal([("content-length", "0"), ("content-length", "0")]) == 400)
        #expect(refusal([("content-length", "0"), ("content-length", "5")]) == 400)
        #expect(refusal([("content-length", "0, 5")]) == 400)
        #expect(refusal([("content-length", "-1")]) == 400)
        #expect(refusal([("content-length", "")]) == 400)
        #expect(refusal([("content-length", "7")]) == 413)
        #expect(refusal([("transfer-encoding", "chunked")]) == 400)
        #expect(refusal([("host", "a"), ("host", "b")]) == 400)
        #expect(refusal([], method: "POST") == 405)
    }
}
