import Testing
@testable import PyPICache

/// The page decisions on a fake clock: fresh, expired, stale while upstream fails,
/// offline, only-if-cached, the negative cache.
@Suite struct PagePolicyTests {
    let clock = ManualClock()
    let online = PagePolicy(ttlSeconds: 1800, offline: false)
    let offline = PagePolicy(ttlSeconds: 1800, offline: true)

    func situation(storedAgo age: Double?, onlyIfCached: Bool = false, knownMissing: Bool = false, breakerOpen: Bool = false)
        -> PagePolicy.Situation {
        .init(storedFetchedAt: age.map { clock.now - $0 }, now: clock.now, onlyIfCached: onlyIfCached,
              knownMissing: knownMissing, breakerOpen: breakerOpen)
    }

    @Test func aFreshPageIsServedWithoutAskingUpstream() {
        #expect(online.decide(situation(storedAgo: 0)) == .serveStored(.hit))
        #expect(online.decide(situation(storedAgo: 1799)) == .serveStored(.hit))
    }

    @Test func anExpiredPageIsRevalidated() {
        #expect(online.decide(situation(storedAgo: 1800)) == .fetch)
        #expect(online.decide(situation(storedAgo: nil)) == .fetch)
    }

    @Test func pagesExpireAsTheClockMoves() {
        let fetchedAt = clock.now
        #expect(online.isFresh(fetchedAt: fetchedAt, now: clock.now))
        clock.advance(by: 1799.9)
        #expect(online.isFresh(fetchedAt: fetchedAt, now: clock.now))
        clock.advance(by: 0.1)
        #expect(!online.isFresh(fetchedAt: fetchedAt, now: clock.now))
    }

    @Test func whileUpstreamFailsAnExpiredPageIsServedStaleAtOnce() {
        #expect(online.decide(situation(storedAgo: 5000, breakerOpen: true)) == .serveStored(.stale))
        #expect(online.decide(situation(storedAgo: nil, breakerOpen: true)) == .upstreamFailing)
        // A fresh page is a plain hit whatever upstream does.
        #expect(online.decide(situation(storedAgo: 10, breakerOpen: true)) == .serveStored(.hit))
    }

    @Test func aFailedFetchFallsBackToTheStoredPage() {
        #expect(online.afterFailure(stored: true) == .stale)
        #expect(online.afterFailure(stored: false) == nil)
    }

    @Test func offlineServesAnyAgeAndNeverFetches() {
        #expect(offline.decide(situation(storedAgo: 1_000_000)) == .serveStored(.hit))
        #expect(offline.decide(situation(storedAgo: nil)) == .notCachedOffline)
        #expect(offline.decide(situation(storedAgo: nil, breakerOpen: true)) == .notCachedOffline)
    }

    @Test func onlyIfCachedNeverFetches() {
        #expect(online.decide(situation(storedAgo: 5000, onlyIfCached: true)) == .serveStored(.hit))
        #expect(online.decide(situation(storedAgo: nil, onlyIfCached: true)) == .notCachedOnlyIfCached)
    }

    @Test func aRecentUpstream404IsAnsweredFromMemory() {
        #expect(online.decide(situation(storedAgo: nil, knownMissing: true)) == .knownMissing)
    }
}

@Suite struct NegativeCacheTests {
    let clock = ManualClock()
    let name = ProjectName("nosuch")!

    @Test func remembersA404UntilItsTTLPasses() {
        var cache = NegativeCache(ttlSeconds: 60)
        #expect(!cache.contains(name, now: clock.now))
        cache.remember(name, now: clock.now)
        clock.advance(by: 59)
        #expect(cache.contains(name, now: clock.now))
        clock.advance(by: 1)
        #expect(!cache.contains(name, now: clock.now))
    }

    @Test func staysBoundedAndDropsExpiredEntriesFirst() {
        var cache = NegativeCache(ttlSeconds: 60, capacity: 3)
        for n in ["a", "b", "c"] { cache.remember(ProjectName(n)!, now: clock.now) }
        cache.remember(ProjectName("d")!, now: clock.now)
        #expect(cache.count == 3, "full of live entries: the new one is not remembered")
        #expect(!cache.contains(ProjectName("d")!, now: clock.now))
        clock.advance(by: 61)
        cache.remember(ProjectName("e")!, now: clock.now)
        #expect(cache.count == 1)
        #expect(cache.contains(ProjectName("e")!, now: clock.now))
    }
}
