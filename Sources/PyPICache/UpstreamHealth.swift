import FoundationEssentials
import HTTPServer
import Reactor
import Support

/// Whether upstream may be asked now: the `--offline` switch and the circuit breaker
/// (`UpstreamBreaker`), plus the one background probe that decides when a failing
/// upstream is back. Page and file caches report each upstream answer or failure here.
final class UpstreamHealth {
    /// As /+status, /+metrics and the web pages show it.
    enum State {
        case unknown, online, offline
        case failing(since: Double, error: String)

        var name: String {
            switch self {
            case .unknown: "unknown"
            case .online: "online"
            case .offline: "offline"
            case .failing: "failing"
            }
        }
    }

    let offline: Bool
    private let breaker: UpstreamBreaker
    private let loop: EventLoop
    private let clock: WallClock
    private let logger: Logger
    private let upstreamURL: String
    private var probeTimer: TimerID?
    /// Re-fetches a project's page in the background (set by the owner of the page cache).
    var probe: ((ProjectName) -> Void)?
    /// Called when reachability changes, so pages re-render with the right file list.
    var reachabilityChanged: (() -> Void)?

    init(offline: Bool, upstreamURL: String, loop: EventLoop, clock: WallClock, logger: Logger, breaker: UpstreamBreaker = UpstreamBreaker()) {
        self.offline = offline
        self.upstreamURL = upstreamURL
        self.loop = loop
        self.clock = clock
        self.logger = logger
        self.breaker = breaker
    }

    /// False offline and while the breaker is open: then nothing waits on upstream,
    /// and pages list only what the cache can serve.
    var reachable: Bool { !offline && !breaker.isOpen }
    var breakerOpen: Bool { breaker.isOpen }

    var state: State {
        if offline { return .offline }
        switch breaker.state {
        case .unknown: return .unknown
        case .online: return .online
        case .failing(let since, let error, _): return .failing(since: since, error: error)
        }
    }

    /// While the breaker is open: the answer for something the cache cannot serve. 503 with
    /// Retry-After (the next probe), which pip and uv retry, so a short outage costs a wait.
    func failingResponse(_ what: String) -> Response? {
        guard case .failing(let since, let error, let nextProbe) = breaker.state else { return nil }
        let retry = max(1, Int((nextProbe - clock.now).rounded(.up)))
        return .error(503, "\(what) is not cached and upstream has been failing since "
                      + "\(Date(timeIntervalSince1970: since).formatted(.iso8601)) (\(error)); retrying in the background",
                      headers: [("Retry-After", String(retry))])
    }

    /// Upstream answered (anything, a 404 included).
    func succeeded() {
        if breaker.succeeded() {
            logger.lifecycle("upstream_back", ["upstream": upstreamURL])
            reachabilityChanged?()  // pages list upstream's files again
        }
    }

    /// Opens the breaker (or, for a failed probe, keeps it open longer) and plans the next probe.
    /// Called for pages, and for files that got no answer at all.
    func failed(_ reason: String, project: ProjectName) {
        if breaker.failed("\(project): \(reason)", project: project, now: clock.now) {
            logger.warning("upstream_failing", ["upstream": upstreamURL, "error": reason,
                                                "action": "serving from the cache, probing in the background"])
            reachabilityChanged?()  // pages now list only cached files
        }
        guard probeTimer == nil, case .failing(_, _, let due) = breaker.state else { return }
        probeTimer = loop.schedule(afterMilliseconds: max(1, Int((due - clock.now) * 1000))) { [weak self] in
            guard let self else { return }
            probeTimer = nil
            guard breaker.isOpen, let project = breaker.probeProject else { return }
            logger.info("upstream_probe", ["project": project.normalized])
            probe?(project)
        }
    }

    func shutdown() {
        if let probeTimer { loop.cancel(probeTimer) }
        probeTimer = nil
    }
}
