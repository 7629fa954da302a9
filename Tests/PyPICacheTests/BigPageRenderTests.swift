import Glibc
import HTTPServer
import Reactor
import Testing
import Upstream
@testable import PyPICache

/// A big page rendered a slice at a time writes exactly the bytes of a render in one go.
@Suite struct PageRenderJobTests {
    static let page = PageStorageTests.bigPage("big", files: 5_500)

    /// Runs a job to the end; returns its rendering and how many steps it took.
    func run(_ job: PageRenderJob) throws -> (RenderedPages.Rendered, Int) {
        var steps = 0
        while true {
            steps += 1
            if let made = try job.step() { return (made, steps) }
            #expect(steps < 100)
        }
    }

    func bytes(_ body: RenderedPages.Body) -> [UInt8] {
        switch body {
        case .bytes(let b): return b
        case .file(let fd, let offset, let length):
            var out = [UInt8](repeating: 0, count: length)
            let n = out.withUnsafeMutableBytes { pread(fd.raw, $0.baseAddress, length, off_t(offset)) }
            #expect(n == length)
            return out
        }
    }

    /// gzip as deflate writes it: a 10-byte header, raw deflate, an 8-byte trailer.
    func gunzip(_ body: [UInt8], size: Int) throws -> [UInt8] {
        try ZipReader.inflateRaw(Array(body[10..<(body.count - 8)]), expectedSize: size)
    }

    @Test func slicesMakeTheSameBytesAsOneRender() throws {
        for format in [PageFormat.json, .html] {
            let whole = PageRenderer.render(Self.page, as: format, filesPrefix: "../../+f/")
            for gzip in [false, true] {
                for spillAbove in [Int.max, 100_000] {
                    let key = RenderedPages.Key(project: ProjectName("big")!, format: format, alias: false, gzip: gzip)
                    let job = PageRenderJob(key: key, page: Self.page, filesPrefix: "../../+f/", validUntil: nil, spillAbove: spillAbove,
                                            filesPerSlice: 1_000) {
                        let path = "/tmp/wheelhouse-render-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                        let draft = BodyDraft(temp: TempFile(fd: try Files.createNew(path), path: path), bodyOffset: 0)
                        draft.unlink()
                        return draft
                    }
                    let (made, steps) = try run(job)
                    #expect(steps == 6)
                    let body = bytes(made.body)
                    // Over `spillAbove` the body went on in a file; under it, it stayed in memory.
                    if case .file = made.body { #expect(body.count > spillAbove) } else { #expect(body.count <= spillAbove) }
                    #expect(try (gzip ? gunzip(body, size: whole.count) : body) == whole)
                    #expect(made.etag == "\"" + Checksum.tag(body) + (gzip ? "-gz" : "") + "\"")
                }
            }
        }
    }
}

/// A big stored page read a slice at a time is the page `decode` reads in one go.
@Suite struct PageDecoderTests {
    @Test func slicesReadTheSamePage() {
        let page = PageStorageTests.bigPage("big", files: 5_500)
        let bytes = PageCodec.encode(page)
        var decoder = PageCodec.Decoder(bytes)
        var steps = 0
        var read: ProjectPage?
        while read == nil && steps < 100 {
            steps += 1
            switch decoder.step(maxFiles: 1_000) {
            case .more: continue
            case .done(let p): read = p
            case .malformed: Issue.record("malformed"); return
            }
        }
        #expect(steps == 6 && read == page)
        // Cut short or with bytes to spare: malformed, found in the slice that reaches the end.
        for broken in [Array(bytes.dropLast(3)), bytes + [0]] {
            var decoder = PageCodec.Decoder(broken)
            var outcome = decoder.step(maxFiles: 1_000)
            for _ in 0..<10 { if case .more = outcome { outcome = decoder.step(maxFiles: 1_000) } }
            guard case .malformed = outcome else { Issue.record("not malformed"); return }
        }
    }
}

/// An upstream with one big project page and one small one.
final class BigIndex: HTTPResponder {
    let files: Int
    var pageRequests = 0
    init(files: Int) { self.files = files }

    func respond(to exchange: Exchange) {
        pageRequests += 1
        let count = exchange.request.path.contains("/big/") ? files : 3
        var json = "{\"meta\":{\"api-version\":\"1.0\"},\"name\":\"p\",\"files\":["
        for i in 0..<count {
            json += (i == 0 ? "" : ",") + "{\"filename\":\"p-1.\(i).tar.gz\",\"url\":\"https://files.example/p-1.\(i).tar.gz\","
            json += "\"hashes\":{\"sha256\":\"\(String(repeating: "ab", count: 32))\"}}"
        }
        json += "]}"
        exchange.send(Response(status: 200, headers: [("Content-Type", "application/vnd.pypi.simple.v1+json")], body: .bytes(Array(json.utf8))))
    }
}

/// The loop keeps answering while a big page is rendered: client → proxy → upstream on one loop.
@Suite(.serialized) final class BigPageLoopTests {
    let loop: EventLoop
    let upstream = BigIndex(files: 20_000)
    let config: ProxyConfig
    let upstreamServer: Server
    let proxy: PyPIProxy
    let proxyServer: Server
    let proxyPort: UInt16
    let clients: CurlMulti

