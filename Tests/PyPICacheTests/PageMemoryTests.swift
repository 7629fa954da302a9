import FoundationEssentials
import Glibc
import Reactor
import Testing
@testable import PyPICache

/// The page memory model: bounded caches by bytes, pages read back from disk
/// (PageCodec, and the JSON of earlier versions), known files through the guessed project.
@Suite struct ByteBudgetCacheTests {
    @Test func evictsLeastRecentlyUsedByBytes() {
        var cache = ByteBudgetCache<String, Int>(budgetBytes: 100)
        cache.put("a", 1, cost: 40)
        cache.put("b", 2, cost: 40)
        #expect(cache.get("a") == 1)  // a is now newer than b
        cache.put("c", 3, cost: 40)   // 120 > 100: b (least recently used) goes
        #expect(cache.peek("b") == nil && cache.peek("a") == 1 && cache.peek("c") == 3)
        #expect(cache.totalBytes == 80 && cache.count == 2)
        cache.put("d", 4, cost: 90)   // needs both out
        #expect(cache.count == 1 && cache.totalBytes == 90 && cache.peek("d") == 4)
    }

    @Test func anEntryOverTheWholeBudgetIsNotKept() {
        var cache = ByteBudgetCache<String, Int>(budgetBytes: 10)
        cache.put("small", 1, cost: 5)
        let kept = cache.put("huge", 2, cost: 11)
        #expect(!kept)
        #expect(cache.peek("huge") == nil && cache.peek("small") == 1 && cache.totalBytes == 5)
    }

    @Test func replacingAndRemovingKeepTheTotalTrue() {
        var cache = ByteBudgetCache<Int, Int>(budgetBytes: 1000)
        for i in 0..<50 { cache.put(i % 7, i, cost: 10 + i) }
        #expect(cache.count == 7)
        #expect(cache.totalBytes == (43..<50).map { 10 + $0 }.reduce(0, +))
        for k in 0..<7 { cache.remove(k) }
        #expect(cache.count == 0 && cache.totalBytes == 0)
        // Slots are reused and the order still holds.
        for i in 0..<200 { cache.put(i, i, cost: 100) }
        #expect(cache.count == 10 && (190..<200).allSatisfy { cache.peek($0) == $0 })
    }
}

@Suite struct PageStorageTests {
    func freshRoot() -> String { "/tmp/wheelhouse-pages-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" }

    static func bigPage(_ name: String, files: Int) -> ProjectPage {
        let files = (0..<files).map { i in
            DistributionFile(filename: "\(name)-1.\(i).tar.gz", url: "https://files.example/\(i)/\(name)-1.\(i).tar.gz",
                             sha256: String(repeating: String(i % 16, radix: 16), count: 63) + "a",
                             requiresPython: i % 3 == 0 ? ">=3.8" : nil, yanked: i % 5 == 0 ? "" : (i % 7 == 0 ? "bad ✗" : nil),
                             size: i % 4 == 0 ? nil : i * 1000, uploadTime: "2024-01-02T03:04:05Z",
                             coreMetadata: i % 2 == 0 ? "" : nil)
        }
        return ProjectPage(name: name, files: files, versions: files.count % 2 == 0 ? ["1.0", "2.0"] : nil, etag: "\"e\"", lastModified: "Tue, 1 Jan 2024",
                           fetchedAt: 1_700_000_000.25)
    }

    @Test func codecRoundTripsEveryField() {
        for page in [PageStorageTests.bigPage("demo", files: 40), PageStorageTests.bigPage("one", files: 1),
                     ProjectPage(name: "empty", files: [])] {
            #expect(PageCodec.decode(PageCodec.encode(page)) == page)
        }
    }

