import CZlib
import Reactor

/// Reads a `.tar.gz` as it streams past, keeping only a few small top-level
/// members (an sdist's `PKG-INFO`, `pyproject.toml`, `setup.cfg`) and noting which
/// others exist (`setup.py`). Memory stays bounded whatever the archive's size:
/// one inflate window, one tar header, the members kept (each capped).
/// gzip framing is read here (RFC 1952 header) and the deflate body goes through
/// zlib's raw inflate, which the CZlib shim already wraps for zip files.
public final class TarGzScanner {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Members wanted, by their name under the archive's top directory.
    let wanted: Set<String>
    static let memberLimit = 1 << 20
    /// Kept members by name under the top directory (`pyproject.toml`), and every
    /// top-level name seen.
    public private(set) var members: [String: [UInt8]] = [:]
    public private(set) var seen: Set<String> = []

    private enum Phase { case gzipHeader, inflating, finished, failed(String) }
    private var phase = Phase.gzipHeader
    private var headerBytes: [UInt8] = []
    private var stream = z_stream()
    private var streamReady = false
    private var tar = TarReader()

    public init(wanted: Set<String> = SdistDetails.wantedMembers) {
        self.wanted = wanted
    }

    deinit { if streamReady { inflateEnd(&stream) } }

    public func feed(_ data: UnsafeRawBufferPointer) {
        guard !data.isEmpty else { return }
        switch phase {
        case .gzipHeader:
            headerBytes += data
            guard let length = TarGzScanner.gzipHeaderLength(headerBytes) else {
                if headerBytes.count > 65_536 { phase = .failed("gzip header too long") }
                return
            }
            if length < 0 { phase = .failed("not a gzip file"); return }
            guard czlib_inflate_init_raw(&stream) == Z_OK else { phase = .failed("inflateInit failed"); return }
            streamReady = true
            phase = .inflating
            let rest = Array(headerBytes[length...])
            headerBytes = []
            rest.withUnsafeBytes { inflate($0) }
        case .inflating:
            inflate(data)
        case .finished, .failed:
            return  // trailer, or a second gzip member: the tar stream has ended
        }
    }

    public func feed(_ bytes: [UInt8]) { bytes.withUnsafeBytes { feed($0) } }

    /// After the last byte: the kept members, or why the archive could not be read.
    public func finish() throws -> [String: [UInt8]] {
        switch phase {
        case .failed(let why): throw Failure(description: why)
        case .gzipHeader: throw Failure(description: "empty or truncated gzip file")
        case .inflating where !tar.ended: throw Failure(description: "truncated archive")
        default: return members
        }
    }

    private func inflate(_ input: UnsafeRawBufferPointer) {
        var output = [UInt8](repeating: 0, count: 65_536)
        stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
        stream.avail_in = uInt(input.count)
        while true {
            let (status, produced): (Int32, Int) = output.withUnsafeMutableBytes { out in
                stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(out.count)
                let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                return (status, out.count - Int(stream.avail_out))
            }
            if produced > 0 { consume(output[0..<produced]) }
            if case .failed = phase { return }
            if status == Z_STREAM_END { phase = .finished; return }
            if status == Z_BUF_ERROR && stream.avail_in == 0 { return }  // needs more input
            guard status == Z_OK else { phase = .failed("corrupt gzip data (zlib status \(status))"); return }
            if stream.avail_in == 0 && stream.avail_out != 0 { return }
        }
    }

    private func consume(_ bytes: ArraySlice<UInt8>) {
        guard !tar.ended else { return }
        do {
            try tar.feed(bytes) { name, content in
                let parts = name.split(separator: "/", omittingEmptySubsequences: true)
                guard parts.count == 2 else { return false }
                let inner = String(parts[1])
                guard let content else {
                    seen.insert(inner)
                    return wanted.contains(inner)
                }
                if content.count <= TarGzScanner.memberLimit { members[inner] = content }
                return false
            }
        } catch {
            phase = .failed("\(error)")
        }
    }

    /// Length of a gzip header at the start of `b`; nil when more bytes are needed, -1 when it is not gzip.
    static func gzipHeaderLength(_ b: [UInt8]) -> Int? {
        guard b.count >= 10 else { return b.count >= 2 && (b[0] != 0x1F || b[1] != 0x8B) ? -1 : nil }
        guard b[0] == 0x1F, b[1] == 0x8B, b[2] == 8 else { return -1 }
        let flags = b[3]
        var p = 10
        if flags & 0x04 != 0 {  // FEXTRA
            guard b.count >= p + 2 else { return nil }
            p += 2 + Int(b[p]) | Int(b[p + 1]) << 8
        }
        for flag: UInt8 in [0x08, 0x10] where flags & flag != 0 {  // FNAME, FCOMMENT: zero-terminated
            guard p < b.count, let zero = b[p...].firstIndex(of: 0) else { return nil }
            p = zero + 1
        }
        if flags & 0x02 != 0 { p += 2 }  // FHCRC
        return b.count >= p ? p : nil
    }
}