    init() throws {
        Curl.globalInit()
        loop = try EventLoop()
        let upstreamListener = try Socket.listen(host: "127.0.0.1", port: 0)
        let upstreamPort = try Socket.localPort(upstreamListener)
        upstreamServer = Server(loop: loop, listener: upstreamListener, responder: upstream, logger: Logger(level: .error))
        try upstreamServer.start()
        config = ProxyConfig(dataDirectory: "/tmp/wheelhouse-bigpage-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))",
                                 upstream: "http://127.0.0.1:\(upstreamPort)/simple/")
        proxy = try PyPIProxy(config: config, loop: loop, logger: Logger(level: .error), clock: ManualClock())
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

    func start(_ path: String, accept: String = "application/vnd.pypi.simple.v1+json", port: UInt16? = nil) -> Fetched {
        let fetched = Fetched()
        var options = Transfer.Options()
        // One host name for both servers (links are absolute on it): the same page either side of a restart.
        options.headers = ["Accept: \(accept)", "Host: wheelhouse.test"]
        let transfer = Transfer(url: "http://127.0.0.1:\(port ?? proxyPort)\(path)", options: options)
        transfer.delegate = fetched
        clients.add(transfer)
        return fetched
    }

    /// Runs the loop one iteration at a time until `done`; returns the iterations.
    @discardableResult
    func turns(until done: () -> Bool) throws -> Int {
        let deadline = EventLoop.now() + 20_000_000_000
        var turns = 0
        while !done() && EventLoop.now() < deadline {
            try loop.runOnce(maxWaitMilliseconds: 100)
            turns += 1
        }
        #expect(done(), "timed out")
        return turns
    }

    let big = "/root/pypi/+simple/big/"

    @Test func aSmallRequestIsAnsweredWhileABigPageRenders() throws {
        let first = start(big), second = start(big)
        try turns { proxy.pages.rendersInProgress == 1 }
        let status = start("/+status")
        try turns { status.done || first.done }
        #expect(status.done && status.status == 200)
        #expect(!first.done && !second.done, "the big page was rendered in one go")
        let renderTurns = try turns { first.done && second.done }
        #expect(renderTurns >= 3)
        #expect(first.status == 200 && first.body == second.body && first.body.count > 20_000 * 100)
        // One render for both requests, and kept: the next request needs none.
        #expect(proxy.pages.renderCount == 1 && upstream.pageRequests == 1)
        let third = start(big)
        try turns { third.done }
        #expect(third.body == first.body && proxy.pages.renderCount == 1)
    }

    @Test func aRenderOvertakenByAChangeAnswersItsClientsButIsNotKept() throws {
        let first = start(big)
        try turns { proxy.pages.rendersInProgress == 1 }
        proxy.pages.invalidate(ProjectName("big")!)  // say a file of the project was cached
        #expect(proxy.pages.rendersInProgress == 0)
        let late = start(big)  // asks after the change: a render of its own
        try turns { proxy.pages.rendersInProgress == 1 }
        try turns { first.done && late.done }
        #expect(first.status == 200 && late.status == 200 && first.body == late.body)
        #expect(proxy.pages.renderCount == 1)  // only the render that began after the change is kept
    }

    @Test func afterARestartABigStoredPageIsReadInSlicesWhileOthersAreAnswered() throws {
        let first = start(big)
        try turns { first.done }
        // A second wheelhouse on the same cache directory: the page is on disk only.
        // Fresh for the page policy: served from disk, upstream not asked.
        let restarted = try PyPIProxy(config: config, loop: loop, logger: Logger(level: .error), clock: ManualClock())
        defer { restarted.shutdown() }
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        let port = try Socket.localPort(listener)
        let server = Server(loop: loop, listener: listener, responder: restarted, logger: Logger(level: .error))
        try server.start()
        defer { server.stop() }
        let again = start(big, port: port), twice = start(big, port: port)
        try turns { restarted.pages.loadsInProgress == 1 }
        let status = start("/+status", port: port)
        try turns { status.done || again.done }
        #expect(status.done && status.status == 200)
        #expect(!again.done, "the stored page was read and rendered in one go")
        try turns { again.done && twice.done }
        #expect(again.status == 200 && again.body == first.body && twice.body == first.body)
        #expect(upstream.pageRequests == 1 && restarted.pages.renderCount == 1)
    }

    @Test func shutdownMidRenderStopsIt() throws {
        let first = start(big)
        try turns { proxy.pages.rendersInProgress == 1 }
        proxy.shutdown()
        #expect(proxy.pages.rendersInProgress == 0)
        for _ in 0..<20 { try loop.runOnce(maxWaitMilliseconds: 10) }
        #expect(!first.done || first.status != 200)
    }
}
