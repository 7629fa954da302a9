/// The meaning half of `JSONPageReader`: which value is which field of a PEP 691 page.
/// It keeps the rules of the JSONDecoder-based parser it replaces: every per-file field
/// is read leniently (a null or a value of the wrong type leaves it absent), an entry
/// without a filename or an http(s) URL is skipped and counted, the first of two equal
/// keys wins, unknown keys are skipped whatever they hold, and only a page that is not
/// JSON, not an object or has no `files` array is refused.
extension JSONPageReader {
    /// An open object or array, and what it is in the page.
    enum Container {
        case root, files, versions, entry, hashes, metadata(MetadataName), skippedObject, skippedArray

        var isObject: Bool {
            switch self {
            case .files, .versions, .skippedArray: false
            default: true
            }
        }
    }

    /// PEP 714 renamed `dist-info-metadata` to `core-metadata`; either may come.
    enum MetadataName { case core, distInfo }

    /// What the next value is.
    enum Slot {
        case root, files, versions, version, entry
        case filename, url, hashes, requiresPython, yanked, size, uploadTime
        case metadata(MetadataName)
        /// A value inside `hashes` or a metadata object: a string, kept when it is the sha256.
        case digest(isSHA256: Bool)
        case ignored
    }

    /// A `{"sha256": ...}` object as PEP 691 uses it: usable only when every value is a string.
    struct Digests {
        var sha256: String?
        var valid = true
    }

    struct PageFields {
        let name: String
        let resolver: UpstreamURLResolver
        var files = FileList()
        var sawFiles = false
        var sawVersions = false
        /// nil: absent or not an array of strings.
        var versions: [String]?
        var skipped = 0
    }

    /// One `files` entry being read. `seen` (one bit per field) makes the first of two equal keys win.
    struct EntryFields {
        var seen: UInt16 = 0
        var filename: String?
        var url: String?
        var hashes: Digests?
        var requiresPython: String?
        var yanked: String?
        var size: Int?
        var uploadTime: String?
        var coreMetadata: MetadataValue?
        var distInfoMetadata: MetadataValue?
    }

    enum MetadataValue {
        case available
        case digests(Digests)

        /// true -> "", {"sha256": h} -> h, anything else -> nil.
        var hash: String? {
            switch self {
            case .available: ""
            case .digests(let d): d.valid ? (d.sha256?.lowercased() ?? "") : nil
            }
        }
    }

    var slotKeepsString: Bool {
        switch slot {
        case .filename, .url, .requiresPython, .yanked, .uploadTime, .version, .digest: true
        default: false
        }
    }

    var slotKeepsNumber: Bool {
        if case .size = slot { return true }
        return false
    }

    /// The slot of the next element of the innermost array.
    func elementSlot() -> Slot {
        switch containers.last {
        case .files: .entry
        case .versions: .version
        default: .ignored
        }
    }

    mutating func beginContainer(isObject: Bool) {
        let container: Container
        switch (slot, isObject) {
        case (.root, true): container = .root
        case (.root, false): return fail("the page is not a JSON object", at: bytesRead)
        case (.files, false): container = .files
        case (.versions, false): container = .versions; page.versions = []
        case (.entry, true): container = .entry; entry = EntryFields()
        case (.hashes, true): container = .hashes; entry.hashes = Digests()
        case (.metadata(let name), true): container = .metadata(name); setMetadata(name, .digests(Digests()))
        default:
            // An object or array where it has no meaning: skip it (and note what it spoils).
            take(nil)
            container = isObject ? .skippedObject : .skippedArray
        }
        containers.append(container)
    }

    mutating func closeContainer() {
        guard let closed = containers.popLast() else { return }
        if case .entry = closed { endEntry() }
    }

    mutating func takeKey(valid: Bool) {
        guard valid, let key = String(validating: text, as: UTF8.self) else {
            slot = .ignored
            if case .hashes = containers.last { entry.hashes?.valid = false }
            if case .metadata(let name) = containers.last { spoilMetadata(name) }
            return
        }
        switch containers.last {
        case .root:
            if key == "files", !page.sawFiles { page.sawFiles = true; slot = .files }
            else if key == "versions", !page.sawVersions { page.sawVersions = true; slot = .versions }
            else { slot = .ignored }
        case .entry:
            let field: (Slot, UInt16)
            switch key {
            case "filename": field = (.filename, 1 << 0)
            case "url": field = (.url, 1 << 1)
            case "hashes": field = (.hashes, 1 << 2)
            case "requires-python": field = (.requiresPython, 1 << 3)
            case "yanked": field = (.yanked, 1 << 4)
            case "size": field = (.size, 1 << 5)
            case "upload-time": field = (.uploadTime, 1 << 6)
            case "core-metadata": field = (.metadata(.core), 1 << 7)
            case "dist-info-metadata": field = (.metadata(.distInfo), 1 << 8)
            default: field = (.ignored, 0)
            }
            slot = entry.seen & field.1 == 0 ? field.0 : .ignored
            entry.seen |= field.1
        case .hashes, .metadata:
            slot = .digest(isSHA256: key == "sha256")
        default:
            slot = .ignored
        }
    }