    @Test func malformedBytesReadAsAbsentNeverCrash() {
        let bytes = PageCodec.encode(PageStorageTests.bigPage("demo", files: 5))
        for cut in 0..<bytes.count { #expect(PageCodec.decode(Array(bytes.prefix(cut))) == nil) }
        #expect(PageCodec.decode(bytes + [0]) == nil)
        var wrongMagic = bytes
        wrongMagic[0] = UInt8(ascii: "X")
        #expect(PageCodec.decode(wrongMagic) == nil)
        // A huge file count must not make the reader reserve memory for it.
        var lying = Array(bytes.prefix(PageCodec.headSize))
        lying += [4, 0x64, 0x65, 0x6d, 0x6f, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]
        #expect(PageCodec.decode(lying) == nil)
    }

    @Test func pagesWrittenByEarlierVersionsAreReadAndRewritten() throws {
        let root = freshRoot()
        let store = try CacheStore(root: root)
        let name = ProjectName("Old_Pkg")!
        let page = PageStorageTests.bigPage("old-pkg", files: 3)
        try Array(JSONEncoder().encode(page)).withUnsafeBytes { bytes in
            let fd = try Files.open(root + "/pages/old-pkg.json", flags: O_CREAT | O_WRONLY)
            try Files.writeAll(fd, bytes)
        }
        #expect(store.storedPageNames() == [name])
        #expect(store.loadPage(name) == page)
        #expect(!Files.list(root + "/pages").contains { $0.name == "old-pkg.json" })
        #expect(Files.list(root + "/pages").contains { $0.name == "old-pkg.page" })
        #expect(store.loadPage(name) == page)
        #expect(store.storedPageNames() == [name])
    }

    @Test func unreadablePagesAreAbsent() throws {
        let root = freshRoot()
        let store = try CacheStore(root: root)
        for (file, junk) in [("bad.json", "{not json"), ("worse.page", "WHPG1\ntruncated")] {
            try Array(junk.utf8).withUnsafeBytes { bytes in
                try Files.writeAll(try Files.open(root + "/pages/" + file, flags: O_CREAT | O_WRONLY), bytes)
            }
        }
        #expect(store.loadPage(ProjectName("bad")!) == nil)
        #expect(store.loadPage(ProjectName("worse")!) == nil)
    }
}

@Suite struct CacheIndexMemoryTests {
    func file(_ filename: String, _ hexDigit: Character) -> DistributionFile {
        DistributionFile(filename: filename, url: "https://x/\(filename)", sha256: String(repeating: hexDigit, count: 64))
    }

