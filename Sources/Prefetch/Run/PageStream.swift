import PyPICache

/// Reads a PEP 691 JSON project page as it arrives, chunk by chunk: it follows the
/// JSON's nesting without building anything, copies out one entry of the top-level
/// `files` array at a time, and hands that (a few hundred bytes) to `PageReader`.
/// So a page costs the files it keeps, not its body: a prefetch reads hundreds of
/// pages of thousands of files each, up to 16 at once, and holding each body whole
/// (with an array's growth slack) was most of its peak memory.
struct PageStream {
    private let pageURL: String
    private let keep: (DistributionFile) -> Bool
    private(set) var files: [DistributionFile] = []
    private var failure: PageReader.Failure?
    /// Why the page cannot be read, once that is known.
    var problem: PageReader.Failure? { failure }
    private var offset = 0
    private var depth = 0
    private var inString = false
    private var escaped = false
    /// The last string that ended at depth 1 (after `"files":`, the key), while short.
    private var lastTopString: [UInt8] = []
    private var capturingTopString = false
    private var inFiles = false
    /// The entry being copied (a `{...}` at depth 3: inside the top object and the array).
    private var entry: [UInt8] = []
    private var inEntry = false
    private var closed = false

    static let maxDepth = 64
    private static let bareBytes = Set(",:0123456789+-.eEtrufalsn".utf8)
    static let maxEntryBytes = 1 << 20
    static let maxPageBytes = 64 << 20

    init(pageURL: String, keep: @escaping (DistributionFile) -> Bool) {
        self.pageURL = pageURL
        self.keep = keep
    }

    /// Reads a chunk; false once the page is known to be unreadable or too large
    /// (no use receiving the rest).
    @discardableResult
    mutating func feed(_ chunk: UnsafeRawBufferPointer) -> Bool {
        guard failure == nil else { return false }
        for byte in chunk.bindMemory(to: UInt8.self) {
            step(byte)
            offset += 1
            if failure != nil { return false }
        }
        if offset > PageStream.maxPageBytes { failure = PageReader.Failure(description: "page larger than 64 MB") }
        return failure == nil
    }

    /// The page, once the body has ended; throws if it was not one whole JSON object.
    mutating func finish(project: ProjectName) throws -> ProjectPage {
        if let failure { throw failure }
        guard closed, depth == 0, !inString else { throw PageReader.Failure(description: "page ends early at byte \(offset)") }
        // Pages stay in memory for the whole run: drop the growth slack (up to half).
        var exact: [DistributionFile] = []
        exact.reserveCapacity(files.count)
        exact.append(contentsOf: files)
        files = []
        return ProjectPage(name: project.normalized, files: exact)
    }

    private mutating func fail(_ why: String) { failure = PageReader.Failure(description: "\(why) at byte \(offset)") }

    private mutating func step(_ byte: UInt8) {
        if inEntry {
            entry.append(byte)
            if entry.count > PageStream.maxEntryBytes { return fail("file entry too large") }
        }
        if inString {
            if capturingTopString, lastTopString.count < 16 { lastTopString.append(byte) }
            if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") {
                inString = false
                if capturingTopString { lastTopString.removeLast() }  // the closing quote
                capturingTopString = false
            }
            return
        }
        switch byte {
        case UInt8(ascii: "\""):
            inString = true
            if depth == 1 { capturingTopString = true; lastTopString.removeAll(keepingCapacity: true) }
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            if closed || (depth == 0 && byte != UInt8(ascii: "{")) { return fail("not a JSON object") }
            if depth == 1, byte == UInt8(ascii: "["), lastTopString.elementsEqual("files".utf8) { inFiles = true }
            if inFiles, depth == 2, byte == UInt8(ascii: "{") { inEntry = true; entry.append(byte) }
            depth += 1
            if depth > PageStream.maxDepth { return fail("nested too deeply") }
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            guard depth > 0 else { return fail("unbalanced '\(Character(Unicode.Scalar(byte)))'") }
            depth -= 1
            if inEntry, depth == 2 { inEntry = false; entryEnded() }
            if inFiles, depth == 1 { inFiles = false }
            if depth == 0 { closed = true }
        case 0x20, 0x0A, 0x0D, 0x09:
            break
        default:
            if closed || depth == 0 { return fail("not a JSON object") }
            // Outside strings only punctuation, numbers, true, false and null may occur.
            if !PageStream.bareBytes.contains(byte) { return fail("unexpected '\(Character(Unicode.Scalar(byte)))'") }
        }
    }

    private mutating func entryEnded() {
        do {
            if let file = try PageReader.file(entry, pageURL: pageURL), keep(file) { files.append(file) }
        } catch let error as PageReader.Failure {
            failure = PageReader.Failure(description: "\(error.description) in the file entry ending at byte \(offset)")
        } catch {
            fail("unreadable file entry")
        }
        entry.removeAll(keepingCapacity: entry.capacity <= 4096)
    }
}
