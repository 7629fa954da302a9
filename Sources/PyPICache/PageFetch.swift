import Reactor
import Support
import Upstream

/// One upstream request for a project page, shared by every client that asks
/// while it runs. The body is never held: each chunk libcurl delivers (already
/// gzip-decoded: pages ask with `acceptCompressed`) goes to an `UpstreamPageReader`,
/// so parsing is spread over the chunks as they arrive, each at most libcurl's
/// buffer (128 KiB). The decoded size is still bounded.
final class PageFetch: TransferDelegate {
    enum Outcome {
        case fetched(ProjectPage)
        /// 304: the cached copy is still current.
        case notModified
        case notFound
        case failed(String, timedOut: Bool)

        /// For the `upstream_page` log line.
        var summary: String {
            switch self {
            case .fetched(let page): "fetched files=\(page.files.count)"
            case .notModified: "not-modified"
            case .notFound: "not-found"
            case .failed(let reason, _): "failed: \(reason)"
            }
        }
    }

    static let maxBodyBytes = 64 << 20
    /// More files than any PyPI page lists (the biggest, nightly builds with dozens of
    /// wheels a day, list tens of thousands). The byte cap alone would let ~1.4 million
    /// minimal entries through, a few hundred bytes each once parsed, stored and indexed.
    static let maxFiles = 200_000

    let project: ProjectName
    private(set) var transfer: Transfer!
    private var head: UpstreamHead?
    /// Reads the body of a 200 as it arrives.
    private var reader: UpstreamPageReader?
    /// Decoded body bytes so far; past `maxBodyBytes` the fetch is refused.
    private var received = 0
    private var tooLarge = false
    private var tooManyFiles = false
    /// CPU nanoseconds spent in the reader (for the debug timing line).
    private var parseNanoseconds: UInt64 = 0
    /// The costliest single chunk, and how many there were.
    private var slowestChunkNanoseconds: UInt64 = 0
    private var chunks = 0
    private let logger: Logger?
    private let maxBodyBytes: Int
    private let maxFiles: Int
    private var waiters: [(Outcome) -> Void] = []
    var waiterCount: Int { waiters.count }
    /// File entries of the page left out as unusable (logged once per fetch).
    private(set) var skippedEntries = 0
    private let finished: (PageFetch, Outcome) -> Void

    /// `maxBodyBytes` and `maxFiles` are parameters for tests only.
    init(project: ProjectName, url: String, options: Transfer.Options, logger: Logger? = nil,
         maxBodyBytes: Int = PageFetch.maxBodyBytes, maxFiles: Int = PageFetch.maxFiles,
         finished: @escaping (PageFetch, Outcome) -> Void) {
        self.project = project
        self.maxBodyBytes = maxBodyBytes
        self.maxFiles = maxFiles
        self.logger = logger
        self.finished = finished
        transfer = Transfer(url: url, options: options)
        transfer.delegate = self
    }

    /// The loop timer that ends the fetch `--page-timeout` after the first client asked,
    /// whatever libcurl is doing (e.g. waiting for a free connection, which its own
    /// timeout does not count).
    var deadline: TimerID?
    private var done = false

    func join(_ waiter: @escaping (Outcome) -> Void) { waiters.append(waiter) }

    /// The deadline passed: the transfer was cancelled; answer everyone now.
    func expire(afterMilliseconds ms: Int) {
        transferDidComplete(transfer, error: TransferError(message: "no answer from upstream within \(ms) ms", timedOut: true))
    }

    // MARK: - TransferDelegate

    func transferDidReceiveHead(_ transfer: Transfer, head: UpstreamHead) {
        self.head = head
        guard head.status == 200 else { return }
        if let length = head.contentLength, length > maxBodyBytes { tooLarge = true }
        // Relative links are resolved against the URL that answered (after redirects).
        reader = UpstreamPageReader(contentType: head.header("content-type"), baseURL: head.effectiveURL, project: project)
    }

    /// Returning false ends the transfer: a body that is not a page, too large, or broken.
    func transfer(_ transfer: Transfer, didReceive bytes: UnsafeRawBufferPointer) -> Bool {
        guard head?.status == 200, !tooLarge, reader != nil else { return false }
        received += bytes.count
        guard received <= maxBodyBytes else {
            tooLarge = true
            return false
        }
        let start = EventLoop.threadCPUTime()
        reader!.feed(bytes)
        let spent = EventLoop.threadCPUTime() - start
        parseNanoseconds += spent
        slowestChunkNanoseconds = max(slowestChunkNanoseconds, spent)
        chunks += 1
        guard reader!.fileCount <= maxFiles else {
            tooManyFiles = true
            return false
        }
        return reader!.failure == nil
    }

    func transferDidComplete(_ transfer: Transfer, error: TransferError?) {
        guard !done else { return }
        done = true
        let start = EventLoop.threadCPUTime()
        let outcome = decide(error)
        let parsed = EventLoop.threadCPUTime()
        finished(self, outcome)
        let stored = EventLoop.threadCPUTime()
        let ready = waiters
        waiters.removeAll()
        for w in ready { w(outcome) }
        // Where a big page's time goes, on the loop: reading the chunks, ending the
        // read, storing and indexing (the `finished` callback), answering the waiters.
        if let logger, logger.isEnabled(.debug) {
            let ms = { (ns: UInt64) in format3(Double(ns) / 1e6) }
            logger.log(.debug, "upstream_page_timing", [
                "project": project.normalized, "bytes": String(received),
                "chunks": String(chunks), "read_cpu_ms": ms(parseNanoseconds),
                "slowest_chunk_cpu_ms": ms(slowestChunkNanoseconds), "finish_cpu_ms": ms(parsed - start),
                "store_cpu_ms": ms(stored - parsed), "answer_cpu_ms": ms(EventLoop.threadCPUTime() - stored),
            ])
        }
    }

    /// After a failure: true when it says upstream is unavailable (no answer at all
    /// before a time limit or error, or a 5xx), not merely that this page was odd or slow:
    /// a huge page whose body outlasts --page-timeout must not mark upstream failing
    /// (anyone could ask for it again and again).
    private(set) var upstreamUnavailable = false

    private func decide(_ error: TransferError?) -> Outcome {
        guard let head else {
            upstreamUnavailable = true
            return .failed(error?.message ?? "no response", timedOut: error?.timedOut ?? false)
        }
        if head.status >= 500 { upstreamUnavailable = true }
        switch head.status {
        case 200:
            if tooLarge { return .failed("page larger than \(maxBodyBytes) bytes", timedOut: false) }
            if tooManyFiles { return .failed("page lists more than \(maxFiles) files", timedOut: false) }
            if let failure = reader?.failure { return .failed(failure, timedOut: false) }
            if let error { return .failed(error.message, timedOut: error.timedOut) }
            guard var reader else { return .failed("no page", timedOut: false) }
            self.reader = nil
            do {
                var page = try reader.finish()
                skippedEntries = reader.skipped
                page.etag = head.header("etag")
                page.lastModified = head.header("last-modified")
                return .fetched(page)
            } catch {
                return .failed("\(error)", timedOut: false)
            }
        case 304: return .notModified
        case 404, 410: return .notFound
        default: return .failed("upstream answered \(head.status)", timedOut: false)
        }
    }
}

/// Milliseconds with three decimals, for log fields (no Foundation formatting here).
private func format3(_ value: Double) -> String {
    let thousandths = Int((value * 1000).rounded())
    let fraction = String(thousandths % 1000)
    return "\(thousandths / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
}