    @Test func parsedPagesStayWithinTheirBudgetAndComeBackFromDisk() throws {
        let store = try CacheStore(root: "/tmp/wheelhouse-index-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        var loads = 0
        let page = PageStorageTests.bigPage("big", files: 200)
        let index = CacheIndex(cachedFiles: [:], storedPages: [], pageBudgetBytes: page.estimatedMemory * 3 / 2) {
            loads += 1
            return store.loadPage($0)
        }
        for n in 0..<5 {
            let name = ProjectName("big\(n)")!
            var p = page
            p.name = name.normalized
            p.files = p.files.map { f in var f = f; f.filename = "big\(n)-" + f.filename.dropFirst(4); return f }
            try store.savePage(p, as: name)
            index.remember(p, as: name)
        }
        #expect(index.pagesInMemory.count == 1 && index.pagesInMemory.bytes <= index.pagesInMemory.budget)
        // An evicted page's files are still known: the page is read back from disk.
        let key = try #require(DistributionFile(filename: "big0-1.7.tar.gz", url: "", sha256: String(repeating: "7", count: 63) + "a").key)
        let known = try #require(index.known(key))
        #expect(known.project == ProjectName("big0")! && known.file.url == "https://files.example/7/big-1.7.tar.gz")
        #expect(loads == 1)
        #expect(index.known(key) != nil && loads == 1, "now in memory")
        #expect(index.projectNames.count == 5)
    }

    @Test func filesWhoseNameGuessesAnotherProjectAreStillKnown() {
        let index = CacheIndex(cachedFiles: [:], storedPages: [], pageBudgetBytes: 0) { _ in nil }
        // "django-2fa-1.0.tar.gz" guesses "django"; a wheel with an unescaped dash guesses "my".
        let odd = [file("django-2fa-1.0.tar.gz", "a"), file("my-pkg-1.0-py3-none-any.whl", "b"), file("noversion.zip", "c")]
        let plain = file("django_2fa-1.0-py3-none-any.whl", "d")
        let name = ProjectName("django-2fa")!
        let loaded = ProjectPage(name: name.normalized, files: odd + [plain])
        let lookup = CacheIndex(cachedFiles: [:], storedPages: [name], pageBudgetBytes: 0) { $0 == name ? loaded : nil }
        lookup.remember(loaded, as: name)
        for f in odd + [plain] {
            #expect(lookup.known(f.key!)?.file == f, "\(f.filename)")
            #expect(lookup.project(of: f.key!) == name)
        }
        // Same filename, another hash: not a file upstream named.
        #expect(lookup.known(file("django_2fa-1.0-py3-none-any.whl", "e").key!) == nil)
        #expect(index.known(plain.key!) == nil)
    }

    @Test func theFastGuessCheckAgreesWithTheGuess() {
        let names = ["Django-4.2-py3-none-any.whl", "zope.interface-6.0.tar.gz", "lambda_pkg-1.0-py3-none-any.whl", "my-pkg-2.0.tar.gz",
                     "noversion.tar.gz", "django-2fa-1.0.tar.gz", "-1.0.tar.gz", "a--b-1.0.tar.gz", "A_.B-1.whl", "x-1",
                     "Foo__Bar-0.1.zip", "pkg-é-1.0.tar.gz", "a.-1.0.tar.gz", "my-pkg-1.0-py3-none-any.whl", ".whl", "b-.whl"]
        for filename in names {
            for project in ["django", "zope-interface", "lambda-pkg", "my-pkg", "django-2fa", "a-b", "a-b-", "foo-bar", "x", "my", "pkg-é", "a"] {
                guard let name = ProjectName(project) else { continue }
                if CacheIndex.filename(filename, guessesAs: name) {
                    #expect(ProjectName.guess(fromFilename: filename) == name, "\(filename) \(project)")
                }
            }
            if let guess = ProjectName.guess(fromFilename: filename), filename.utf8.allSatisfy({ $0 < 0x80 }) {
                #expect(CacheIndex.filename(filename, guessesAs: guess), "\(filename)")
            }
        }
    }

    @Test func onlyPagesSeenSinceStartUpMakeFilesKnown() {
        let name = ProjectName("demo")!
        let f = file("demo-1.0.tar.gz", "a")
        let page = ProjectPage(name: "demo", files: [f])
        let index = CacheIndex(cachedFiles: [:], storedPages: [name]) { _ in page }
        #expect(index.known(f.key!) == nil, "stored but not read yet: fetched or read first, as before")
        #expect(index.page(name, load: { _ in page }) == page)
        #expect(index.known(f.key!)?.project == name)
    }
}

@Suite struct RenderedPagesTests {
    let key = RenderedPages.Key(project: ProjectName("demo")!, format: .json, alias: false, gzip: true)

    @Test func eachVariantIsRenderedOnceUntilInvalidated() {
        let pages = RenderedPages(budgetBytes: 1 << 20)
        var renders = 0
        let render = { () -> (body: [UInt8], validUntil: Double?) in
            renders += 1
            return (Array(repeating: UInt8(ascii: "x"), count: 1000), nil)
        }
        let first = pages.rendered(key, now: 0, render: render)
        #expect(pages.rendered(key, now: 1, render: render).etag == first.etag && renders == 1)
        let plain = RenderedPages.Key(project: key.project, format: .json, alias: false, gzip: false)
        #expect(pages.rendered(plain, now: 1, render: render).body.count == 1000 && renders == 2)
        guard case .bytes(let zipped) = first.body else { Issue.record("a small body stays in memory"); return }
        #expect(zipped.count < 1000)
        #expect(first.body.count < 1000 && first.etag != pages.rendered(plain, now: 1, render: render).etag)
        pages.invalidate(key.project)
        _ = pages.rendered(key, now: 2, render: render)
        #expect(renders == 3 && pages.renderCount == 3)
    }

