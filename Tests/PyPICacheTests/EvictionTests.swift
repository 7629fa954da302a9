import Glibc
import Reactor
import Support
import Testing
@testable import PyPICache

/// The size cap (issue 17): the recency order, size parsing, the eviction pass on a real
/// store (oldest first; pinned and in-use files kept; a wheel's metadata with it), and gc's plan.
@Suite struct EvictionTests {
    @Test func recencyListKeepsOrderOfLastUse() {
        var list = RecencyList<String, Int>()
        for (i, key) in ["a", "b", "c", "d"].enumerated() { list.touch(key, value: i) }
        list.touch("b", value: 10)
        list.remove("c")
        list.touch("e", value: 5)  // reuses c's slot
        var order: [String] = []
        list.walkOldestFirst { key, _ in order.append(key); return true }
        #expect(order == ["a", "d", "b", "e"])
        #expect(list.value(of: "b") == 10 && list.count == 4 && !list.contains("c"))
        var firstTwo: [String] = []
        list.walkOldestFirst { key, _ in firstTwo.append(key); return firstTwo.count < 2 }
        #expect(firstTwo == ["a", "d"])
        list.touch("e", value: 6)  // already newest
        list.remove("a")
        list.remove("e")
        order = []
        list.walkOldestFirst { key, _ in order.append(key); return true }
        #expect(order == ["d", "b"])
    }

