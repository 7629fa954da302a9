import Reactor
import Upstream

/// One upstream request for a project page, shared by every client that asks
/// while it runs. The body is small enough to hold (and must be parsed whole);
/// it is still bounded.
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

    let project: ProjectName
    private(set) var transfer: Transfer!
    private var head: UpstreamHead?
    private var body: [UInt8] = []
    private var waiters: [(Outcome) -> Void] = []
    var waiterCount: Int { waiters.count }
    /// File entries of the page left out as unusable (logged once per fetch).
    private(set) var skippedEntries = 0
    private let finished: (PageFetch, Outcome) -> Void

    init(project: ProjectName, url: String, options: Transfer.Options, finished: @escaping (PageFetch, Outcome) -> Void) {
        self.project = project
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
    }

    func transfer(_ transfer: Transfer, didReceive bytes: UnsafeRawBufferPointer) -> Bool {
        guard head?.status == 200, body.count + bytes.count <= PageFetch.maxBodyBytes else { return false }
        body.append(contentsOf: bytes)
        return true
    }

    func transferDidComplete(_ transfer: Transfer, error: TransferError?) {
        guard !done else { return }
        done = true
        let outcome = decide(error)
        finished(self, outcome)
        let ready = waiters
        waiters.removeAll()
        for w in ready { w(outcome) }
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
            if body.count >= PageFetch.maxBodyBytes { return .failed("page larger than \(PageFetch.maxBodyBytes) bytes", timedOut: false) }
            if let error { return .failed(error.message, timedOut: error.timedOut) }
            do {
                var page = try UpstreamPageParser.parse(body, contentType: head.header("content-type"),
                                                        baseURL: head.effectiveURL, project: project, skipped: &skippedEntries)
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
