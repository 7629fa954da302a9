import TestSupport
import Testing
@testable import HTTPServer

@Suite struct RequestParserTests {
    static let valid: [(String, Request)] = [
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n",
         Request(method: "GET", target: "/", minorVersion: 1, headers: [.init(name: "host", value: "x")])),
        ("HEAD /root/pypi/+simple/django/ HTTP/1.0\r\nAccept: text/html;q=0.5 , */*  \r\nConnection: keep-alive\r\n\r\n",
         Request(method: "HEAD", target: "/root/pypi/+simple/django/", minorVersion: 0, headers: [
            .init(name: "accept", value: "text/html;q=0.5 , */*"), .init(name: "connection", value: "keep-alive")])),
        ("GET /a?b=c HTTP/1.1\nUser-Agent: pip/24\n\n",
         Request(method: "GET", target: "/a?b=c", minorVersion: 1, headers: [.init(name: "user-agent", value: "pip/24")])),
        ("\r\nGET /x HTTP/1.1\r\nEmpty:\r\n\r\n",
         Request(method: "GET", target: "/x", minorVersion: 1, headers: [.init(name: "empty", value: "")])),
    ]

    @Test func parsesCompleteRequests() {
        for (text, expected) in Self.valid {
            let bytes = Array(text.utf8)
            let result = bytes.withUnsafeBytes { RequestParser.parse($0) }
            #expect(result == .complete(expected, consumed: bytes.count), "\(text)")
        }
    }

    @Test func everyPartialPrefixIsPartial() {
        for (text, _) in Self.valid {
            let bytes = Array(text.utf8)
            for n in 0..<bytes.count {
                let result = Array(bytes.prefix(n)).withUnsafeBytes { RequestParser.parse($0) }
                #expect(result == .partial, "prefix \(n) of \(text.debugDescription)")
            }
        }
    }

    @Test func leavesPipelinedBytesUnconsumed() {
        let first = "GET /1 HTTP/1.1\r\n\r\n"
        let bytes = Array((first + "GET /2 HTTP/1.1\r\n\r\n").utf8)
        guard case .complete(let request, let consumed) = bytes.withUnsafeBytes({ RequestParser.parse($0) }) else {
            Issue.record("not complete"); return
        }
        #expect(request.target == "/1")
        #expect(consumed == first.utf8.count)
    }

    static let invalid: [(String, Int)] = [
        ("GET / HTTP/1.1 extra\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\n\r\n", 400),
        ("G(T / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\n\r\n", 505),
        ("GET / FTP/1.0\r\n\r\n", 400),
        ("GET /\u{01} HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nA: b\u{7f}c\r\n\r\n", 400),
    ]

    @Test func rejectsMalformedRequests() {
        for (text, status) in Self.invalid {
            let result = Array(text.utf8).withUnsafeBytes { RequestParser.parse($0) }
            guard case .invalid(let got, _) = result else {
                Issue.record("accepted \(text.debugDescription)"); continue
            }
            #expect(got == status, "\(text.debugDescription)")
        }
    }

    @Test func boundsHeadSize() {
        let unfinished = Array(("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 200)).utf8)
        #expect(unfinished.withUnsafeBytes { RequestParser.parse($0, maxHeadBytes: 100) } == .invalid(status: 431, reason: "request head too large"))
        var many = "GET / HTTP/1.1\r\n"
        for i in 0...RequestParser.maxHeaders { many += "H\(i): v\r\n" }
        let result = Array((many + "\r\n").utf8).withUnsafeBytes { RequestParser.parse($0) }
        #expect(result == .invalid(status: 431, reason: "too many header fields"))
    }

    @Test func keepAliveFollowsVersionAndConnectionHeader() {
        func req(_ minor: Int, _ connection: String?) -> Request {
            Request(method: "GET", target: "/", minorVersion: minor, headers: connection.map { [.init(name: "connection", value: $0)] } ?? [])
        }
        #expect(req(1, nil).keepAlive)
        #expect(!req(1, "close").keepAlive)
        #expect(!req(1, "Upgrade, Close").keepAlive)
        #expect(!req(0, nil).keepAlive)
        #expect(req(0, "Keep-Alive").keepAlive)
    }

    @Test func splitsPathAndQuery() {
        let r = Request(method: "GET", target: "/simple/x/?format=json", minorVersion: 1, headers: [])
        #expect(r.path == "/simple/x/")
        #expect(r.query == "format=json")
    }
}

@Suite struct RequestParserRobustnessTests {

    /// Random mixes of request fragments and bytes: complete, partial or invalid, never a crash,
    /// and a complete request never claims more bytes than it was given.
    @Test func randomInputNeverCrashes() {
        var rng = SeededRandom(seed: 3)
        let fragments: [[UInt8]] = ["GET ", "/", " HTTP/1.1", " HTTP/1.0", "\r\n", "\n", "\r", "Host: x", ":", " ", "\t",
                                     "HTTP/2", "%", "\u{7f}"].map { Array($0.utf8) } + [[0], [0xff], [0x80]]
        for _ in 0..<5000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...30, using: &rng) { bytes += fragments.randomElement(using: &rng)! }
            let result = bytes.withUnsafeBytes { RequestParser.parse($0, maxHeadBytes: 64) }
            if case .complete(_, let consumed) = result { #expect(consumed <= bytes.count) }
        }
    }
}
