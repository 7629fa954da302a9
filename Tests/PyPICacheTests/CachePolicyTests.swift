import Glibc
import HTTPServer
import Reactor
import Testing
import Upstream
@testable import PyPICache

/// A fake upstream index on the test's own loop: one project page (PEP 691 JSON, with
/// an ETag honoured by If-None-Match) and its one file. Counts requests; can hold
/// answers back until told, or fail.
final class FakeIndex: HTTPResponder {
    enum Mode { case normal, fail500, notFound }
    var mode = Mode.normal
    var hold = false
    /// Whether the page gives the file's PEP 700 size (else wheelhouse fills it in once cached).
    var listsSize = false
    var held: [Exchange] = []
    var pageRequests = 0, fileRequests = 0, revalidations = 0
    let fileBytes = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
    var port: UInt16 = 0
    var sha: String { SHA256.hex(fileBytes) }
    let etag = "\"v1\""

    func respond(to exchange: Exchange) {
        if exchange.request.path.hasPrefix("/files/") { fileRequests += 1 } else { pageRequests += 1 }
        if hold { return held.append(exchange) }
        answer(exchange)
    }

    func release() {
        let waiting = held
        held = []
        hold = false
        for e in waiting { answer(e) }
    }

    private func answer(_ exchange: Exchange) {
        switch mode {
        case .fail500: return exchange.send(.error(500, "down"))
        case .notFound: return exchange.send(.error(404, "no such project"))
        case .normal: break
        }
        if exchange.request.path.hasPrefix("/files/") {
            return exchange.send(Response(status: 200, headers: [("Content-Type", "application/octet-stream")], body: .bytes(fileBytes)))
        }
        if exchange.request.header("if-none-match") == etag {
            revalidations += 1
            return exchange.send(Response(status: 304, headers: [("ETag", etag)]))
        }
        let json = """
        {"meta":{"api-version":"1.0"},"name":"demo","files":[{"filename":"demo-1.0.tar.gz",\
        "url":"http://127.0.0.1:\(port)/files/demo-1.0.tar.gz","hashes":{"sha256":"\(sha)"}\(listsSize ? ",\"size\":\(fileBytes.count)" : "")}]}
        """
        exchange.send(Response(status: 200, headers: [("Content-Type", "application/vnd.pypi.simple.v1+json"), ("ETag", etag)],
                               body: .bytes(Array(json.utf8))))
    }
}

/// Client side: one GET through the proxy, collected.
final class Fetched: TransferDelegate {
    var head: UpstreamHead?
    var body: [UInt8] = []
    var done = false
    func transferDidReceiveHead(_ transfer: Transfer, head: UpstreamHead) { self.head = head }
    func transfer(_ transfer: Transfer, didReceive bytes: UnsafeRawBufferPointer) -> Bool {
        body.append(contentsOf: bytes)
        return true
    }
    func transferDidComplete(_ transfer: Transfer, error: TransferError?) { done = true }
    var status: Int { head?.status ?? 0 }
    var cache: String? { head?.header("x-cache") }
}

/// The cache policy end to end on one loop (client → proxy → fake upstream) with a
/// fake clock: TTL, revalidation, stale on error, the negative cache, coalescing, the breaker.
@Suite(.serialized) final class CachePolicyTests {
    let loop: EventLoop
    let clock = ManualClock()
    let upstream = FakeIndex()
    let upstreamServer: Server
    let proxy: PyPIProxy
    let proxyServer: Server
    let proxyPort: UInt16
    let clients: CurlMulti

    init() throws {
        Curl.globalInit()
        loop = try EventLoop()
        let upstreamListener = try Socket.listen(host: "127.0.0.1", port: 0)
        upstream.port = try Socket.localPort(upstreamListener)
        upstreamServer = Server(loop: loop, listener: upstreamListener, responder: upstream, logger: Logger(level: .error))
        try upstreamServer.start()
        var config = ProxyConfig(dataDirectory: "/tmp/wheelhouse-policy-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))",
                                 upstream: "http://127.0.0.1:\(upstream.port)/simple/")
        config.indexTTLSeconds = 100
        config.notFoundTTLSeconds = 60
        proxy = try PyPIProxy(config: config, loop: loop, logger: Logger(level: .error), clock: clock)
        let proxyListener = try Socket.listen(host: "127.0.0.1", port: 0)
        proxyPort = try Socket.localPort(proxyListener)
        proxyServer = Server(loop: loop, listener: proxyListener, responder: proxy, logger: Logger(level: .error))
        try proxyServer.start()
        clients = CurlMulti(loop: loop)
    }

    deinit {
        proxy.shutdown()
        proxyServer.stop()
        upstreamServer.stop()
    }

    func run(until done: () -> Bool) throws {
        let deadline = EventLoop.now() + 10_000_000_000
        while !done() && EventLoop.now() < deadline { try loop.runOnce(maxWaitMilliseconds: 100) }
        #expect(done(), "timed out")
    }

