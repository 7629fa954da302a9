import Foundation
import Testing
@testable import PyPICache

/// METADATA read by ranges (RemoteZip): the steps a RangedMetadataFetch takes, with the
/// archive's bytes standing in for upstream's ranged answers.
@Suite struct RemoteZipTests {
    struct Run {
        var metadata: [UInt8]
        var fetches: [(first: Int, last: Int)]
        var bytesFetched: Int
    }

    /// Reads METADATA the way a fetch does: the tail first, then what `nextStep` asks for.
    func read(_ archive: [UInt8], initialTail: Int, maxSteps: Int = 10) throws -> Run {
        var zip = RemoteZip(size: archive.count)
        let tailStart = max(0, archive.count - initialTail)
        zip.add(Array(archive[tailStart...]), at: tailStart)
        var run = Run(metadata: [], fetches: [], bytesFetched: archive.count - tailStart)
        for _ in 0..<maxSteps {
            switch try zip.nextStep() {
            case .metadata(let bytes):
                run.metadata = bytes
                return run
            case .fetch(let first, let last):
                #expect(first >= 0 && first <= last && last < archive.count)
                #expect(!zip.holds(first, 1) && !zip.holds(last, 1), "asks only for bytes not held")
                run.fetches.append((first, last))
                run.bytesFetched += last - first + 1
                zip.add(Array(archive[first...last]), at: first)
            }
        }
        Issue.record("no METADATA within \(maxSteps) steps")
        return run
    }

    func bytes(_ base64: String) -> [UInt8] { Array(Data(base64Encoded: base64)!) }
    var expected: [UInt8] { Array(ZipFixtures.metadata.utf8) }

    @Test(arguments: [ZipFixtures.stored, ZipFixtures.deflated, ZipFixtures.zip64])
    func oneTailReadHoldsASmallWheel(archive: String) throws {
        let run = try read(bytes(archive), initialTail: 16 << 10)
        #expect(run.metadata == expected)
        #expect(run.fetches.isEmpty)
    }

    /// The first read ends inside the end-of-central-directory record (22 bytes).
    @Test(arguments: [ZipFixtures.stored, ZipFixtures.deflated, ZipFixtures.zip64])
    func endRecordSplitAcrossTheTail(archive: String) throws {
        let run = try read(bytes(archive), initialTail: 10)
        #expect(run.metadata == expected)
        #expect(run.fetches.count >= 1)
    }

    /// The tail holds the end record but not the whole central directory (300 entries), and
    /// METADATA sits at the start, behind 300 kB of other members that are never read.
    @Test func centralDirectoryBeyondTheFirstTail() throws {
        var members = [("demo-1.0.dist-info/METADATA", expected)]
        for i in 0..<300 { members.append(("demo/module_\(i).py", Array(repeating: UInt8(ascii: "x"), count: 1000))) }
        let archive = StoredZip.make(members)
        let run = try read(archive, initialTail: 2048)
        #expect(run.metadata == expected)
        #expect(run.fetches.count == 2, "the rest of the central directory, then the member")
        #expect(run.bytesFetched < archive.count / 10, "\(run.bytesFetched) of \(archive.count) bytes")
    }

    /// Zip64: the locator and the zip64 record sit before the plain end record.
    @Test func zip64RecordBeforeTheTail() throws {
        let run = try read(bytes(ZipFixtures.zip64), initialTail: 22)
        #expect(run.metadata == expected)
    }

    /// Stored and deflated members both come out whole; every split of the tail works.
    @Test(arguments: [ZipFixtures.stored, ZipFixtures.deflated, ZipFixtures.zip64])
    func everyInitialTailLengthWorks(archive: String) throws {
        let data = bytes(archive)
        for tail in 1...data.count {
            let run = try read(data, initialTail: tail)
            #expect(run.metadata == expected, "tail \(tail)")
            #expect(run.fetches.count <= 4, "tail \(tail): \(run.fetches.count) round trips")
            #expect(run.bytesFetched <= data.count + RemoteZip.memberSlack, "tail \(tail)")
        }
    }

