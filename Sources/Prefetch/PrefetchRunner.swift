import PyPICache
import Reactor
import Upstream

/// Runs a prefetch against a wheelhouse server: reads each project's page,
/// plans the files (Planner), and downloads them through the server a few at a
/// time, so the server caches them (atomically, hash-checked) and its index sees
/// them at once. Each body is hashed here too and checked against the page.
/// With `check`, nothing is downloaded: pages and files are asked for with
/// `Cache-Control: only-if-cached`, and whatever is missing is reported.
public final class PrefetchRunner {
    public struct Options {
        public var server: String
        public var target: Target
        public var allFiles = false
        public var check = false
        public var parallel = 4

        public init(server: String, target: Target) {
            self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
            self.target = target
        }
    }

    public struct Summary: Equatable {
        public var fetched = 0
        public var alreadyCached = 0
        public var skipped = 0
        public var failed = 0
        /// --check: files or pages not in the cache.
        public var missing = 0
        public var bytes = 0

        public var succeeded: Bool { failed == 0 && missing == 0 }
    }

    private struct Job {
        let project: ProjectName
        let file: DistributionFile
    }

    private let loop: EventLoop
    private let multi: CurlMulti
    private let options: Options
    private let planner: Planner
    private let progress: Progress
    private var summary = Summary()
    /// Bytes received so far, including files still arriving (for the progress bar).
    private var liveBytes = 0
    private var queue: [Job] = []
    private var queued: Set<String> = []
    private var running = 0
    private var pagesPending = 0
    private var transfers: [ObjectIdentifier: (Transfer, Fetch)] = [:]

    public init(loop: EventLoop, options: Options, progress: Progress) {
        self.loop = loop
        self.multi = CurlMulti(loop: loop)
        self.options = options
        self.planner = Planner(target: options.target, allFiles: options.allFiles)
        self.progress = progress
    }

    /// Drives the loop until every page and file is done.
    public func run(_ set: RequirementSet) throws -> Summary {
        for note in set.notes {
            progress.line(note)
            if note.contains("skipped") { summary.skipped += 1 }
        }
        var seen: Set<ProjectName> = []
        for requirement in set.requirements {
            if let marker = requirement.marker, !marker.evaluate(options.target.markerEnvironment) {
                summary.skipped += 1
                progress.line("\(requirement.origin): skipped \(requirement.name): marker excludes the target")
                continue
            }
            let constraints = set.constraints + set.requirements.filter { $0.name == requirement.name && $0 != requirement }
            if !seen.insert(requirement.name).inserted { continue }
            fetchPage(requirement, constraints: constraints)
        }
        while pagesPending > 0 || running > 0 || !queue.isEmpty {
            try loop.runOnce(maxWaitMilliseconds: 200)
            progress.tick(done: summary.fetched + summary.alreadyCached + summary.failed + summary.missing,
                          total: queued.count, bytes: liveBytes)
        }
        progress.finish()
        return summary
    }

    // MARK: - Pages

    private func fetchPage(_ requirement: Requirement, constraints: [Requirement]) {
        let url = "\(options.server)/root/pypi/+simple/\(requirement.name.normalized)/"
        var headers = ["Accept: application/vnd.pypi.simple.v1+json"]
        if options.check { headers.append("Cache-Control: only-if-cached") }
        pagesPending += 1
        start(url, headers: headers, head: false, sha256: nil) { [self] result in
            pagesPending -= 1
            switch result {
            case .failure(let status, let reason):
                recordFailure(status: status, missing: "missing: page of \(requirement.name) (\(requirement.origin))",
                              failed: "failed: \(requirement.name) (\(requirement.origin)): \(reason)")
            case .success(let body, _, _):
                let page: ProjectPage
                do { page = try UpstreamPageParser.parseJSON(body, baseURL: url, project: requirement.name) } catch {
                    summary.failed += 1
                    return progress.line("failed: \(requirement.name): \(error)")
                }
                switch planner.plan(requirement, constraints: constraints, page: page) {
                case .skip(let why):
                    summary.skipped += 1
                    progress.line("\(requirement.origin): skipped \(requirement.name): \(why)")
                case .fail(let why):
                    summary.failed += 1
                    progress.line("failed: \(requirement.origin): \(why)")
                case .files(_, let files):
                    for file in files where queued.insert(file.url).inserted {
                        queue.append(Job(project: requirement.name, file: file))
                    }
                    startQueued()
                }
            }
        }
    }

    // MARK: - Files

    private func startQueued() {
        while running < options.parallel, !queue.isEmpty {
            let job = queue.removeFirst()
            running += 1
            let headers = options.check ? ["Cache-Control: only-if-cached"] : []
            start(job.file.url, headers: headers, head: options.check, sha256: job.file.sha256) { [self] result in
                running -= 1
                switch result {
                case .success(_, let bytes, let cache):
                    if options.check {
                        summary.alreadyCached += 1
                    } else if cache == "HIT" {
                        summary.alreadyCached += 1
                        progress.line("cached:  \(job.file.filename)")
                    } else {
                        summary.fetched += 1
                        summary.bytes += bytes
                        progress.line("fetched: \(job.file.filename) (\(Progress.format(bytes: bytes)))")
                    }
                case .failure(let status, let reason):
                    recordFailure(status: status, missing: "missing: \(job.file.filename)",
                                  failed: "failed:  \(job.file.filename): \(reason)")
                }
                // Completions arrive after curl_multi_socket_action returns, so starting
                // the next transfer here does not re-enter libcurl.
                startQueued()
            }
        }
    }

