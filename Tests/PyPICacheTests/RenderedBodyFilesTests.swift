import Glibc
import Reactor
import Support
import Testing
@testable import PyPICache

/// Rendered bodies kept on disk: served only for the state they were rendered from, never
/// torn, and dropped after anything but a clean stop.
@Suite struct RenderedBodyFilesTests {
    let key = RenderedPages.Key(project: ProjectName("Big_Pkg")!, format: .json, alias: false, gzip: true)
    let stamp = String(repeating: "a", count: 64)

    func freshStore() throws -> CacheStore {
        try CacheStore(root: "/tmp/wheelhouse-bodies-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    }

    func bodies(_ store: CacheStore) -> RenderedBodyFiles? {
        RenderedBodyFiles(dataDirectory: store.root, makeTemp: { try store.createTemp() }, logger: Logger(level: .error, fd: 2))
    }

    func contents(_ made: RenderedPages.Rendered) throws -> [UInt8] {
        guard case .file(let fd, let offset, let length) = made.body else { Issue.record("not a file body"); return [] }
        return try Files.read(fd, count: length, at: offset)
    }

    func publish(_ files: RenderedBodyFiles, _ body: [UInt8], validUntil: Double? = nil) throws {
        let draft = try files.draft()
        try draft.append(Array(body.prefix(10)))
        try draft.append(Array(body.dropFirst(10)))
        #expect(files.publish(draft, as: key, stamp: stamp, etag: "\"tag-gz\"", validUntil: validUntil))
    }

    @Test func aBodyIsServedOnlyForTheStateItWasRenderedFrom() throws {
        let store = try freshStore()
        let files = try #require(bodies(store))
        let body = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try publish(files, body, validUntil: 500)
        let made = try #require(files.open(key, stamp: stamp, now: 10))
        #expect(try contents(made) == body && made.etag == "\"tag-gz\"" && made.validUntil == 500)
        #expect(files.open(key, stamp: String(repeating: "b", count: 64), now: 10) == nil, "another state")
        #expect(files.open(key, stamp: stamp, now: 500) == nil, "past its cooldown moment")
        let other = RenderedPages.Key(project: key.project, format: .json, alias: false, gzip: false)
        #expect(files.open(other, stamp: stamp, now: 10) == nil, "another variant")
        #expect(Files.list(store.root + "/tmp").isEmpty, "published by rename, nothing left in tmp/")
    }

    @Test func aTornOrForeignFileReadsAsAbsent() throws {
        let store = try freshStore()
        let files = try #require(bodies(store))
        try publish(files, Array(repeating: 7, count: 5_000))
        // Cut short (as a full disk or a torn copy would leave it).
        #expect(truncate(files.path(key), off_t(RenderedBodyFiles.headerSize + 4_999)) == 0)
        #expect(files.open(key, stamp: stamp, now: 0) == nil)
        // Any header bytes at all: never a crash, never a body.
        let header = try #require(RenderedBodyFiles.header(stamp: stamp, etag: "\"e\"", validUntil: nil, length: 3))
        #expect(RenderedBodyFiles.parseHeader(header) == .init(stamp: stamp, etag: "\"e\"", validUntil: nil, length: 3))
        for i in 0..<RenderedBodyFiles.headerSize {
            var broken = header
            broken[i] ^= 0xFF
            if let parsed = RenderedBodyFiles.parseHeader(broken) { #expect(parsed != RenderedBodyFiles.parseHeader(header)) }
        }
        #expect(RenderedBodyFiles.parseHeader(Array(header.prefix(100))) == nil)
    }

    @Test func bodiesSurviveOnlyACleanStop() throws {
        let store = try freshStore()
        var files = try #require(bodies(store))
        try publish(files, Array(repeating: 1, count: 1_000))
        files.markCleanStop()
        files = try #require(bodies(store))  // a restart after a clean stop
        #expect(files.open(key, stamp: stamp, now: 0) != nil)
        // This server is killed (no marker): the next start drops everything.
        files = try #require(bodies(store))
        #expect(files.open(key, stamp: stamp, now: 0) == nil)
        #expect(Files.list(files.directory).isEmpty)
        // gc or purge after a clean stop: dropped too.
        try publish(files, Array(repeating: 1, count: 1_000))
        files.markCleanStop()
        store.forgetRenderedBodies()
        files = try #require(bodies(store))
        #expect(files.open(key, stamp: stamp, now: 0) == nil)
    }

    @Test func removingAProjectDeletesEveryVariant() throws {
        let store = try freshStore()
        let files = try #require(bodies(store))
        try publish(files, Array(repeating: 1, count: 1_000))
        files.remove(ProjectName("big-pkg")!)
        #expect(files.open(key, stamp: stamp, now: 0) == nil && Files.list(files.directory).isEmpty)
    }

    @Test func aDraftDroppedUnpublishedLeavesNothingBehind() throws {
        let store = try freshStore()
        let files = try #require(bodies(store))
        do {
            let draft = try files.draft()
            try draft.append([1, 2, 3])
        }
        #expect(Files.list(store.root + "/tmp").isEmpty)
        // Unlinked, a draft's bytes live on in its descriptor.
        let draft = try files.draft()
        try draft.append([1, 2, 3])
        draft.unlink()
        #expect(Files.list(store.root + "/tmp").isEmpty)
        #expect(try Files.read(draft.fd, count: 3, at: draft.bodyOffset) == [1, 2, 3])
    }

    @Test func aPagesContentTagIgnoresItsDateAndIsReadFromItsHeadAlone() throws {
        var page = PageStorageTests.bigPage("demo", files: 50)
        let first = PageCodec.encode(page)
        page.fetchedAt += 3600  // a 304: same content, new date
        let renewed = PageCodec.encode(page)
        let head = try #require(PageCodec.head(Array(first.prefix(PageCodec.headSize))))
        let renewedHead = try #require(PageCodec.head(renewed))
        #expect(head.contentTag != nil && head.contentTag == renewedHead.contentTag && renewedHead.fetchedAt == page.fetchedAt)
        page.files[7].size = 12345
        #expect(PageCodec.head(PageCodec.encode(page))?.contentTag != head.contentTag)
        // The form of earlier versions (no tag) is still read; it has no tag.
        let old = PageCodec.magicWithoutTag + first[PageCodec.magic.count..<(PageCodec.magic.count + 8)] + first[PageCodec.headSize...]
        #expect(PageCodec.decode(Array(old)) == PageCodec.decode(first))
        #expect(PageCodec.head(Array(old))?.contentTag == nil)
    }
}

