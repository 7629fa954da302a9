import ArgumentParser
import Reactor
import Upstream

/// `wheelhouse healthcheck`: exit 0 when the server answers /+status, 1 otherwise.
/// For container health checks, so the runtime image needs no curl.
struct Healthcheck: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that a running wheelhouse answers /+status.")

    @Option(help: "The server's base URL.")
    var url = "http://127.0.0.1:3141"

    @Option(help: "Seconds to wait for the answer.")
    var timeout = 5.0

    final class Probe: TransferDelegate {
        var status = 0
        var error: String?
        var done = false
        func transferDidReceiveHead(_ transfer: Transfer, head: UpstreamHead) { status = head.status }
        func transfer(_ transfer: Transfer, didReceive bytes: UnsafeRawBufferPointer) -> Bool { true }
        func transferDidComplete(_ transfer: Transfer, error: TransferError?) {
            self.error = error?.message
            done = true
        }
    }

    func run() throws {
        Curl.globalInit()
        let loop = try EventLoop()
        let multi = CurlMulti(loop: loop)
        var options = Transfer.Options()
        options.totalTimeoutMS = Int(timeout * 1000)
        options.connectTimeoutMS = Int(timeout * 1000)
        options.headers = ["Accept: application/json"]
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        let transfer = Transfer(url: base + "/+status", options: options)
        let probe = Probe()
        transfer.delegate = probe
        multi.add(transfer)
        while !probe.done { try loop.runOnce(maxWaitMilliseconds: 100) }
        guard probe.error == nil, probe.status == 200 else {
            print("unhealthy: \(probe.error ?? "status \(probe.status)")")
            throw ExitCode(1)
        }
        print("healthy")
    }
}