    @Test func aRenderingPastItsMomentIsMadeAgain() {
        let pages = RenderedPages(budgetBytes: 1 << 20)
        var renders = 0
        let render = { () -> (body: [UInt8], validUntil: Double?) in
            renders += 1
            return ([1, 2, 3], 10)
        }
        _ = pages.rendered(key, now: 0, render: render)
        _ = pages.rendered(key, now: 9.9, render: render)
        #expect(renders == 1)
        _ = pages.rendered(key, now: 10, render: render)
        #expect(renders == 2)
    }

    @Test func boundedByBytesLeastRecentlyUsedFirst() {
        let pages = RenderedPages(budgetBytes: 10_000)
        for n in 0..<20 {
            let k = RenderedPages.Key(project: ProjectName("p\(n)")!, format: .json, alias: false, gzip: false)
            _ = pages.rendered(k, now: 0) { (Array(repeating: UInt8(n), count: 2000), nil) }
        }
        #expect(pages.totalBytes <= 10_000 && pages.count == 4)
    }

    /// A rendering's body moved to an unlinked temp file (as PageCache does without `rendered/`).
    static func unlinkedSpill(_ made: RenderedPages.Rendered) -> RenderedPages.Rendered? {
        guard case .bytes(let body) = made.body else { return made }
        let path = "/tmp/wheelhouse-spill-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard let fd = try? Files.createNew(path) else { return nil }
        let draft = BodyDraft(temp: TempFile(fd: fd, path: path), bodyOffset: 0)
        draft.unlink()
        guard (try? draft.append(body)) != nil else { return nil }
        return RenderedPages.Rendered(body: draft.body, etag: made.etag, validUntil: made.validUntil)
    }

    @Test func pagesAskedForInTurnPastTheBudgetAreRenderedOnceEach() throws {
        // pip asking for 50 projects whose renderings together pass the budget: each is
        // rendered once (kept in a file), not again every time the byte budget cycles.
        var renders = 0
        let pages = RenderedPages(budgetBytes: 1 << 20) { key, made in Self.unlinkedSpill(made) }
        for _ in 0..<3 {
            for n in 0..<50 {
                let k = RenderedPages.Key(project: ProjectName("p\(n)")!, format: .json, alias: false, gzip: false)
                _ = pages.rendered(k, now: 0) {
                    renders += 1
                    return (Array(repeating: UInt8(n), count: 100_000), nil)
                }
            }
        }
        #expect(renders == 50 && pages.totalBytes == 0)
    }

    @Test func aBodyTooBigForMemoryIsKeptInAFileAndRenderedOnce() throws {
        var spills = 0
        let pages = RenderedPages(budgetBytes: 10_000, spilledLimit: 1) { key, made in
            spills += 1
            return Self.unlinkedSpill(made)
        }
        var renders = 0
        let big = { () -> (body: [UInt8], validUntil: Double?) in
            renders += 1
            return (Array(repeating: UInt8(ascii: "y"), count: 50_000), nil)
        }
        let plain = RenderedPages.Key(project: key.project, format: .json, alias: false, gzip: false)
        let first = pages.rendered(plain, now: 0, render: big)
        guard case .file(let fd, _, let length) = first.body else { Issue.record("not spilled"); return }
        let tail = try Files.read(fd, count: 10, at: 49_990)
        #expect(length == 50_000 && tail == Array(repeating: UInt8(ascii: "y"), count: 10))
        #expect(pages.rendered(plain, now: 1, render: big).etag == first.etag && renders == 1 && spills == 1)
        pages.invalidate(key.project)
        _ = pages.rendered(plain, now: 2, render: big)
        #expect(renders == 2)
    }
}