    @Test(arguments: [ZipFixtures.truncated, ZipFixtures.hostileOffsets, ZipFixtures.badCRC])
    func malformedArchivesFailCleanly(archive: String) {
        #expect(throws: ZipReader.Failure.self) { _ = try read(bytes(archive), initialTail: 16 << 10) }
    }

    @Test func garbageFailsCleanly() {
        let garbage = [UInt8](repeating: 0x50, count: 5000)
        #expect(throws: ZipReader.Failure.self) { _ = try read(garbage, initialTail: 100) }
    }

    @Test func addMergesOverlappingAndTouchingRuns() throws {
        var zip = RemoteZip(size: 100)
        zip.add(Array(repeating: 1, count: 10), at: 50)
        zip.add(Array(repeating: 2, count: 10), at: 70)
        #expect(zip.runs.count == 2)
        #expect(throws: RemoteZip.Missing.self) { _ = try zip.read(55, 20) }
        zip.add(Array(repeating: 3, count: 10), at: 60)  // touches both
        #expect(zip.runs.count == 1)
        #expect(try zip.read(50, 30) == Array(repeating: 1, count: 10) + Array(repeating: 3, count: 10) + Array(repeating: 2, count: 10))
        zip.add(Array(repeating: 4, count: 60), at: 90)  // clipped to the archive's size
        #expect(zip.heldBytes == 40)
        #expect(try zip.read(95, 10).count == 5)
    }

    @Test(arguments: [
        ("bytes 900-999/1000", RangeRequest.Wanted.suffix(100), true),
        ("bytes 0-999/1000", .suffix(5000), true),
        ("bytes 0-99/1000", .suffix(100), false),
        ("bytes 10-19/1000", .span(10, 19), true),
        ("bytes 10-19/15", .span(10, 19), false),
        ("bytes 10-14/15", .span(10, 19), true),
        ("bytes 11-19/1000", .span(10, 19), false),
        ("bytes */1000", .span(10, 19), false),
        ("items 10-19/1000", .span(10, 19), false),
    ] as [(String, RangeRequest.Wanted, Bool)])
    func contentRangeMustMatchTheRequest(header: String, wanted: RangeRequest.Wanted, valid: Bool) {
        #expect((RangeRequest.parseContentRange(header, wanted: wanted) != nil) == valid)
    }
}

/// A minimal zip writer (stored members only) for archives larger than the fixtures.
enum StoredZip {
    static func make(_ members: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [], directory: [UInt8] = []
        func le(_ value: Int, _ bytes: Int, into buffer: inout [UInt8]) {
            for i in 0..<bytes { buffer.append(UInt8((value >> (8 * i)) & 0xFF)) }
        }
        for (name, data) in members {
            let offset = out.count, crc = Int(crc32(data)), nameBytes = Array(name.utf8)
            le(0x0403_4b50, 4, into: &out); le(20, 2, into: &out); le(0, 2, into: &out); le(0, 2, into: &out)
            le(0, 4, into: &out); le(crc, 4, into: &out); le(data.count, 4, into: &out); le(data.count, 4, into: &out)
            le(nameBytes.count, 2, into: &out); le(0, 2, into: &out)
            out += nameBytes + data
            le(0x0201_4b50, 4, into: &directory); le(20, 2, into: &directory); le(20, 2, into: &directory)
            le(0, 2, into: &directory); le(0, 2, into: &directory); le(0, 4, into: &directory); le(crc, 4, into: &directory)
            le(data.count, 4, into: &directory); le(data.count, 4, into: &directory); le(nameBytes.count, 2, into: &directory)
            le(0, 2, into: &directory); le(0, 2, into: &directory); le(0, 2, into: &directory); le(0, 2, into: &directory)
            le(0, 4, into: &directory); le(offset, 4, into: &directory)
            directory += nameBytes
        }
        let directoryOffset = out.count
        out += directory
        le(0x0605_4b50, 4, into: &out); le(0, 2, into: &out); le(0, 2, into: &out)
        le(members.count, 2, into: &out); le(members.count, 2, into: &out)
        le(directory.count, 4, into: &out); le(directoryOffset, 4, into: &out); le(0, 2, into: &out)
        return out
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
