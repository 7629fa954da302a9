import Glibc
import Reactor
import Testing
@testable import HTTPServer

@Suite struct ByteRangeTests {
    @Test(arguments: [
        ("bytes=0-99", 1000, ByteRange.range(0, 99)),
        ("bytes=500-", 1000, .range(500, 999)),
        ("bytes=-100", 1000, .range(900, 999)),
        ("bytes=-2000", 1000, .range(0, 999)),
        ("bytes=900-5000", 1000, .range(900, 999)),
        ("bytes = 1 - 2", 1000, .range(1, 2)),
        ("bytes=1000-", 1000, .unsatisfiable),
        ("bytes=-0", 1000, .unsatisfiable),
        ("bytes=0-", 0, .unsatisfiable),
    ] as [(String, Int, ByteRange)])
    func parses(header: String, size: Int, expected: ByteRange) {
        #expect(ByteRange.parse(header, size: size) == expected)
    }

    @Test(arguments: ["bytes=", "bytes=-", "bytes=a-b", "bytes=5-1", "items=0-1", "bytes=0-1,5-6", "0-1",
                      "bytes=1-2-3", "bytes=99999999999999999999-", "bytes=+1-2", "bytes=0x1-2"])
    func ignoresMalformed(header: String) {
        #expect(ByteRange.parse(header, size: 1000) == nil)
    }
}

@Suite struct ConditionalTests {
    func request(_ headers: [(String, String)], method: String = "GET") -> Request {
        Request(method: method, target: "/f", minorVersion: 1, headers: headers.map { .init(name: $0.0, value: $0.1) })
    }

    func fileResponse() throws -> Response {
        let fd = try Files.open("/dev/null", flags: O_RDONLY)
        return Response(status: 200, headers: [("ETag", "\"abc\""), ("Accept-Ranges", "bytes"), ("Cache-Control", "immutable")],
                        body: .file(fd, offset: 10, length: 1000))
    }

    @Test func ifNoneMatchGives304() throws {
        for condition in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "*"] {
            let r = ConditionalRequest.evaluate(try fileResponse(), for: request([("if-none-match", condition)]))
            #expect(r.status == 304, "\(condition)")
            #expect(r.header("ETag") == "\"abc\"" && r.header("Cache-Control") == "immutable")
            #expect(r.body.length == 0)
        }
        #expect(ConditionalRequest.evaluate(try fileResponse(), for: request([("if-none-match", "\"other\"")])).status == 200)
    }

    @Test func rangeGives206WithContentRange() throws {
        let r = ConditionalRequest.evaluate(try fileResponse(), for: request([("range", "bytes=100-199")]))
        #expect(r.status == 206)
        #expect(r.header("Content-Range") == "bytes 100-199/1000")
        guard case .file(_, let offset, let length) = r.body else { Issue.record("not a file body"); return }
        #expect(offset == 110 && length == 100)
    }

    @Test func unsatisfiableRangeGives416() throws {
        let r = ConditionalRequest.evaluate(try fileResponse(), for: request([("range", "bytes=5000-")]))
        #expect(r.status == 416 && r.header("Content-Range") == "bytes */1000")
    }

    @Test func ifRangeMustMatchStrongly() throws {
        #expect(ConditionalRequest.evaluate(try fileResponse(), for: request([("range", "bytes=0-1"), ("if-range", "\"abc\"")])).status == 206)
        #expect(ConditionalRequest.evaluate(try fileResponse(), for: request([("range", "bytes=0-1"), ("if-range", "\"old\"")])).status == 200)
        #expect(ConditionalRequest.evaluate(try fileResponse(), for: request([("range", "bytes=0-1"), ("if-range", "W/\"abc\"")])).status == 200)
        #expect(ConditionalRequest.evaluate(try fileResponse(), for: request([("range", "bytes=0-1"), ("if-range", "Tue, 01 Jan 2030 00:00:00 GMT")])).status == 200)
    }

    @Test func rangesOnlyWhereOfferedAndForGET() throws {
        var noRanges = try fileResponse()
        noRanges.headers.removeAll { $0.0 == "Accept-Ranges" }
        #expect(ConditionalRequest.evaluate(noRanges, for: request([("range", "bytes=0-1")])).status == 200)
        #expect(ConditionalRequest.evaluate(try fileResponse(), for: request([("range", "bytes=0-1")], method: "HEAD")).status == 200)
        let bytes = Response(status: 200, headers: [("Accept-Ranges", "bytes")], body: .bytes([1, 2, 3]))
        #expect(ConditionalRequest.evaluate(bytes, for: request([("range", "bytes=0-1")])).status == 200)
    }
}

/// Ranges on a file still downloading: 206 (from the file for bytes written, else following the download), or 416.
@Suite struct GrowingFileRangeTests {
    func request(_ range: String) -> Request {
        Request(method: "GET", target: "/f", minorVersion: 1, headers: [.init(name: "range", value: range)])
    }

    func growing(written: Int) throws -> (Response, GrowingFile) {
        let loop = try EventLoop()
        let fd = try Files.open("/dev/null", flags: O_RDONLY)
        let file = GrowingFile(fd: fd, length: 1000, loop: loop)
        file.didWrite(totalBytes: written)
        return (Response(status: 200, headers: [("ETag", "\"abc\""), ("Accept-Ranges", "bytes")], body: .growing(file)), file)
    }

    @Test func rangeWithinWrittenBytesIs206() throws {
        let (response, _) = try growing(written: 500)
        let answer = ConditionalRequest.evaluate(response, for: request("bytes=100-199"))
        #expect(answer.status == 206)
        #expect(answer.header("Content-Range") == "bytes 100-199/1000")
        guard case .file(_, let offset, let length) = answer.body else { Issue.record("not a file body"); return }
        #expect(offset == 100 && length == 100)
    }

    @Test(arguments: [("bytes=400-500", 400, 101), ("bytes=-100", 900, 100), ("bytes=900-", 900, 100)])
    func rangeBeyondWrittenBytesFollowsTheDownload(range: String, offset: Int, length: Int) throws {
        let (response, _) = try growing(written: 500)
        let answer = ConditionalRequest.evaluate(response, for: request(range))
        #expect(answer.status == 206)
        #expect(answer.header("Content-Range") == "bytes \(offset)-\(offset + length - 1)/1000")
        guard case .growingPart(_, let start, let count) = answer.body else { Issue.record("not a growing part"); return }
        #expect(start == offset && count == length)
    }

    @Test func malformedRangeGetsTheWholeGrowingBody() throws {
        let (response, _) = try growing(written: 500)
        let answer = ConditionalRequest.evaluate(response, for: request("bytes=0-1,5-6"))
        #expect(answer.status == 200)
        guard case .growing = answer.body else { Issue.record("not the growing body"); return }
    }

    @Test func unsatisfiableForTheDeclaredLengthIs416() throws {
        let (response, _) = try growing(written: 500)
        let answer = ConditionalRequest.evaluate(response, for: request("bytes=1000-"))
        #expect(answer.status == 416)
        #expect(answer.header("Content-Range") == "bytes */1000")
    }

    @Test func lastByteIsWithheldUntilTheFileIsComplete() throws {
        let (response, file) = try growing(written: 1000)
        guard case .growingPart = ConditionalRequest.evaluate(response, for: request("bytes=-1")).body else {
            Issue.record("the last byte is sent only once the file is verified"); return
        }
        file.finish()
        guard case .file = ConditionalRequest.evaluate(response, for: request("bytes=-1")).body else {
            Issue.record("complete: a 206 from the file"); return
        }
    }
}
