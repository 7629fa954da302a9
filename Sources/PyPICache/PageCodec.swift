import CZlib

/// How a `ProjectPage` is kept on disk (`pages/<project>.page`): a compact binary
/// form written and read by hand, because a general JSON decoder took 0.1-0.45 s
/// for a big page after a restart. Strings are length-prefixed, so reading one is a
/// bounds check and a copy; nothing is escaped or searched for.
///
///     "WHPG2\n"                     magic and version
///     fetchedAt                     8 bytes, little-endian IEEE 754 bits
///     content tag                   16 bytes: crc32, adler32 (4 each), length (8) of
///                                   everything after the tag, little-endian
///     name, etag?, lastModified?    strings
///     versions?                     count + 1 (0: none given), then strings
///     file count, then per file:    filename, url, sha256?, requiresPython?, yanked?,
///                                   size?, uploadTime?, coreMetadata?
///
/// Numbers are LEB128 varints; a string is its UTF-8 length then its bytes; an
/// optional string or number is stored as length + 1 (value + 1), 0 meaning nil.
/// Anything malformed (truncated, wrong magic, impossible lengths) reads as nil:
/// the page is then treated as not stored and fetched again.
///
/// The content tag names what the page lists, whatever its date: a 304 rewrites the page
/// with a new `fetchedAt` and the same tag. Rendered bodies kept on disk carry the tag of
/// the page they were rendered from (`RenderedBodyFiles`), and `head` reads it (and the
/// date) from the first bytes alone, without decoding the page. Pages written by earlier
/// versions ("WHPG1", no tag) are still read; they have no tag until saved again.
enum PageCodec {
    static let magic: [UInt8] = Array("WHPG2\n".utf8)
    static let magicWithoutTag: [UInt8] = Array("WHPG1\n".utf8)
    /// Bytes before the name: magic, date, content tag.
    static let headSize = 6 + 8 + 16

    /// The date and content tag at the start of a stored page (nil tag: an earlier form).
    struct Head: Equatable {
        let fetchedAt: Double
        let contentTag: [UInt8]?
    }

    /// Reads only the head of stored page bytes (`headSize` are enough); nil: not a page.
    static func head(_ bytes: [UInt8]) -> Head? {
        guard bytes.count >= magic.count + 8 else { return nil }
        let tagged = bytes.starts(with: magic)
        guard tagged || bytes.starts(with: magicWithoutTag) else { return nil }
        var bits: UInt64 = 0
        for i in 0..<8 { bits |= UInt64(bytes[magic.count + i]) << (8 * UInt64(i)) }
        guard tagged else { return Head(fetchedAt: Double(bitPattern: bits), contentTag: nil) }
        guard bytes.count >= headSize else { return nil }
        return Head(fetchedAt: Double(bitPattern: bits), contentTag: Array(bytes[(magic.count + 8)..<headSize]))
    }

    static func encode(_ page: ProjectPage) -> [UInt8] {
        var encoder = Encoder()
        var out = encoder.begin(page)
        out.reserveCapacity(out.count + page.files.count * 320)
        out += encoder.files(page, 0..<page.files.count)
        out.replaceSubrange((headSize - 16)..<headSize, with: encoder.contentTag)
        return out
    }

    /// Writes a page in parts (a big one a slice of files at a time, `PageSave`): `begin`,
    /// then `files` for consecutive ranges, then `contentTag` goes into the head's last 16
    /// bytes (zeros until then). The parts joined are `encode`'s bytes.
    struct Encoder {
        private var crc = crc32(0, nil, 0)
        private var adler = adler32(0, nil, 0)
        private var length = 0

        /// The head (its tag still zeros) up to the file count.
        mutating func begin(_ page: ProjectPage) -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(256 + (page.versions?.count ?? 0) * 8)
            out += PageCodec.magic
            PageCodec.putFixed(page.fetchedAt.bitPattern, bytes: 8, into: &out)
            out += [UInt8](repeating: 0, count: 16)  // the content tag, once the rest is written
            PageCodec.putString(page.name, into: &out)
            PageCodec.putOptional(page.etag, into: &out)
            PageCodec.putOptional(page.lastModified, into: &out)
            if let versions = page.versions {
                PageCodec.putNumber(UInt64(versions.count) + 1, into: &out)
                for v in versions { PageCodec.putString(v, into: &out) }
            } else {
                PageCodec.putNumber(0, into: &out)
            }
            PageCodec.putNumber(UInt64(page.files.count), into: &out)
            add(out[PageCodec.headSize...])
            return out
        }

