/// A circuit breaker for the upstream index. After a failure that says upstream
/// is unavailable (timeout, refused connection, 5xx) it opens: requests are
/// answered from the cache at once instead of each waiting out a timeout, and
/// pages list only cached files. One background probe at a time, with growing
/// pauses between probes, decides when upstream is back.
final class UpstreamBreaker {
    enum State {
        /// No upstream request has finished yet.
        case unknown
        case online
        /// `nextProbe`: when the next probe is due (seconds since the epoch).
        case failing(since: Double, error: String, nextProbe: Double)
    }

    private(set) var state: State = .unknown
    /// The project whose page the next probe asks for: a real request that also refreshes the cache.
    private(set) var probeProject: ProjectName?
    private var pause: Double
    let firstPause: Double
    let longestPause: Double

    init(firstPauseSeconds: Double = 1, longestPauseSeconds: Double = 60) {
        firstPause = firstPauseSeconds
        longestPause = longestPauseSeconds
        pause = firstPauseSeconds
    }

    var isOpen: Bool {
        if case .failing = state { return true }
        return false
    }

    /// Records a failure; returns true when this opened the breaker (state changed).
    @discardableResult
    func failed(_ error: String, project: ProjectName, now: Double) -> Bool {
        probeProject = project
        switch state {
        case .failing(let since, _, let due):
            // Once the probe was due, a failure is the probe's: wait longer before the next.
            // Earlier ones are fetches that were already under way when the breaker opened
            // (uv asks for many pages at once): they must not stretch the pause.
            if now >= due {
                pause = min(pause * 2, longestPause)
                state = .failing(since: since, error: error, nextProbe: now + pause)
            } else {
                state = .failing(since: since, error: error, nextProbe: due)
            }
            return false
        case .unknown, .online:
            pause = firstPause
            state = .failing(since: now, error: error, nextProbe: now + pause)
            return true
        }
    }

    /// Records an answer from upstream; returns true when this closed the breaker.
    @discardableResult
    func succeeded() -> Bool {
        let wasOpen = isOpen
        state = .online
        pause = firstPause
        probeProject = nil
        return wasOpen
    }

    var name: String {
        switch state {
        case .unknown: "unknown"
        case .online: "online"
        case .failing: "failing"
        }
    }
}
