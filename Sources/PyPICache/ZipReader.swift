import CZlib

/// Reads single members of a zip archive (a wheel), the way a zip tool would:
/// end-of-central-directory record (or its zip64 form), central directory,
/// local header, then the data, stored or raw-deflated. Everything is bounds
/// checked: a truncated or hostile archive is a `ZipReader.Failure`, never a
/// crash or an unbounded allocation.
public struct ZipReader {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public struct Entry: Equatable {
        public let name: String
        public let method: UInt16
        public let crc32: UInt32
        public let compressedSize: Int
        public let uncompressedSize: Int
        public let localHeaderOffset: Int
    }

    public let size: Int
    private let read: (_ offset: Int, _ count: Int) throws -> [UInt8]

    static let maxCentralDirectoryBytes = 64 << 20
    static let maxEntries = 1_000_000

    /// `read` returns up to `count` bytes at `offset`.
    public init(size: Int, read: @escaping (_ offset: Int, _ count: Int) throws -> [UInt8]) {
        self.size = size
        self.read = read
    }

    public init(bytes: [UInt8]) {
        self.init(size: bytes.count) { offset, count in
            Array(bytes[min(offset, bytes.count)..<min(offset + count, bytes.count)])
        }
    }

    // MARK: - Central directory

    public func entries() throws -> [Entry] {
        let (count, cdOffset, cdSize) = try endOfCentralDirectory()
        guard cdSize <= ZipReader.maxCentralDirectoryBytes, count <= ZipReader.maxEntries,
              cdOffset >= 0, cdOffset + cdSize <= size else { throw Failure("central directory out of bounds") }
        let cd = try exact(cdOffset, cdSize)
        var entries: [Entry] = []
        var p = 0
        for _ in 0..<count {
            guard p + 46 <= cd.count, le32(cd, p) == 0x0201_4b50 else { throw Failure("bad central directory entry") }
            let nameLength = Int(le16(cd, p + 28)), extraLength = Int(le16(cd, p + 30)), commentLength = Int(le16(cd, p + 32))
            guard p + 46 + nameLength + extraLength + commentLength <= cd.count else { throw Failure("central directory entry overruns") }
            var compressed = Int(le32(cd, p + 20)), uncompressed = Int(le32(cd, p + 24)), offset = Int(le32(cd, p + 42))
            // Zip64: the real values are in extra field 0x0001, in this order, only for fields at 0xFFFFFFFF.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = le16(cd, e), length = Int(le16(cd, e + 2))
                guard e + 4 + length <= extraEnd else { break }
                if id == 0x0001 {
                    var q = e + 4
                    let fieldEnd = e + 4 + length
                    func next() throws -> Int {
                        guard q + 8 <= fieldEnd else { throw Failure("short zip64 extra field") }
                        let value = le64(cd, q)
                        q += 8
                        guard value < UInt64(Int32.max) else { throw Failure("zip64 value out of range") }
                        return Int(value)
                    }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if offset == 0xFFFF_FFFF { offset = try next() }
                }
                e += 4 + length
            }
            let name = String(decoding: cd[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self)
            entries.append(Entry(name: name, method: le16(cd, p + 10), crc32: le32(cd, p + 16),
                                 compressedSize: compressed, uncompressedSize: uncompressed, localHeaderOffset: offset))
            p += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    /// (entry count, central directory offset, central directory size).
    private func endOfCentralDirectory() throws -> (Int, Int, Int) {
        guard size >= 22 else { throw Failure("too short to be a zip archive") }
        // A short tail first: wheels rarely carry an archive comment, and over ranged reads
        // (RemoteZip) the full 64 KiB would cost a round trip and bytes for nothing. Both
        // tails end at the end of the file, so the backward search finds the same record.
        var found: (tail: [UInt8], tailLength: Int, at: Int)?
        for tailLength in Set([min(size, 22 + 1024), min(size, 22 + 0xFFFF)]).sorted() {
            let tail = try exact(size - tailLength, tailLength)
            if let at = stride(from: tail.count - 22, through: 0, by: -1).first(where: { le32(tail, $0) == 0x0605_4b50 }) {
                found = (tail, tailLength, at)
                break
            }
        }
        guard let (tail, tailLength, at) = found else { throw Failure("no end of central directory record") }
        var count = Int(le16(tail, at + 10)), cdSize = Int(le32(tail, at + 12)), cdOffset = Int(le32(tail, at + 16))
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            // Zip64: a locator sits just before the record and points at the zip64 record.
            let locatorAt = size - tailLength + at - 20
            guard locatorAt >= 0 else { throw Failure("missing zip64 locator") }
            let locator = try exact(locatorAt, 20)
            guard le32(locator, 0) == 0x0706_4b50 else { throw Failure("missing zip64 locator") }
            let recordAt = le64(locator, 8)
            guard recordAt < UInt64(size), Int(recordAt) + 56 <= size else { throw Failure("zip64 record out of bounds") }
            let record = try exact(Int(recordAt), 56)
            guard le32(record, 0) == 0x0606_4b50 else { throw Failure("bad zip64 end of central directory record") }
            let values = [le64(record, 32), le64(record, 40), le64(record, 48)]
            guard values.allSatisfy({ $0 < UInt64(Int32.max) }) else { throw Failure("zip64 values out of range") }
            (count, cdSize, cdOffset) = (Int(values[0]), Int(values[1]), Int(values[2]))
        }
        return (count, cdOffset, cdSize)
    }

    // MARK: - Member data

    /// The uncompressed bytes of `entry`, at most `limit` of them, checked against its CRC-32.
    public func contents(of entry: Entry, limit: Int) throws -> [UInt8] {
        guard entry.uncompressedSize <= limit, entry.compressedSize <= max(limit, 1 << 20) else {
            throw Failure("\(entry.name) is larger than \(limit) bytes")
        }
        guard entry.localHeaderOffset >= 0, entry.localHeaderOffset + 30 <= size else { throw Failure("local header out of bounds") }
        let header = try exact(entry.localHeaderOffset, 30)
        guard le32(header, 0) == 0x0403_4b50 else { throw Failure("bad local header for \(entry.name)") }
        let dataAt = entry.localHeaderOffset + 30 + Int(le16(header, 26)) + Int(le16(header, 28))
        guard dataAt + entry.compressedSize <= size else { throw Failure("\(entry.name) data out of bounds") }
        let compressed = try exact(dataAt, entry.compressedSize)
        let data: [UInt8]
        switch entry.method {
        case 0:
            data = compressed
        case 8:
            data = try ZipReader.inflateRaw(compressed, expectedSize: entry.uncompressedSize)
        default:
            throw Failure("unsupported compression method \(entry.method) for \(entry.name)")
        }
        guard data.count == entry.uncompressedSize else { throw Failure("\(entry.name): size mismatch") }
        let crc = data.withUnsafeBytes { UInt32(crc32(0, $0.bindMemory(to: Bytef.self).baseAddress, uInt($0.count))) }
        guard crc == entry.crc32 else { throw Failure("\(entry.name): CRC-32 mismatch") }
        return data
    }

    static func inflateRaw(_ input: [UInt8], expectedSize: Int) throws -> [UInt8] {
        var stream = z_stream()
        guard czlib_inflate_init_raw(&stream) == Z_OK else { throw Failure("inflateInit failed") }
        defer { inflateEnd(&stream) }
        // One spare byte so that data longer than declared is caught rather than cut.
        let (status, output) = Zlib.oneShot(&stream, input: input, capacity: expectedSize + 1) { inflate(&$0, Z_FINISH) }
        guard status == Z_STREAM_END else { throw Failure("corrupt deflate data (zlib status \(status))") }
        return output
    }

    // MARK: - Helpers

    private func exact(_ offset: Int, _ count: Int) throws -> [UInt8] {
        let bytes = try read(offset, count)
        guard bytes.count == count else { throw Failure("archive truncated") }
        return bytes
    }
}

private func le16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
private func le32(_ b: [UInt8], _ i: Int) -> UInt32 { UInt32(le16(b, i)) | UInt32(le16(b, i + 2)) << 16 }
private func le64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(le32(b, i)) | UInt64(le32(b, i + 4)) << 32 }

extension ZipReader {
    /// A wheel's core metadata: the one top-level `<name>-<version>.dist-info/METADATA`.
    public func wheelMetadata(limit: Int = 16 << 20) throws -> [UInt8] {
        try contents(of: wheelMetadataEntry(), limit: limit)
    }

    /// The central directory entry of the wheel's one `*.dist-info/METADATA`.
    public func wheelMetadataEntry() throws -> Entry {
        let candidates = try entries().filter { entry in
            let parts = entry.name.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 2 && parts[0].hasSuffix(".dist-info") && parts[1] == "METADATA"
        }
        guard candidates.count == 1, let entry = candidates.first else {
            throw Failure(candidates.isEmpty ? "no .dist-info/METADATA in wheel" : "several .dist-info directories in wheel")
        }
        return entry
    }
}