    func start(_ path: String) -> Fetched {
        let fetched = Fetched()
        var options = Transfer.Options()
        options.headers = ["Accept: application/vnd.pypi.simple.v1+json"]
        let transfer = Transfer(url: "http://127.0.0.1:\(proxyPort)\(path)", options: options)
        transfer.delegate = fetched
        clients.add(transfer)
        return fetched
    }

    func get(_ path: String) throws -> Fetched {
        let fetched = start(path)
        try run { fetched.done }
        return fetched
    }

    let page = "/root/pypi/+simple/demo/"
    var filePath: String {
        let key = FileKey(sha256: upstream.sha, filename: "demo-1.0.tar.gz")!
        return "/root/pypi/+f/\(key.hashDirectory)/\(key.hashSubdirectory)/demo-1.0.tar.gz"
    }

    @Test func freshPagesAreHitsAndExpiredOnesAreRevalidatedA304RenewingTheTTL() throws {
        #expect(try get(page).cache == "MISS")
        #expect(try get(page).cache == "HIT")
        clock.advance(by: 99)
        #expect(try get(page).cache == "HIT")
        #expect(upstream.pageRequests == 1)

        clock.advance(by: 2)  // expired
        let revalidated = try get(page)
        #expect(revalidated.status == 200 && revalidated.cache == "HIT")
        #expect(upstream.pageRequests == 2 && upstream.revalidations == 1)
        clock.advance(by: 99)  // fresh again: the 304 renewed the TTL
        #expect(try get(page).cache == "HIT")
        #expect(upstream.pageRequests == 2)
    }

    @Test func anExpiredPageIsServedStaleWhenUpstreamFailsAndThenWithoutAsking() throws {
        #expect(try get(page).cache == "MISS")
        clock.advance(by: 101)
        upstream.mode = .fail500
        let stale = try get(page)
        #expect(stale.status == 200 && stale.cache == "STALE")
        #expect(upstream.pageRequests == 2)
        // The breaker is open: answered from the cache at once, upstream not asked.
        #expect(try get(page).cache == "STALE")
        #expect(upstream.pageRequests == 2)
    }

    @Test func theBreakerAnswersWhatIsNotCachedWith503AndRetryAfter() throws {
        upstream.mode = .fail500
        #expect(try get(page).status == 502)
        let other = try get("/root/pypi/+simple/other/")
        #expect(other.status == 503)
        #expect(other.head?.header("retry-after") == "1")
        #expect(upstream.pageRequests == 1)
        clock.advance(by: 5)  // the next probe is overdue: Retry-After never says less than 1 s
        #expect(try get("/root/pypi/+simple/third/").head?.header("retry-after") == "1")
    }

    @Test func aMissingProjectIsRememberedUntilTheNegativeCacheExpires() throws {
        upstream.mode = .notFound
        #expect(try get(page).status == 404)
        clock.advance(by: 59)
        #expect(try get(page).status == 404)
        #expect(upstream.pageRequests == 1)
        clock.advance(by: 2)
        #expect(try get(page).status == 404)
        #expect(upstream.pageRequests == 2)
    }

    @Test func concurrentRequestsForOnePageShareOneUpstreamFetch() throws {
        upstream.hold = true
        let all = (0..<3).map { _ in start(page) }
        let name = ProjectName("demo")!
        try run { upstream.held.count == 1 && proxy.pages.waiters(for: name) == 3 }
        upstream.release()
        try run { all.allSatisfy(\.done) }
        #expect(all.allSatisfy { $0.status == 200 && $0.cache == "MISS" })
        #expect(upstream.pageRequests == 1)
    }

    @Test func concurrentRequestsForOneFileShareOneDownload() throws {
        #expect(try get(page).status == 200)
        upstream.hold = true
        let all = (0..<3).map { _ in start(filePath) }
        let key = FileKey(sha256: upstream.sha, filename: "demo-1.0.tar.gz")!
        try run { upstream.held.count == 1 && proxy.files.waiters(for: key) == 3 }
        upstream.release()
        try run { all.allSatisfy(\.done) }
        #expect(all.allSatisfy { $0.status == 200 && $0.body == upstream.fileBytes })
        #expect(upstream.fileRequests == 1)
        let hit = try get(filePath)
        #expect(hit.cache == "HIT" && hit.body == upstream.fileBytes)
        #expect(upstream.fileRequests == 1)
    }

    /// Caching a file re-renders its project's page only when the page then says something
    /// else of it (here: the size upstream left out); otherwise the rendered body stays.
    @Test(arguments: [true, false])
    func aCachedFileReRendersItsPageOnlyWhenThePageChanges(listsSize: Bool) throws {
        upstream.listsSize = listsSize
        let before = try get(page)
        let renders = proxy.pages.renderCount
        #expect(try get(filePath).status == 200)
        let after = try get(page)
        #expect(after.status == 200 && after.cache == "HIT")
        if listsSize {
            #expect(proxy.pages.renderCount == renders && after.body == before.body)
        } else {
            #expect(proxy.pages.renderCount == renders + 1)
            #expect(String(decoding: after.body, as: UTF8.self).contains("\"size\":\(upstream.fileBytes.count)"))
        }
    }
}