/// A streaming tar (ustar, pax, GNU long names) reader: headers and contents in
/// 512-byte blocks. `visit(name, nil)` asks whether to keep a member;
/// `visit(name, bytes)` hands over a kept member's contents.
struct TarReader {
    private var block: [UInt8] = []
    private var remaining = 0   // content bytes of the current member still to come
    private var padding = 0
    private var keeping: [UInt8]?
    private var currentName = ""
    private var currentType: UInt8 = 0
    private var nextName: String?
    private var zeroBlocks = 0
    private(set) var ended = false
    static let metaLimit = 1 << 20

    mutating func feed(_ bytes: ArraySlice<UInt8>, visit: (String, [UInt8]?) -> Bool) throws {
        var input = bytes
        while !input.isEmpty && !ended {
            if remaining > 0 {
                let n = min(remaining, input.count)
                keeping?.append(contentsOf: input.prefix(n))
                input = input.dropFirst(n)
                remaining -= n
                if remaining == 0 { memberDone(visit) }
                continue
            }
            if padding > 0 {
                let n = min(padding, input.count)
                input = input.dropFirst(n)
                padding -= n
                continue
            }
            let n = min(512 - block.count, input.count)
            block += input.prefix(n)
            input = input.dropFirst(n)
            if block.count == 512 {
                try header(visit)
                block = []
            }
        }
    }

    private mutating func header(_ visit: (String, [UInt8]?) -> Bool) throws {
        if block.allSatisfy({ $0 == 0 }) {
            zeroBlocks += 1
            if zeroBlocks == 2 { ended = true }
            return
        }
        zeroBlocks = 0
        var sum = 0
        for (i, b) in block.enumerated() { sum += (148..<156).contains(i) ? 32 : Int(b) }
        guard let stored = TarReader.octal(block[148..<156]), stored == sum else { throw TarGzScanner.Failure(description: "bad tar header checksum") }
        guard let size = TarReader.size(block[124..<136]), size >= 0 else { throw TarGzScanner.Failure(description: "bad tar member size") }
        currentType = block[156]
        var name = TarReader.string(block[0..<100])
        if block[257..<262].elementsEqual("ustar".utf8) {
            let prefix = TarReader.string(block[345..<500])
            if !prefix.isEmpty { name = prefix + "/" + name }
        }
        currentName = nextName ?? name
        nextName = nil
        remaining = size
        padding = (512 - size % 512) % 512
        switch currentType {
        case UInt8(ascii: "x"), UInt8(ascii: "L"):  // pax extended header / GNU long name: about the next member
            guard size <= TarReader.metaLimit else { throw TarGzScanner.Failure(description: "tar extended header too large") }
            keeping = []
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
            keeping = visit(currentName, nil) ? [] : nil
        default:
            _ = visit(currentName, nil)
            keeping = nil
        }
        if remaining == 0 { memberDone(visit) }
    }

    private mutating func memberDone(_ visit: (String, [UInt8]?) -> Bool) {
        guard let content = keeping else { return }
        keeping = nil
        switch currentType {
        case UInt8(ascii: "L"):
            nextName = TarReader.string(content[...])
        case UInt8(ascii: "x"):
            // Records: "<length> <key>=<value>\n".
            for record in content.split(separator: UInt8(ascii: "\n")) {
                guard let space = record.firstIndex(of: UInt8(ascii: " ")) else { continue }
                let kv = record[(space + 1)...]
                if kv.starts(with: "path=".utf8) { nextName = String(decoding: kv.dropFirst(5), as: UTF8.self) }
            }
        default:
            _ = visit(currentName, content)
        }
    }

    static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    static func octal(_ bytes: ArraySlice<UInt8>) -> Int? {
        let text = string(bytes).trimmingCharacters(in: " ")
        return text.isEmpty ? 0 : Int(text, radix: 8)
    }

    /// Octal, or GNU base-256 (high bit set) for members of 8 GiB and more.
    static func size(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard let first = bytes.first, first & 0x80 != 0 else { return octal(bytes) }
        var value = Int(first & 0x7F)
        for b in bytes.dropFirst() {
            guard value < Int.max >> 9 else { return nil }
            value = value << 8 | Int(b)
        }
        return value
    }
}
