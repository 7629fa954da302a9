import CCurl
import Glibc
import HTTPServer
import Reactor
import Testing
@testable import Upstream

/// Serves a fixed body on every path; its server runs on the same loop as the client.
final class FixedResponder: HTTPResponder {
    let body: [UInt8]
    init(body: [UInt8]) { self.body = body }
    func respond(to exchange: Exchange) {
        exchange.send(Response(status: exchange.request.path == "/missing" ? 404 : 200,
                               headers: [("Content-Type", "application/octet-stream"), ("X-Seen-Accept", exchange.request.header("accept") ?? "")],
                               body: .bytes(body)))
    }
}

final class Collector: TransferDelegate {
    var head: UpstreamHead?
    var body: [UInt8] = []
    var error: TransferError?
    var completed = false
    func transferDidReceiveHead(_ transfer: Transfer, head: UpstreamHead) { self.head = head }
    func transfer(_ transfer: Transfer, didReceive bytes: UnsafeRawBufferPointer) -> Bool {
        body.append(contentsOf: bytes)
        return true
    }
    func transferDidComplete(_ transfer: Transfer, error: TransferError?) {
        self.error = error
        completed = true
    }
}

@Suite(.serialized) struct CurlMultiTests {
    init() { Curl.globalInit() }

    func run(_ loop: EventLoop, until done: () -> Bool) throws {
        let deadline = EventLoop.now() + 10_000_000_000
        while !done() && EventLoop.now() < deadline { try loop.runOnce(maxWaitMilliseconds: 100) }
    }

    @Test func downloadsFromServerOnTheSameLoop() throws {
        let loop = try EventLoop()
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let responder = FixedResponder(body: payload)
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        let port = try Socket.localPort(listener)
        let server = Server(loop: loop, listener: listener, responder: responder, logger: Logger(level: .error))
        try server.start()
        let multi = CurlMulti(loop: loop)

        var options = Transfer.Options()
        options.headers = ["Accept: application/test"]
        let collectors = (0..<3).map { _ in Collector() }
        var transfers: [Transfer] = []
        for c in collectors {
            let t = Transfer(url: "http://127.0.0.1:\(port)/file", options: options)
            t.delegate = c
            multi.add(t)
            transfers.append(t)
        }
        try run(loop) { collectors.allSatisfy(\.completed) }
        for c in collectors {
            #expect(c.error == nil)
            #expect(c.head?.status == 200)
            #expect(c.head?.contentLength == payload.count)
            #expect(c.head?.header("x-seen-accept") == "application/test")
            #expect(c.body == payload)
        }
        #expect(multi.activeCount == 0)

        let missing = Collector()
        let t = Transfer(url: "http://127.0.0.1:\(port)/missing")
        t.delegate = missing
        multi.add(t)
        try run(loop) { missing.completed }
        #expect(missing.head?.status == 404)
        server.stop()
    }

    @Test func connectionRefusedIsReportedNotHung() throws {
        let loop = try EventLoop()
        let multi = CurlMulti(loop: loop)
        // Bind then close to find a port nobody listens on.
        let port: UInt16 = try {
            let l = try Socket.listen(host: "127.0.0.1", port: 0)
            return try Socket.localPort(l)
        }()
        let c = Collector()
        let t = Transfer(url: "http://127.0.0.1:\(port)/")
        t.delegate = c
        multi.add(t)
        try run(loop) { c.completed }
        #expect(c.completed)
        #expect(c.error != nil)
        #expect(c.head == nil || c.head?.status == 0)
        #expect(loop.registeredCount == 0, "no socket left registered")
    }

    @Test func abortingFromTheDelegateEndsTheTransfer() throws {
        final class Refuser: TransferDelegate {
            var error: TransferError?
            var completed = false
            func transferDidReceiveHead(_ transfer: Transfer, head: UpstreamHead) {}
            func transfer(_ transfer: Transfer, didReceive bytes: UnsafeRawBufferPointer) -> Bool { false }
            func transferDidComplete(_ transfer: Transfer, error: TransferError?) { self.error = error; completed = true }
        }
        let loop = try EventLoop()
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        let port = try Socket.localPort(listener)
        let responder = FixedResponder(body: [UInt8](repeating: 1, count: 1000))
        let server = Server(loop: loop, listener: listener, responder: responder, logger: Logger(level: .error))
        try server.start()
        let multi = CurlMulti(loop: loop)
        let r = Refuser()
        let t = Transfer(url: "http://127.0.0.1:\(port)/x")
        t.delegate = r
        multi.add(t)
        try run(loop) { r.completed }
        #expect(r.error != nil)
        server.stop()
    }

    @Test func aRefusedOptionFailsTheTransferWithTheOperationsName() throws {
        let loop = try EventLoop()
        let multi = CurlMulti(loop: loop)
        try multi.requireReady()
        let c = Collector()
        let t = Transfer(url: "http://127.0.0.1:1/")
        #expect(t.setupFailure == nil, "this libcurl takes every option wheelhouse sets")
        t.setupFailure = CurlCheck.easy(CURLE_UNKNOWN_OPTION, "curl_easy_setopt(CURLOPT_PROTOCOLS_STR)")
        t.delegate = c
        multi.add(t)
        #expect(!c.completed, "never from inside add()")
        try run(loop) { c.completed }
        #expect(c.error?.message.hasPrefix("curl_easy_setopt(CURLOPT_PROTOCOLS_STR) failed: ") == true)
        #expect(multi.activeCount == 0)
    }

    @Test func libcurlResultsNameTheirOperation() {
        #expect(CurlCheck.easy(CURLE_OK, "x") == nil)
        #expect(CurlCheck.multi(CURLM_OK, "x") == nil)
        let failure = CurlCheck.multi(CURLM_BAD_HANDLE, "curl_multi_add_handle")
        #expect(failure?.description.hasPrefix("curl_multi_add_handle failed: ") == true)
    }
}