    @Test func sizesParse() {
        #expect(ByteSize.parse("20GB") == 20_000_000_000)
        #expect(ByteSize.parse("500MB") == 500_000_000)
        #expect(ByteSize.parse("500mb") == 500_000_000)
        #expect(ByteSize.parse("1.5G") == 1_500_000_000)
        #expect(ByteSize.parse("2GiB") == 2 * 1024 * 1024 * 1024)
        #expect(ByteSize.parse("64KiB") == 65_536)
        #expect(ByteSize.parse("1048576") == 1_048_576)
        #expect(ByteSize.parse("10 kB") == 10_000)
        #expect(ByteSize.parse("7B") == 7)
        for bad in ["", "GB", "-1GB", "1.GB", ".5GB", "1XB", "20 gigabytes", "1e3", "99999999TB"] {
            #expect(ByteSize.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func listsTakeSpecifiers() throws {
        let demo = ProjectName("demo")!
        func file(_ version: String) -> DistributionFile { DistributionFile(filename: "demo-\(version).tar.gz", url: "") }
        var filter = ReleaseFilter()
        filter.deny = try ReleaseList(parsing: "demo>=2,<3\ndemo!=1.0,<1.5 # a bad range\n", source: "deny")
        for (version, denied) in [("1.0", false), ("1.2", true), ("1.5", false), ("2.0", true), ("2.5rc1", true), ("2.9.9", true), ("3.0", false)] {
            #expect((filter.refusal(demo, file(version), now: 0) != nil) == denied, "\(version)")
        }
        filter = ReleaseFilter()
        filter.allow = try ReleaseList(parsing: "demo~=1.4\n", source: "allow")
        #expect(filter.refusal(demo, file("1.4.2"), now: 0) == nil)
        #expect(filter.refusal(demo, file("1.10"), now: 0) == nil)
        #expect(filter.refusal(demo, file("2.0"), now: 0) != nil)
        #expect(filter.refusal(demo, file("not-a-version"), now: 0) != nil)
        #expect(filter.projectRefusal(ProjectName("other")!) != nil)
        // PEP 440 equality: 2.0 is 2.0.0.
        filter = ReleaseFilter()
        filter.deny = try ReleaseList(parsing: "demo==2.0\n", source: "deny")
        #expect(filter.refusal(demo, file("2.0.0"), now: 0) != nil)
    }

    // MARK: - On a real store

    func freshStore() throws -> CacheStore {
        try CacheStore(root: "/tmp/wheelhouse-evict-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    }

    func key(_ n: Int, _ filename: String) -> FileKey {
        FileKey(sha256: String(repeating: String(n % 10), count: 64), filename: filename)!
    }

    /// Stores `size` bytes under `key`, last used at `usedAt`.
    func put(_ store: CacheStore, _ key: FileKey, size: Int, usedAt: Double) throws {
        try store.write([UInt8](repeating: 7, count: size), as: key)
        store.markUsed(key, at: usedAt)
    }

    @Test func passEvictsLeastRecentlyUsedButNotPinnedOrInUse() throws {
        let store = try freshStore()
        let old = key(1, "old-1.0-py3-none-any.whl"), pinned = key(2, "pinned-1.0.tar.gz"), busy = key(3, "busy-1.0.tar.gz"),
            middle = key(4, "middle-1.0.tar.gz"), recent = key(5, "recent-1.0.tar.gz")
        try put(store, old, size: 100, usedAt: 1000)
        try put(store, old.metadataKey!, size: 10, usedAt: 1000)
        try put(store, pinned, size: 100, usedAt: 1001)
        try put(store, busy, size: 100, usedAt: 1002)
        try put(store, middle, size: 100, usedAt: 1003)
        try put(store, recent, size: 100, usedAt: 1004)
        try Pins.add(["pinned-1.0.tar.gz"], to: store.pinsPath)

        let loop = try EventLoop()
        let clock = ManualClock(now: 2000)
        let index = CacheIndex(cachedFiles: store.scanFiles(), storedPages: [])
        let eviction = FileEviction(capBytes: 300, index: index, store: store, pins: Pins(paths: [store.pinsPath]),
                                    loop: loop, clock: clock, logger: Logger(level: .error, fd: 2))
        let (busyFD, _) = try #require(store.openIfPresent(busy))
        eviction.used(busy, holder: busyFD)  // a response is sending it
        for _ in 0..<5 { try loop.runOnce(maxWaitMilliseconds: 0) }

        let left = Set(store.scanFiles().keys)
        #expect(!left.contains(old) && !left.contains(old.metadataKey!), "least recently used goes first, its metadata with it")
        #expect(left.contains(pinned) && left.contains(busy) && left.contains(recent))
        #expect(!left.contains(middle))
        #expect(index.cachedBytes == 300 && eviction.evictedFiles == 3)
        withExtendedLifetime(busyFD) {}
    }

    @Test func allPinnedIsNeverEvicted() throws {
        let store = try freshStore()
        let a = key(1, "a-1.0.tar.gz"), b = key(2, "b-1.0.tar.gz")
        try put(store, a, size: 100, usedAt: 1000)
        try put(store, b, size: 100, usedAt: 1001)
        try Pins.add(["a-1.0.tar.gz", "b-1.0.tar.gz"], to: store.pinsPath)
        let loop = try EventLoop()
        let index = CacheIndex(cachedFiles: store.scanFiles(), storedPages: [])
        let eviction = FileEviction(capBytes: 50, index: index, store: store, pins: Pins(paths: [store.pinsPath]),
                                    loop: loop, clock: ManualClock(), logger: Logger(level: .error, fd: 2))
        // Each pass passes over both; once all were, the next pass waits on a timer.
        for _ in 0..<5 { try loop.runOnce(maxWaitMilliseconds: 0) }
        #expect(store.scanFiles().count == 2 && eviction.evictedFiles == 0)
    }

    @Test func useIsRecordedOnDiskAtMostOnceAnInterval() throws {
        let store = try freshStore()
        let file = key(6, "f-1.0.tar.gz")
        try put(store, file, size: 10, usedAt: 1000)
        let clock = ManualClock(now: 1000)
        let index = CacheIndex(cachedFiles: store.scanFiles(), storedPages: [])
        let eviction = FileEviction(capBytes: 1 << 30, index: index, store: store, pins: Pins(paths: []),
                                    loop: try EventLoop(), clock: clock, logger: Logger(level: .error, fd: 2))
        let fd = FileDescriptor(adopting: dup(0))
        clock.advance(by: 60)
        eviction.used(file, holder: fd)
        #expect(store.lastUse(of: file) == 1000, "a use within the interval writes nothing")
        clock.advance(by: FileEviction.recordEvery)
        eviction.used(file, holder: fd)
        #expect(store.lastUse(of: file) == clock.now)
    }

    @Test func gcPlansLeastRecentlyUsedFirstAndKeepsPins() throws {
        let store = try freshStore()
        let a = key(7, "a-1.0-py3-none-any.whl"), b = key(8, "b-1.0.tar.gz"), c = key(9, "c-1.0.tar.gz")
        try put(store, a, size: 100, usedAt: 1000)
        try put(store, a.metadataKey!, size: 5, usedAt: 3000)
        try put(store, b, size: 100, usedAt: 2000)
        try put(store, c, size: 100, usedAt: 500)
        try Pins.add(["c-1.0.tar.gz"], to: store.pinsPath)
        _ = try store.createTemp()
        let collector = CacheCollector(store: store)
        let plan = collector.plan(maxBytes: 150, pinFiles: [])
        #expect(plan.files.map(\.key) == [a, a.metadataKey!, b])
        #expect(plan.bytesBefore == 305 && plan.bytesAfter == 100 && plan.pinnedKept == 1 && plan.tempFiles.count == 1)
        #expect(store.scanFiles().count == 4, "planning deletes nothing")
        collector.apply(plan)
        #expect(Array(store.scanFiles().keys) == [c] && store.leftoverTempFiles().isEmpty)
    }

    @Test func purgeLeavesFilesOfALongerNameThatTheGuessWouldTake() throws {
        let store = try freshStore()
        let mine = key(1, "mu-1.0.tar.gz"), theirs = key(2, "mu-2fa-1.0.tar.gz"), orphan = key(3, "mu-3.0-py3-none-any.whl")
        for k in [mine, theirs, orphan] { try put(store, k, size: 10, usedAt: 1000) }
        let hash = { (n: Int) in String(repeating: String(n), count: 64) }
        try store.savePage(ProjectPage(name: "mu", files: [DistributionFile(filename: "mu-1.0.tar.gz", url: "https://x/mu-1.0.tar.gz", sha256: hash(1))]),
                           as: ProjectName("mu")!)
        try store.savePage(ProjectPage(name: "mu-2fa", files: [DistributionFile(filename: "mu-2fa-1.0.tar.gz", url: "https://x/m", sha256: hash(2))]),
                           as: ProjectName("mu-2fa")!)
        let plan = CacheCollector(store: store).purgePlan(ProjectName("mu")!)
        // Its page's file, and a file no page names whose name says mu; never mu-2fa's.
        #expect(plan.hasPage && Set(plan.files.map(\.key)) == [mine, orphan])
    }
}
