import Glibc
import Reactor
import Testing
@testable import PyPICache

/// A big page saved a slice at a time: the bytes `encode` makes, and the old page stays
/// whole on disk until the new one is renamed into place.
@Suite struct PageSaveTests {
    @Test func slicesWriteTheBytesOfOneEncodeAndTheStoreAnswersFromTheSaveMeanwhile() throws {
        let store = try CacheStore(root: "/tmp/wheelhouse-save-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let name = ProjectName("big")!
        let old = PageStorageTests.bigPage("big", files: 10)
        try store.savePage(old, as: name)
        let page = PageStorageTests.bigPage("big", files: 12_345)
        let save = try store.startSavingPage(page, as: name)
        var steps = 0
        while !save.isDone {
            try save.step(maxFiles: 5_000)
            steps += 1
            // Meanwhile: the page being saved, never the old one, and no head (no body kept for it).
            #expect(store.loadPage(name) == page && store.storedPageHead(name) == nil && store.storedPageBytes(name) == nil)
        }
        #expect(steps == 3)
        try store.finishSavingPage(save)
        #expect(try Files.readAll(store.pagePath(name)) == PageCodec.encode(page))
        #expect(store.storedPageHead(name)?.contentTag == PageCodec.head(PageCodec.encode(page))?.contentTag)
        #expect(Files.list(store.root + "/tmp").isEmpty)
    }

    @Test func aNewerSaveOrARemovalDropsTheOneUnderWay() throws {
        let store = try CacheStore(root: "/tmp/wheelhouse-save-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let name = ProjectName("big")!
        let save = try store.startSavingPage(PageStorageTests.bigPage("big", files: 20_000), as: name)
        try save.step(maxFiles: 5_000)
        let newer = PageStorageTests.bigPage("big", files: 3)
        try store.savePage(newer, as: name)
        #expect(!store.isCurrent(save) && store.loadPage(name) == newer)
        while !save.isDone { try save.step(maxFiles: 50_000) }
        try store.finishSavingPage(save)  // too late: nothing happens
        #expect(store.loadPage(name) == newer && Files.list(store.root + "/tmp").isEmpty)
        let again = try store.startSavingPage(PageStorageTests.bigPage("big", files: 20_000), as: name)
        store.removePage(name)
        #expect(!store.isCurrent(again) && store.loadPage(name) == nil && Files.list(store.root + "/tmp").isEmpty)
    }
}
