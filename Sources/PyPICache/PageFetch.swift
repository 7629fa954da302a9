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
    }

    static let maxBodyBytes = 64 << 20

    let project: ProjectName
    private(set) var transfer: Transfer!
    private var head: UpstreamHead?
    private var body: [UInt8] = []
    private var waiters: [(Outcome) -> Void] = []
    private let finished: (PageFetch, Outcome) -> Void

    init(project: ProjectName, url: String, options: Transfer.Options, finished: @escaping (PageFetch, Outcome) -> Void) {
        self.project = project
        self.finished = finished
        transfer = Transfer(url: url, options: options)
        transfer.delegate = self
    }

    func join(_ waiter: @escaping (Outcome) -> Void) { waiters.append(waiter) }

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
        let outcome = decide(error)
        finished(self, outcome)
        let ready = waiters
        waiters.removeAll()
        for w in ready { w(outcome) }
    }

    private func decide(_ error: TransferError?) -> Outcome {
        guard let head else { return .failed(error?.message ?? "no response", timedOut: error?.timedOut ?? false) }
        switch head.status {
        case 200:
            if body.count >= PageFetch.maxBodyBytes { return .failed("page larger than \(PageFetch.maxBodyBytes) bytes", timedOut: false) }
            if let error { return .failed(error.message, timedOut: error.timedOut) }
            do {
                var page = try UpstreamPageParser.parse(body, contentType: head.header("content-type"),
                                                        baseURL: head.effectiveURL, project: project)
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