        mutating func files(_ page: ProjectPage, _ range: Range<Int>) -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(range.count * 320)
            for file in page.files[range] {
                PageCodec.putString(file.filename, into: &out)
                PageCodec.putString(file.url, into: &out)
                PageCodec.putOptional(file.sha256, into: &out)
                PageCodec.putOptional(file.requiresPython, into: &out)
                PageCodec.putOptional(file.yanked, into: &out)
                PageCodec.putNumber(file.size.map { UInt64(max(0, $0)) + 1 } ?? 0, into: &out)
                PageCodec.putOptional(file.uploadTime, into: &out)
                PageCodec.putOptional(file.coreMetadata, into: &out)
            }
            add(out[...])
            return out
        }

        private mutating func add(_ bytes: ArraySlice<UInt8>) {
            bytes.withUnsafeBufferPointer { buffer in
                crc = crc32(crc, buffer.baseAddress, uInt(buffer.count))
                adler = adler32(adler, buffer.baseAddress, uInt(buffer.count))
            }
            length += bytes.count
        }

        /// crc32 and adler32 (zlib's, a few GB/s) and the length of everything after the head:
        /// what the page lists changed, not an adversary's collision, is what it tells apart.
        var contentTag: [UInt8] {
            var tag: [UInt8] = []
            PageCodec.putFixed(UInt64(crc), bytes: 4, into: &tag)
            PageCodec.putFixed(UInt64(adler), bytes: 4, into: &tag)
            PageCodec.putFixed(UInt64(length), bytes: 8, into: &tag)
            return tag
        }
    }

    fileprivate static func putFixed(_ value: UInt64, bytes: Int, into out: inout [UInt8]) {
        var v = value
        for _ in 0..<bytes {
            out.append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }

    static func decode(_ bytes: [UInt8]) -> ProjectPage? {
        var decoder = Decoder(bytes)
        guard case .done(let page) = decoder.step(maxFiles: Int.max) else { return nil }
        return page
    }

    /// Reads a page a slice of files at a time, so that a big one (100,000 files after a
    /// restart) does not hold the loop for the whole read; `decode` is one step of it.
    struct Decoder {
        enum Progress { case more, done(ProjectPage), malformed }

        private let bytes: [UInt8]
        private var at = 0
        /// The page without its files, once the head is read.
        private var head: ProjectPage?
        private var fileCount = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        /// Reads the head with the first step, then up to `maxFiles` files.
        mutating func step(maxFiles: Int) -> Progress {
            var progress = Progress.malformed
            let bytes = self.bytes
            bytes.withUnsafeBytes { buffer in
                var reader = Reader(buffer: buffer, at: at)
                if head == nil {
                    guard let (page, count) = reader.head() else { return }
                    head = page
                    fileCount = count
                    head?.files.reserveCapacity(count)
                }
                let end = min(fileCount, head!.files.count + maxFiles)
                while head!.files.count < end {
                    guard let file = reader.file() else { return }
                    head!.files.append(file)
                }
                at = reader.at
                if head!.files.count < fileCount { progress = .more; return }
                progress = reader.at == buffer.count ? .done(head!) : .malformed
            }
            return progress
        }
    }

    fileprivate static func putNumber(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    fileprivate static func putString(_ s: String, into out: inout [UInt8]) {
        putNumber(UInt64(s.utf8.count), into: &out)
        out.append(contentsOf: s.utf8)
    }

    fileprivate static func putOptional(_ s: String?, into out: inout [UInt8]) {
        guard let s else { return putNumber(0, into: &out) }
        putNumber(UInt64(s.utf8.count) + 1, into: &out)
        out.append(contentsOf: s.utf8)
    }

    /// Reads one page from a buffer; every read is bounds-checked and fails as nil.
    private struct Reader {
        let buffer: UnsafeRawBufferPointer
        var at = 0

        /// The page's head (no files yet) and its file count.
        mutating func head() -> (ProjectPage, Int)? {
            guard buffer.count >= PageCodec.magic.count + 8 else { return nil }
            let tagged = PageCodec.magic.indices.allSatisfy { buffer[$0] == PageCodec.magic[$0] }
            guard tagged || PageCodec.magicWithoutTag.indices.allSatisfy({ buffer[$0] == PageCodec.magicWithoutTag[$0] }) else { return nil }
            at = PageCodec.magic.count
            var bits: UInt64 = 0
            for i in 0..<8 { bits |= UInt64(buffer[at + i]) << (8 * UInt64(i)) }
            at += 8
            if tagged {
                guard buffer.count >= PageCodec.headSize else { return nil }
                at = PageCodec.headSize
            }
            guard let name = string(), let etag = optional(), let lastModified = optional(),
                  let versionCount = number() else { return nil }
            var versions: [String]?
            if versionCount > 0 {
                guard versionCount - 1 <= UInt64(buffer.count - at) else { return nil }
                var list: [String] = []
                list.reserveCapacity(Int(versionCount - 1))
                for _ in 0..<(versionCount - 1) {
                    guard let v = string() else { return nil }
                    list.append(v)
                }
                versions = list
            }
            // Each file takes at least 8 bytes: a count beyond that is corrupt, not a reason to reserve memory.
            guard let fileCount = number(), fileCount <= UInt64(buffer.count - at) / 8 else { return nil }
            return (ProjectPage(name: name, files: [], versions: versions, etag: etag, lastModified: lastModified,
                                fetchedAt: Double(bitPattern: bits)), Int(fileCount))
        }

        mutating func file() -> DistributionFile? {
            guard let filename = string(), let url = string(), let sha256 = optional(), let requiresPython = optional(),
                  let yanked = optional(), let size = number(), let uploadTime = optional(), let coreMetadata = optional(),
                  size <= UInt64(Int.max)
            else { return nil }
            return DistributionFile(filename: filename, url: url, sha256: sha256, requiresPython: requiresPython,
                                    yanked: yanked, size: size == 0 ? nil : Int(size - 1), uploadTime: uploadTime,
                                    coreMetadata: coreMetadata)
        }

        mutating func number() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while at < buffer.count, shift < 64 {
                let b = buffer[at]
                at += 1
                value |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return value }
                shift += 7
            }
            return nil
        }

        mutating func bytes(_ count: UInt64) -> String? {
            guard count <= UInt64(buffer.count - at) else { return nil }
            let n = Int(count)
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[at..<(at + n)]), as: UTF8.self)
            at += n
            return s
        }

        mutating func string() -> String? {
            guard let n = number() else { return nil }
            return bytes(n)
        }

        /// nil: malformed; .some(nil): stored as absent.
        mutating func optional() -> String?? {
            guard let n = number() else { return nil }
            if n == 0 { return .some(nil) }
            guard let s = bytes(n - 1) else { return nil }
            return .some(s)
        }
    }
}
