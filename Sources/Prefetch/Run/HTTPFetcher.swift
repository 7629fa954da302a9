import PyPICache
import Reactor
import Upstream

/// GETs (and HEADs) against the wheelhouse server prefetch works through, on the
/// event loop, with at most `limit` transfers at once (the rest wait in order).
/// A 503 with Retry-After (the server's upstream breaker is open for a moment) is
/// asked again after that pause (at most 10 s), up to three times, as pip does.
/// What happens to a body is the caller's choice (`Body`); a body for a file with
/// a known sha256 is hashed as it streams and checked at the end.
final class HTTPFetcher {
    enum Body {
        /// Keep it, up to a limit (pages, metadata, zip sdists).
        case keep(limit: Int)
        /// Hash it and drop it (files downloaded only so the server caches them).
        case discard
        /// Hand each piece to a consumer as it arrives (pages, tar.gz sdists); it
        /// answers false to end the transfer (the body is more than it will read).
        case stream((UnsafeRawBufferPointer) -> Bool)
    }

    enum Result {
        case success(body: [UInt8], bytes: Int, cache: String?)
        case failure(status: Int, reason: String)
    }

    struct Request {
        let url: String
        let headers: [String]
        let head: Bool
        let sha256: String?
        let body: Body
        let done: (Result) -> Void
        var retries = 0
    }

    static let maxRetries = 3
    static let longestRetryPauseSeconds = 10

    private let loop: EventLoop
    private let multi: CurlMulti
    private let limit: Int
    private var waiting: [Request] = []
    private var waitingStart = 0
    private var transfers: [ObjectIdentifier: (Transfer, Fetch)] = [:]
    /// Body bytes received so far, including transfers still running (for progress).
    private(set) var liveBytes = 0

    var busy: Bool { !transfers.isEmpty || waitingStart < waiting.count || pausedRetries > 0 }
    /// Requests waiting out a Retry-After pause.
    private var pausedRetries = 0

    init(loop: EventLoop, limit: Int) {
        self.loop = loop
        multi = CurlMulti(loop: loop)
        self.limit = limit
    }

    func get(_ url: String, headers: [String] = [], head: Bool = false, sha256: String? = nil, body: Body,
             done: @escaping (Result) -> Void) {
        waiting.append(Request(url: url, headers: headers, head: head, sha256: sha256, body: body, done: done))
        startWaiting()
    }

    private func startWaiting() {
        while transfers.count < limit, waitingStart < waiting.count {
            let request = waiting[waitingStart]
            waitingStart += 1
            start(request)
        }
        if waitingStart == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingStart = 0
        }
    }

    private func start(_ request: Request) {
        var o = Transfer.Options()
        o.headers = request.headers
        o.headOnly = request.head
        o.connectTimeoutMS = 5_000
        o.lowSpeedSeconds = 60
        let transfer = Transfer(url: request.url, options: o)
        let id = ObjectIdentifier(transfer)
        let fetch = Fetch(body: request.body, expected: request.sha256) { [weak self] result in
            guard let self else { return }
            let finished = self.transfers.removeValue(forKey: id)
            if let pause = finished?.1.retryAfterSeconds, request.retries < HTTPFetcher.maxRetries {
                var again = request
                again.retries += 1
                pausedRetries += 1
                _ = loop.schedule(afterMilliseconds: min(pause, HTTPFetcher.longestRetryPauseSeconds) * 1000) { [weak self] in
                    guard let self else { return }
                    pausedRetries -= 1
                    waiting.append(again)
                    startWaiting()
                }
                return self.startWaiting()
            }
            request.done(result)
            // Completions arrive after curl_multi_socket_action returns, so starting
            // the next transfer here does not re-enter libcurl.
            self.startWaiting()
        }
        fetch.onBytes = { [weak self] n in self?.liveBytes += n }
        transfer.delegate = fetch
        transfers[id] = (transfer, fetch)
        multi.add(transfer)
    }

    /// One transfer's delegate: collects the head, routes the body, checks the hash.
    private final class Fetch: TransferDelegate {
        let body: Body
        let expected: String?
        var hasher = SHA256()
        var kept: [UInt8] = []
        var errorText: [UInt8] = []
        var bytes = 0
        var head: UpstreamHead?
        var tooLarge = false
        let done: (Result) -> Void
        var onBytes: ((Int) -> Void)?

        init(body: Body, expected: String?, done: @escaping (Result) -> Void) {
            self.body = body
            self.expected = expected
            self.done = done
        }

        func transferDidReceiveHead(_ transfer: Transfer, head: UpstreamHead) { self.head = head }

        /// Seconds to wait before asking again: only a 503 that says when (Retry-After).
        var retryAfterSeconds: Int? {
            guard let head, head.status == 503, let value = head.header("retry-after"), let seconds = Int(value) else { return nil }
            return max(0, seconds)
        }

        func transfer(_ transfer: Transfer, didReceive data: UnsafeRawBufferPointer) -> Bool {
            bytes += data.count
            onBytes?(data.count)
            guard head?.status == 200 else {
                // Error bodies are short and worth showing.
                if errorText.count < 300 { errorText.append(contentsOf: data.prefix(300 - errorText.count)) }
                return true
            }
            if expected != nil { hasher.update(data) }
            switch body {
            case .keep(let limit):
                guard kept.count + data.count <= limit else { tooLarge = true; return false }
                kept.append(contentsOf: data)
            case .discard: break
            case .stream(let consume): guard consume(data) else { tooLarge = true; return false }
            }
            return true
        }

        func transferDidComplete(_ transfer: Transfer, error: TransferError?) {
            if tooLarge { return done(.failure(status: 0, reason: "response too large")) }
            guard let head else { return done(.failure(status: 0, reason: error?.message ?? "no response")) }
            guard head.status == 200 else {
                let reason = String(decoding: errorText, as: UTF8.self).trimmingCharacters(in: " \n")
                return done(.failure(status: head.status, reason: "server answered \(head.status)\(reason.isEmpty ? "" : ": " + reason)"))
            }
            if let error { return done(.failure(status: 0, reason: error.message)) }
            if let expected, transfer.bytesReceived > 0 {
                let digest = hasher.finalizeHex()
                guard digest == expected else { return done(.failure(status: 0, reason: "sha256 mismatch (got \(digest))")) }
            }
            done(.success(body: kept, bytes: bytes, cache: head.header("x-cache")))
        }
    }
}