    /// With --check, 504 (only-if-cached) means "not in the cache"; anything else is a failure.
    private func recordFailure(status: Int, missing: String, failed: String) {
        if options.check && status == 504 {
            summary.missing += 1
            progress.line(missing)
        } else {
            summary.failed += 1
            progress.line(failed)
        }
    }

    // MARK: - HTTP

    enum Result {
        case success(body: [UInt8], bytes: Int, cache: String?)
        case failure(status: Int, reason: String)
    }

    /// One GET (or HEAD); the body is kept only for pages (no sha256 given).
    private final class Fetch: TransferDelegate {
        let keepBody: Bool
        let expected: String?
        var hasher = SHA256()
        var body: [UInt8] = []
        var bytes = 0
        var head: UpstreamHead?
        let done: (Result) -> Void
        var onBytes: ((Int) -> Void)?

        init(keepBody: Bool, expected: String?, done: @escaping (Result) -> Void) {
            self.keepBody = keepBody
            self.expected = expected
            self.done = done
        }

        func transferDidReceiveHead(_ transfer: Transfer, head: UpstreamHead) { self.head = head }

        func transfer(_ transfer: Transfer, didReceive data: UnsafeRawBufferPointer) -> Bool {
            bytes += data.count
            onBytes?(data.count)
            if keepBody {
                guard body.count + data.count <= 256 << 20 else { return false }
                body.append(contentsOf: data)
            } else {
                hasher.update(data)
            }
            return true
        }

        func transferDidComplete(_ transfer: Transfer, error: TransferError?) {
            guard let head else { return done(.failure(status: 0, reason: error?.message ?? "no response")) }
            guard head.status == 200 else {
                let reason = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: " \n")
                return done(.failure(status: head.status, reason: "server answered \(head.status)\(reason.isEmpty ? "" : ": " + reason)"))
            }
            if let error { return done(.failure(status: 0, reason: error.message)) }
            if !keepBody, let expected, transfer.bytesReceived > 0 {
                let digest = hasher.finalizeHex()
                guard digest == expected else { return done(.failure(status: 0, reason: "sha256 mismatch (got \(digest))")) }
            }
            done(.success(body: body, bytes: bytes, cache: head.header("x-cache")))
        }
    }

    private func start(_ url: String, headers: [String], head: Bool, sha256: String?, done: @escaping (Result) -> Void) {
        var o = Transfer.Options()
        o.headers = headers
        o.headOnly = head
        o.connectTimeoutMS = 5_000
        o.lowSpeedSeconds = 60
        let transfer = Transfer(url: url, options: o)
        let id = ObjectIdentifier(transfer)
        // Error bodies are short and worth showing, so pages and errors keep theirs.
        let fetch = Fetch(keepBody: sha256 == nil && !head, expected: sha256) { [weak self] result in
            self?.transfers.removeValue(forKey: id)
            done(result)
        }
        if sha256 != nil { fetch.onBytes = { [weak self] n in self?.liveBytes += n } }
        transfer.delegate = fetch
        transfers[id] = (transfer, fetch)
        multi.add(transfer)
    }
}

/// Progress on a terminal: one bar, redrawn at most ten times a second; plain
/// lines otherwise (logs, CI).
public final class Progress {
    private let tty: Bool
    private var lastDraw: UInt64 = 0
    private let started = EventLoop.now()
    private var drawn = false

    public init(tty: Bool = Terminal.isTTY(1)) { self.tty = tty }

    public func line(_ text: String) {
        if tty && drawn { Terminal.write("\r\u{1B}[K") }
        Terminal.write(text + "\n")
        drawn = false
    }

    func tick(done: Int, total: Int, bytes: Int) {
        guard tty, total > 0 else { return }
        let now = EventLoop.now()
        guard now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        let width = 30, filled = min(width, done * width / max(total, 1))
        let seconds = max(0.001, Double(now - started) / 1e9)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        Terminal.write("\r\u{1B}[K[\(bar)] \(done)/\(total) files  \(Progress.format(bytes: bytes))  \(Progress.format(bytes: Int(Double(bytes) / seconds)))/s")
        drawn = true
    }

    func finish() {
        if tty && drawn { Terminal.write("\r\u{1B}[K") }
        drawn = false
    }

    public static func format(bytes: Int) -> String {
        let units = ["B", "kB", "MB", "GB"]
        var v = Double(bytes), u = 0
        while v >= 1000 && u < units.count - 1 { v /= 1000; u += 1 }
        return u == 0 ? "\(bytes) B" : "\(Int((v * 10).rounded()) / 10).\(Int((v * 10).rounded()) % 10) \(units[u])"
    }
}
