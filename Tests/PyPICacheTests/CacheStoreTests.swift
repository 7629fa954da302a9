import Glibc
import Reactor
import Testing
@testable import PyPICache

@Suite struct CacheStoreTests {
    func freshRoot() -> String {
        "/tmp/wheelhouse-store-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    @Test func tempFilesAreCommittedAtomicallyAndFoundByScan() throws {
        let store = try CacheStore(root: freshRoot())
        let key = FileKey(sha256: String(repeating: "d", count: 64), filename: "x-1.0.tar.gz")!
        let temp = try store.createTemp()
        try Array("payload".utf8).withUnsafeBytes { try Files.writeAll(temp.fd, $0) }
        #expect(store.scanFiles().isEmpty, "a temp file is not a cached file")
        try store.commit(temp, as: key)
        #expect(store.scanFiles() == [key: 7])
        let (fd, size) = try #require(store.openIfPresent(key))
        #expect(size == 7 && fd.isOpen)
    }

    @Test func startupRemovesLeftoverTempFiles() throws {
        let root = freshRoot()
        let store = try CacheStore(root: root)
        _ = try store.createTemp()
        _ = try store.createTemp()
        #expect(Files.list(root + "/tmp").count == 2)
        _ = try CacheStore(root: root)
        #expect(Files.list(root + "/tmp").isEmpty)
    }

    @Test func scanIgnoresStrayEntries() throws {
        let root = freshRoot()
        let store = try CacheStore(root: root)
        try Files.makeDirectories(root + "/files/zzz/0123456789abc")
        try Files.makeDirectories(root + "/files/abc/0123456789abc")
        _ = try Files.open(root + "/files/zzz/0123456789abc/a.whl", flags: O_CREAT | O_WRONLY)
        _ = try Files.open(root + "/files/abc/0123456789abc/.hidden", flags: O_CREAT | O_WRONLY)
        _ = try Files.open(root + "/files/abc/0123456789abc/ok.whl", flags: O_CREAT | O_WRONLY)
        #expect(store.scanFiles().keys.map(\.filename) == ["ok.whl"])
    }

    @Test func pagesRoundTrip() throws {
        let store = try CacheStore(root: freshRoot())
        let name = ProjectName("Demo_Pkg")!
        let page = ProjectPage(name: name.normalized, files: [DistributionFile(filename: "a.whl", url: "https://x/a.whl")],
                               versions: ["1"], etag: "\"e\"", fetchedAt: 42)
        try store.savePage(page, as: name)
        #expect(store.loadPage(name) == page)
        #expect(store.storedPageNames() == [name])
        #expect(store.loadPage(ProjectName("other")!) == nil)
    }

    @Test func indexRemembersKnownFilesFromPages() {
        let index = CacheIndex(cachedFiles: [:], storedPages: [])
        let file = DistributionFile(filename: "a-1.0.tar.gz", url: "https://x/a-1.0.tar.gz", sha256: String(repeating: "e", count: 64))
        index.remember(ProjectPage(name: "a", files: [file]), as: ProjectName("a")!)
        #expect(index.known(file.key!)?.file == file)
        #expect(index.projectNames == [ProjectName("a")!])
    }
}
