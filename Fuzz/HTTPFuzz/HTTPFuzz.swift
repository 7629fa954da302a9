// libFuzzer target for the HTTP server side: the request parser, and a real
// Connection driven through a socket by the real event loop. Built only by
// `make fuzz` (see Makefile), never by an ordinary `swift build`.
import Glibc
import HTTPServer
import Reactor

/// Answers the way the proxy does: at once, later (as after an upstream fetch),
/// with a file body, or with an error, chosen by the request target.
final class FuzzResponder: HTTPResponder {
    let loop: EventLoop
    let file: FileDescriptor
    init(loop: EventLoop, file: FileDescriptor) {
        self.loop = loop
        self.file = file
    }

    func respond(to exchange: Exchange) {
        let target = exchange.request.target
        if target.hasPrefix("/later") {
            loop.schedule(afterMilliseconds: 0) { exchange.send(Response(status: 200, body: .bytes(Array("later".utf8)))) }
        } else if target.hasPrefix("/file") {
            exchange.send(Response(status: 200, headers: [("ETag", "\"x\""), ("Accept-Ranges", "bytes")],
                                   body: .file(file, offset: 0, length: 4096)))
        } else if target.hasPrefix("/slow") {
            // Answered after the client may have gone, as after a slow upstream.
            loop.schedule(afterMilliseconds: 2) { exchange.send(Response(status: 200, body: .bytes(Array("slow".utf8)))) }
        } else {
            exchange.send(.error(404, "no such thing"))
        }
    }
}

/// Everything the harness keeps between inputs: one loop, one server, one listener.
final class Harness {
    let loop: EventLoop
    let server: Server
    let responder: FuzzResponder
    let port: UInt16

    init() {
        loop = try! EventLoop()
        let path = "/tmp/wheelhouse-fuzz-\(getpid()).bin"
        let file = try! Files.open(path, flags: O_RDWR | O_CREAT | O_TRUNC)
        try! [UInt8](repeating: 65, count: 4096).withUnsafeBytes { try Files.writeAll(file, $0) }
        unlink(path)
        responder = FuzzResponder(loop: loop, file: file)
        let listener = try! Socket.listen(host: "127.0.0.1", port: 0)
        port = try! Socket.localPort(listener)
        var limits = Server.Limits()
        limits.maxHeadBytes = 2048
        server = Server(loop: loop, listener: listener, responder: responder, logger: Logger(level: .error), limits: limits)
        try! server.start()
    }

    /// Sends `bytes` on a fresh connection in the chunks the input asks for, runs the
    /// loop until the server closes or has nothing more to say, and checks the server
    /// holds no connection afterwards.
    func exercise(_ bytes: [UInt8], chunk: Int) {
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(connected == 0)
        _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
        var sent = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<2000 {
            if sent < bytes.count {
                let n = bytes[sent...].prefix(chunk).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n > 0 { sent += n }
                if sent == bytes.count { shutdown(client, Int32(SHUT_WR)) }
            }
            try! loop.runOnce(maxWaitMilliseconds: 0)
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n == 0 || (n < 0 && errno != EAGAIN) { break }
        }
        close(client)
        // The server notices the close on its next iterations.
        for _ in 0..<100 where server.openConnections > 0 { try! loop.runOnce(maxWaitMilliseconds: 5) }
        // Every request is answered within a few milliseconds, so nothing may be left.
        precondition(server.openConnections == 0, "a connection outlived its client")
    }
}

nonisolated(unsafe) var harness: Harness?

func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let h = harness ?? Harness()
    harness = h
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = bytes.first else { return 0 }
    let input = Array(bytes.dropFirst())

    // The parser alone: resuming a scan gives what a full scan gives, and never
    // consumes more than it was given.
    let split = Int(first) % (input.count + 1)
    let full = input.withUnsafeBytes { RequestParser.parse($0, maxHeadBytes: 2048) }
    if case .complete(_, let consumed) = full { precondition(consumed > 0 && consumed <= input.count) }
    let head = Array(input.prefix(split)).withUnsafeBytes { RequestParser.parse($0, maxHeadBytes: 2048) }
    if head == .partial {
        let resumed = input.withUnsafeBytes { RequestParser.parse($0, maxHeadBytes: 2048, scanFrom: split) }
        precondition(resumed == full, "resumed scan disagrees with a full scan")
    }

    // The state machine: the same bytes through a real connection, chunked.
    h.exercise(input, chunk: max(1, Int(first) * 7))
    return 0
}

// SwiftPM links an executable's entry point under the name `<target>_main`; it hands
// control to libFuzzer's driver, which calls `fuzz` once per input.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

@_cdecl("wheelhouse_fuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzz)
}
