import HTTPServer
import Reactor
import Testing
import Upstream
@testable import PyPICache

/// Serves one page body with the given headers, as an upstream index would.
final class OnePageIndex: HTTPResponder {
    var body: [UInt8] = []
    var headers: [(String, String)] = []
    func respond(to exchange: Exchange) {
        exchange.send(Response(status: 200, headers: headers, body: .bytes(body)))
    }
}

/// `PageFetch` through real libcurl and a real socket: the page is read chunk by chunk
/// as it arrives (plain or gzip), and the size cap refuses what is too big, clearly.
@Suite(.serialized) final class PageFetchTests {
    let loop: EventLoop
    let index = OnePageIndex()
    let server: Server
    let curl: CurlMulti
    let port: UInt16

    init() throws {
        Curl.globalInit()
        loop = try EventLoop()
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        port = try Socket.localPort(listener)
        server = Server(loop: loop, listener: listener, responder: index, logger: Logger(level: .error))
        try server.start()
        curl = CurlMulti(loop: loop)
    }

    deinit { server.stop() }

    func fetch(limit: Int = PageFetch.maxBodyBytes, maxFiles: Int = PageFetch.maxFiles) throws -> PageFetch.Outcome {
        var options = Transfer.Options()
        options.acceptCompressed = true
        var outcome: PageFetch.Outcome?
        let fetch = PageFetch(project: ProjectName("big")!, url: "http://127.0.0.1:\(port)/simple/big/", options: options,
                              maxBodyBytes: limit, maxFiles: maxFiles) { _, result in outcome = result }
        curl.add(fetch.transfer)
        let deadline = EventLoop.now() + 20_000_000_000
        while outcome == nil && EventLoop.now() < deadline { try loop.runOnce(maxWaitMilliseconds: 100) }
        return try #require(outcome)
    }

    func page(_ outcome: PageFetch.Outcome) -> ProjectPage? {
        if case .fetched(let page) = outcome { return page }
        Issue.record("not fetched: \(outcome.summary)")
        return nil
    }

    func failure(_ outcome: PageFetch.Outcome) -> String? {
        if case .failed(let reason, _) = outcome { return reason }
        return nil
    }

    @Test func aBigPageIsReadAsItArrives() throws {
        let generated = PageFixtures.json(files: 5000, origin: "http://127.0.0.1:\(port)")
        index.body = generated.body
        index.headers = [("Content-Type", "application/vnd.pypi.simple.v1+json"), ("ETag", "\"e1\"")]
        let fetched = try #require(page(try fetch()))
        #expect(fetched.files == generated.expected.files && fetched.versions == generated.expected.versions)
        #expect(fetched.etag == "\"e1\"")
    }

    @Test func gzipIsDecodedByLibcurlBeforeTheReader() throws {
        let generated = PageFixtures.html(files: 3000, origin: "http://127.0.0.1:\(port)")
        index.body = try #require(Gzip.compress(generated.body))
        index.headers = [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]
        let fetched = try #require(page(try fetch()))
        #expect(fetched.files == generated.expected.files)
    }

    @Test func aPageOverTheCapIsRefusedWithItsReason() throws {
        let generated = PageFixtures.json(files: 2000)
        index.body = generated.body
        index.headers = [("Content-Type", "application/json")]
        // Declared too long: refused on the head.
        #expect(failure(try fetch(limit: 100_000)) == "page larger than 100000 bytes")
        // Small on the wire, too long decoded (a gzip bomb): refused while it arrives.
        index.body = try #require(Gzip.compress(generated.body))
        index.headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
        let limit = (index.body.count + generated.body.count) / 2
        #expect(index.body.count < limit && limit < generated.body.count)
        #expect(failure(try fetch(limit: limit)) == "page larger than \(limit) bytes")
        // Under the cap, the same page reads.
        #expect(page(try fetch(limit: generated.body.count)) != nil)
    }

    @Test func aPageListingMoreFilesThanTheCapIsRefused() throws {
        // Small entries pass the byte cap; the count of files read so far is checked per chunk.
        for format in ["json", "html"] {
            let generated = format == "json" ? PageFixtures.json(files: 3000) : PageFixtures.html(files: 3000)
            index.body = generated.body
            index.headers = [("Content-Type", format == "json" ? "application/json" : "text/html")]
            #expect(failure(try fetch(maxFiles: 2000)) == "page lists more than 2000 files")
            #expect(page(try fetch(maxFiles: 3000))?.files.count == 3000)
        }
    }

    @Test func brokenJSONFailsWithTheReadersReason() throws {
        index.body = Array("{\"files\":[{\"filename\":\"a\",\"url\":\"https://f/a\"}] ]".utf8) + Array(repeating: 0x20, count: 300_000)
        index.headers = [("Content-Type", "application/vnd.pypi.simple.v1+json")]
        let reason = try #require(failure(try fetch()))
        #expect(reason.hasPrefix("upstream JSON page is not a PEP 691 project page: expected ','"), "\(reason)")
    }
}
