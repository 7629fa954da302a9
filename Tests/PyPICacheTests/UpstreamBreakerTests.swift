import Testing
@testable import PyPICache

@Suite struct UpstreamBreakerTests {
    let six = ProjectName("six")!

    @Test func opensOnFailureAndBacksOffBetweenProbes() throws {
        let breaker = UpstreamBreaker(firstPauseSeconds: 1, longestPauseSeconds: 4)
        #expect(!breaker.isOpen && breaker.name == "unknown")
        #expect(breaker.failed("timeout", project: six, now: 100), "opened")
        guard case .failing(let since, _, let probe1) = breaker.state else { Issue.record("not failing"); return }
        #expect(since == 100 && probe1 == 101)
        #expect(!breaker.failed("timeout", project: six, now: 100.2), "a fetch already under way when it opened")
        guard case .failing(_, _, let unchanged) = breaker.state else { Issue.record("not failing"); return }
        #expect(unchanged == 101, "does not stretch the pause")
        #expect(!breaker.failed("timeout", project: six, now: 101), "a failed probe keeps it open")
        guard case .failing(let stillSince, _, let probe2) = breaker.state else { Issue.record("not failing"); return }
        #expect(stillSince == 100 && probe2 == 103)
        breaker.failed("timeout", project: six, now: 103)
        breaker.failed("timeout", project: six, now: 107)
        guard case .failing(_, _, let probe4) = breaker.state else { Issue.record("not failing"); return }
        #expect(probe4 == 111, "pauses stop growing at the longest")
        #expect(breaker.probeProject == six)
        #expect(breaker.succeeded(), "closed")
        #expect(!breaker.isOpen && breaker.name == "online" && breaker.probeProject == nil)
        #expect(breaker.failed("refused", project: six, now: 200))
        guard case .failing(_, _, let fresh) = breaker.state else { Issue.record("not failing"); return }
        #expect(fresh == 201, "a new outage starts with the first pause again")
    }
}
