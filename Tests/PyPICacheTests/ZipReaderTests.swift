import Foundation
import Testing
@testable import PyPICache

@Suite struct ZipReaderTests {
    func reader(_ base64: String) -> ZipReader {
        ZipReader(bytes: Array(Data(base64Encoded: base64)!))
    }

    @Test(arguments: [ZipFixtures.stored, ZipFixtures.deflated, ZipFixtures.zip64])
    func readsWheelMetadata(archive: String) throws {
        #expect(try reader(archive).wheelMetadata() == Array(ZipFixtures.metadata.utf8))
    }

    @Test func listsEntries() throws {
        let names = try reader(ZipFixtures.deflated).entries().map(\.name)
        #expect(names == ["demo/__init__.py", "demo-1.0.dist-info/METADATA", "demo-1.0.dist-info/RECORD"])
    }

    @Test(arguments: [
        (ZipFixtures.truncated, "no end of central directory"), (ZipFixtures.hostileOffsets, "out of bounds"), (ZipFixtures.badCRC, "CRC"),
    ])
    func brokenArchivesFailCleanly(archive: String, expected: String) {
        do {
            _ = try reader(archive).wheelMetadata()
            Issue.record("accepted a broken archive")
        } catch let failure as ZipReader.Failure {
            #expect(failure.description.contains(expected), "\(failure)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func garbageAndTinyInputsFailCleanly() {
        for bytes in [[UInt8](), [0x50, 0x4b], [UInt8](repeating: 0x50, count: 100), Array("PK\u{05}\u{06}".utf8) + [UInt8](repeating: 0xFF, count: 18)] {
            #expect(throws: ZipReader.Failure.self) { try ZipReader(bytes: bytes).wheelMetadata() }
        }
    }

    @Test func sizeLimitIsEnforced() throws {
        let r = reader(ZipFixtures.deflated)
        let entry = try #require(try r.entries().first { $0.name.hasSuffix("METADATA") })
        #expect(throws: ZipReader.Failure.self) { try r.contents(of: entry, limit: 10) }
    }

    @Test func everyTruncationOfAValidArchiveFailsCleanly() {
        let bytes = Array(Data(base64Encoded: ZipFixtures.deflated)!)
        for n in stride(from: 0, to: bytes.count, by: 7) {
            _ = try? ZipReader(bytes: Array(bytes.prefix(n))).wheelMetadata()  // must not crash
        }
    }
}
