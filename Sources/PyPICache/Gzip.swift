import CZlib
import Support

/// gzip for page bodies (never for package files: pip and uv ask for identity,
/// and a file's bytes must stay exactly the bytes its hash names).
enum Gzip {
    static func compress(_ input: [UInt8], level: Int32 = 6) -> [UInt8]? {
        var stream = z_stream()
        guard czlib_deflate_init_gzip(&stream, level) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        let capacity = Int(deflateBound(&stream, uLong(input.count))) + 32
        let (status, output) = Zlib.oneShot(&stream, input: input, capacity: capacity) { deflate(&$0, Z_FINISH) }
        return status == Z_STREAM_END ? output : nil
    }

    /// Whether an Accept-Encoding header accepts gzip (q > 0, by name or `*`).
    static func accepted(by header: String?) -> Bool {
        guard let header else { return false }
        let coding = WeightedList(header).items.first { ["gzip", "x-gzip", "*"].contains($0.value) }
        return (coding?.q ?? 0) > 0
    }
}

/// A cheap name for a body's bytes (page ETags): zlib's CRC-32 and Adler-32 and the
/// length, 80 bits in all, in hex. Not for integrity against an adversary (files use sha256).
enum Checksum {
    static func tag(_ bytes: [UInt8]) -> String {
        let (crc, adler) = bytes.withUnsafeBufferPointer { buffer -> (uLong, uLong) in
            let n = uInt(buffer.count)
            return (crc32(0, buffer.baseAddress, n), adler32(1, buffer.baseAddress, n))
        }
        return hex(UInt64(crc), 8) + hex(UInt64(adler), 8) + String(bytes.count, radix: 16)
    }

    private static func hex(_ v: UInt64, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