    /// A value ended in the current slot; nil for an object or array (the wrong type for any field).
    mutating func take(_ scalar: Scalar?) {
        // Only the strings a slot keeps are decoded (and checked: invalid UTF-8 makes the value absent).
        let string: String? = if case .string(true) = scalar, keepText { String(validating: text, as: UTF8.self) } else { nil }
        switch slot {
        case .root:
            fail("the page is not a JSON object", at: bytesRead)
        case .files:
            fail("`files` is not an array", at: bytesRead)
        case .versions:
            page.versions = nil
        case .version:
            if let string { page.versions?.append(string) } else { page.versions = nil }
        case .entry:
            // A `null`, a number or a string where a file entry belongs.
            page.skipped += 1
        case .filename: entry.filename = string
        case .url: entry.url = string
        case .requiresPython: entry.requiresPython = string
        case .uploadTime: entry.uploadTime = string
        case .yanked:
            // PEP 592 as PEP 691 spells it: the reason, or true without one.
            if let string { entry.yanked = string } else if case .true = scalar { entry.yanked = "" }
        case .size:
            if case .number = scalar { entry.size = JSONPageReader.integer(text) }
        case .hashes:
            entry.hashes = nil
        case .metadata(let name):
            if case .true = scalar { setMetadata(name, .available) }
        case .digest(let isSHA256):
            guard let string else {
                if case .hashes = containers.last { entry.hashes?.valid = false }
                if case .metadata(let name) = containers.last { spoilMetadata(name) }
                return
            }
            guard isSHA256 else { return }
            if case .hashes = containers.last, entry.hashes?.sha256 == nil { entry.hashes?.sha256 = string }
            if case .metadata(let name) = containers.last, case .digests(var d)? = metadata(name), d.sha256 == nil {
                d.sha256 = string
                setMetadata(name, .digests(d))
            }
        case .ignored:
            break
        }
    }

    private func metadata(_ name: MetadataName) -> MetadataValue? {
        name == .core ? entry.coreMetadata : entry.distInfoMetadata
    }

    private mutating func setMetadata(_ name: MetadataName, _ value: MetadataValue?) {
        if name == .core { entry.coreMetadata = value } else { entry.distInfoMetadata = value }
    }

    private mutating func spoilMetadata(_ name: MetadataName) {
        guard case .digests(var d)? = metadata(name) else { return }
        d.valid = false
        setMetadata(name, .digests(d))
    }

    private mutating func endEntry() {
        let e = entry
        guard let filename = e.filename, !filename.isEmpty, let rawURL = e.url,
              let (url, fragmentHash) = page.resolver.resolve(rawURL) else {
            page.skipped += 1
            return
        }
        let hashes = e.hashes?.valid == true ? e.hashes : nil
        page.files.append(DistributionFile(
            filename: filename, url: url,
            sha256: (hashes?.sha256 ?? fragmentHash)?.lowercased(),
            requiresPython: e.requiresPython, yanked: e.yanked, size: e.size, uploadTime: e.uploadTime,
            coreMetadata: e.coreMetadata?.hash ?? e.distInfoMetadata?.hash))
    }

    /// A JSON number as an Int, as JSONDecoder reads one: integral values only (`1.0` and
    /// `1e3` count), nil for fractions, overflow and malformed numbers (`01`, `-`).
    static func integer(_ bytes: [UInt8]) -> Int? {
        guard isWellFormedNumber(bytes) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        if let value = Int(text) { return value }
        guard let double = Double(text), double.rounded() == double, abs(double) < 9.0e15 else { return nil }
        return Int(double)
    }

    /// RFC 8259: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    static func isWellFormedNumber(_ b: [UInt8]) -> Bool {
        var i = 0
        func digits() -> Int {
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            return i - start
        }
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        let intDigits = digits()
        guard intDigits > 0, intDigits == 1 || b[intStart] != UInt8(ascii: "0") else { return false }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { return false }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == b.count
    }

    /// The body ended: the page, or why it is not one.
    public mutating func finish() throws -> ProjectPage {
        finishSyntax()
        if let syntaxError { throw UpstreamPageParser.Failure(description: "upstream JSON page is not a PEP 691 project page: \(syntaxError)") }
        guard page.sawFiles else { throw UpstreamPageParser.Failure(description: "upstream JSON page is not a PEP 691 project page: no `files`") }
        return ProjectPage(name: page.name, files: page.files.joined(), versions: page.versions)
    }

    /// File entries left out as unusable so far.
    public var skipped: Int { page.skipped }
}

/// The files read so far, in fixed-size segments: a growing array copies all of itself
/// when it doubles (a 10 ms pause inside one chunk of a 100,000-file page); segments
/// never move, and are joined once, into an array of the exact size pages are kept in.
struct FileList {
    static let segmentSize = 4096
    private var full: [[DistributionFile]] = []
    private var current: [DistributionFile] = []

    var count: Int { full.count * FileList.segmentSize + current.count }

    mutating func append(_ file: DistributionFile) {
        if current.count == FileList.segmentSize {
            full.append(current)
            current = []
        }
        if current.isEmpty { current.reserveCapacity(FileList.segmentSize) }
        current.append(file)
    }

    func joined() -> [DistributionFile] {
        guard !full.isEmpty else { return Array(current) }
        var all: [DistributionFile] = []
        all.reserveCapacity(full.count * FileList.segmentSize + current.count)
        for segment in full { all.append(contentsOf: segment) }
        all.append(contentsOf: current)
        return all
    }
}
