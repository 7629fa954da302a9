import HTTPServer
import Reactor
import Upstream

/// One upstream download of one file, shared by every client that asks for it
/// while it runs. Bytes go to a temp file at upstream speed; clients follow the
/// growing file (see GrowingFile). The sha256 is computed as bytes flow; only a
/// complete, verified file is renamed into the cache.
final class FileFetch: TransferDelegate {
    enum State {
        /// No response yet: clients wait for the head.
        case awaitingHead
        /// Upstream declared a length: clients stream from the growing temp file.
        case streaming(GrowingFile)
        /// No declared length: clients wait for the whole verified file.
        case buffering
        case finished
    }

    /// What a waiting client gets.
    enum Answer {
        case streaming(GrowingFile)
        case cached
        case failed(status: Int, reason: String)
    }

    let key: FileKey
    let source: DistributionFile
    /// Read from the shared bucket (SharedTier), not upstream: verified the same way.
    var fromSharedStore = false
    private(set) var transfer: Transfer!
    private(set) var state: State = .awaitingHead
    let tempFile: TempFile
    private let loop: EventLoop
    private var hasher = SHA256()
    private var written = 0
    private var head: UpstreamHead?
    private var writeError: String?
    /// The body is not the size the page declared (PEP 700 `size`): refused, never cached.
    private var sizeMismatch: String?
    /// The content's sha256, once the transfer completed and was verified.
    private(set) var sha256: String?
    private var waiting: [Exchange] = []
    /// Told once the file is cached (nil) or not (why): work that needs the whole file, not a response.
    private var observers: [(String?) -> Void] = []
    /// Clients waiting for the response head.
    var waitingCount: Int { waiting.count }
    private let answer: (Exchange, Answer) -> Void
    private let finished: (FileFetch, _ result: Result<Int, FetchFailure>) -> Void

    struct FetchFailure: Error {
        let status: Int
        let reason: String
        /// No answer at all (refused, unresolvable, timed out): upstream itself is unavailable.
        var upstreamUnavailable = false
    }

    init(key: FileKey, source: DistributionFile, temp: TempFile, loop: EventLoop, options: Transfer.Options,
         answer: @escaping (Exchange, Answer) -> Void,
         finished: @escaping (FileFetch, Result<Int, FetchFailure>) -> Void) {
        self.key = key
        self.source = source
        self.tempFile = temp
        self.loop = loop
        self.answer = answer
        self.finished = finished
        transfer = Transfer(url: source.url, options: options)
        transfer.delegate = self
    }

    /// Adds a client: it starts from byte 0 whatever has arrived so far.
    func join(_ exchange: Exchange) {
        switch state {
        case .awaitingHead, .buffering: waiting.append(exchange)
        case .streaming(let file): answer(exchange, .streaming(file))
        case .finished: answer(exchange, .cached)
        }
    }

    func whenFinished(_ observer: @escaping (String?) -> Void) { observers.append(observer) }

    private func tellObservers(_ failure: String?) {
        let told = observers
        observers.removeAll()
        for observer in told { observer(failure) }
    }

    // MARK: - TransferDelegate (inside libcurl callbacks: no calls back into curl)

    func transferDidReceiveHead(_ transfer: Transfer, head: UpstreamHead) {
        self.head = head
        guard head.status == 200 else { return }
        if let declared = source.size, let length = head.contentLength, length != declared {
            // Not the file the page named (a swapped or padded object): nothing is passed on.
            sizeMismatch = "\(source.filename) is \(length) bytes, the page says \(declared)"
            return
        }
        if let length = head.contentLength, length > 0 {
            let file = GrowingFile(fd: tempFile.fd, length: length, loop: loop)
            state = .streaming(file)
            // Answer from the loop's deferred phase: a response that completes at once
            // could let its connection start the next request, and so a new transfer,
            // from inside this libcurl callback.
            let ready = waiting
            waiting.removeAll()
            loop.execute { [answer] in
                for exchange in ready { answer(exchange, .streaming(file)) }
            }
        } else {
            state = .buffering
        }
    }

    func transfer(_ transfer: Transfer, didReceive bytes: UnsafeRawBufferPointer) -> Bool {
        guard head?.status == 200, sizeMismatch == nil else { return false }
        if let declared = source.size, written + bytes.count > declared {
            sizeMismatch = "\(source.filename) runs past the \(declared) bytes the page says"
            return false
        }
        do {
            try Files.writeAll(tempFile.fd, bytes)
        } catch {
            writeError = "cache write failed: \(error)"
            return false
        }
        hasher.update(bytes)
        written += bytes.count
        if case .streaming(let file) = state { file.didWrite(totalBytes: written) }
        return true
    }

    func transferDidComplete(_ transfer: Transfer, error: TransferError?) {
        let result = verify(error)
        // Wrong bytes (overrun, wrong length or hash): the connection may hold leftovers.
        if case .failure = result { transfer.discardConnection() }
        let growing: GrowingFile? = if case .streaming(let f) = state { f } else { nil }
        state = .finished
        finished(self, result)  // commits or discards the temp file
        switch result {
        case .success:
            growing?.finish()
            for exchange in waiting { answer(exchange, .cached) }
        case .failure(let failure):
            // Followers are cut short before Content-Length; waiters get the reason.
            growing?.fail()
            for exchange in waiting { answer(exchange, .failed(status: failure.status, reason: failure.reason)) }
        }
        waiting.removeAll()
        if case .failure(let failure) = result { tellObservers(failure.reason) } else { tellObservers(nil) }
    }

    /// The transfer was cancelled (shutdown): cut followers short, answer waiters.
    func abandon() {
        if case .streaming(let file) = state { file.fail() }
        state = .finished
        for exchange in waiting { answer(exchange, .failed(status: 503, reason: "server shutting down")) }
        waiting.removeAll()
        tellObservers("server shutting down")
    }

    /// The byte count on success; otherwise why the file must not be kept.
    private func verify(_ error: TransferError?) -> Result<Int, FetchFailure> {
        if let writeError { return .failure(FetchFailure(status: 502, reason: writeError)) }
        guard let head else {
            return .failure(FetchFailure(status: error?.timedOut == true ? 504 : 502,
                                         reason: "upstream: \(error?.message ?? "no response")",
                                         // One file's broken reply from a host that took the connection
                                         // says nothing about upstream as a whole (pages decide that).
                                         upstreamUnavailable: error?.blocked != true && error?.hostAnswered != true))
        }
        guard head.status == 200 else {
            return .failure(FetchFailure(status: head.status == 404 ? 404 : 502, reason: "upstream answered \(head.status) for \(source.filename)"))
        }
        if let sizeMismatch { return .failure(FetchFailure(status: 502, reason: "wrong size: \(sizeMismatch)")) }
        if let error { return .failure(FetchFailure(status: error.timedOut ? 504 : 502, reason: "upstream: \(error.message)")) }
        if let length = head.contentLength, length != written {
            return .failure(FetchFailure(status: 502, reason: "truncated: \(written) of \(length) bytes"))
        }
        let digest = hasher.finalizeHex()
        if let expected = source.sha256, expected != digest {
            return .failure(FetchFailure(status: 502, reason: "sha256 mismatch for \(source.filename): expected \(expected), got \(digest)"))
        }
        sha256 = digest
        return .success(written)
    }
}
