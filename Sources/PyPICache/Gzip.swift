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
        let coding = WeightedList(header).items.first { $0.value == "gzip" || $0.value == "x-gzip" || $0.value == "*" }
        return (coding?.q ?? 0) > 0
    }
}

/// gzip of a body written in parts (a big page rendered a slice at a time). The
/// z_stream lives at a fixed address: zlib's state points back at it.
final class GzipStream {
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private var open = false

    init?(level: Int32) {
        stream.initialize(to: z_stream())
        guard czlib_deflate_init_gzip(stream, level) == Z_OK else { return nil }
        open = true
    }

    deinit {
        if open { deflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses `input`; returns the bytes deflate produced (the end of the stream
    /// when `finish`), nil on a zlib error.
    func compress(_ input: [UInt8], finish: Bool) -> [UInt8]? {
        guard open else { return nil }
        var input = input
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        let ok: Bool = input.withUnsafeMutableBytes { inBuf in
            stream.pointee.next_in = inBuf.bindMemory(to: Bytef.self).baseAddress
            stream.pointee.avail_in = uInt(inBuf.count)
            defer { stream.pointee.next_in = nil }
            while true {
                let (status, produced): (Int32, Int) = chunk.withUnsafeMutableBytes { outBuf in
                    stream.pointee.next_out = outBuf.bindMemory(to: Bytef.self).baseAddress
                    stream.pointee.avail_out = uInt(outBuf.count)
                    let status = deflate(stream, finish ? Z_FINISH : Z_NO_FLUSH)
                    return (status, outBuf.count - Int(stream.pointee.avail_out))
                }
                output.append(contentsOf: chunk[0..<produced])
                if status == Z_STREAM_END { return true }
                guard status == Z_OK || status == Z_BUF_ERROR else { return false }
                // Not finishing: done once all input is taken and deflate left room unused.
                if !finish && stream.pointee.avail_in == 0 && produced < chunk.count { return true }
            }
        }
        if finish { deflateEnd(stream); open = false }
        return ok ? output : nil
    }
}

/// A cheap name for a body's bytes (page ETags): zlib's CRC-32 and Adler-32 and the
/// length, 80 bits in all, in hex. Not for integrity against an adversary (files use sha256).
enum Checksum {
    static func tag(_ bytes: [UInt8]) -> String {
        var running = Running()
        running.add(bytes)
        return running.tag
    }

    /// The same name, taken over a body written in parts.
    struct Running {
        private var crc = crc32(0, nil, 0)
        private var adler = adler32(0, nil, 0)
        private var length = 0

        mutating func add(_ bytes: [UInt8]) {
            bytes.withUnsafeBufferPointer { buffer in
                let n = uInt(buffer.count)
                crc = crc32(crc, buffer.baseAddress, n)
                adler = adler32(adler, buffer.baseAddress, n)
            }
            length += bytes.count
        }

        var tag: String { Checksum.hex(UInt64(crc), 8) + Checksum.hex(UInt64(adler), 8) + String(length, radix: 16) }
    }

    private static func hex(_ v: UInt64, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
