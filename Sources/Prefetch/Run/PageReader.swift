import PyPICache

/// Reads a PEP 691 JSON project page in one pass over its bytes, building a
/// `DistributionFile` only for the files `keep` accepts and only with the fields
/// resolution needs. Pages of real projects list thousands of files (pydantic-core:
/// 15,000, 5 MB); a general JSON decoder builds all of it first, which is where a
/// prefetch of a few hundred projects spent half its time and most of its memory.
struct PageReader {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let bytes: [UInt8]
    private var i = 0
    private var depth = 0

    static func read(_ body: [UInt8], pageURL: String, project: ProjectName,
                     keep: (DistributionFile) -> Bool) throws -> ProjectPage {
        var reader = PageReader(bytes: body)
        var files: [DistributionFile] = []
        try reader.object { reader, key in
            guard key == "files" else { return try reader.skipValue() }
            try reader.array { reader in
                if let file = try reader.file(pageURL: pageURL), keep(file) { files.append(file) }
            }
        }
        // Pages stay in memory for the whole run: drop the growth slack (up to half).
        var exact: [DistributionFile] = []
        exact.reserveCapacity(files.count)
        exact.append(contentsOf: files)
        return ProjectPage(name: project.normalized, files: exact)
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    /// One entry of a page's `files` array, alone (PageStream cuts them out):
    /// nil when it lacks a filename or a usable URL.
    static func file(_ entry: [UInt8], pageURL: String) throws -> DistributionFile? {
        var reader = PageReader(bytes: entry)
        let file = try reader.file(pageURL: pageURL)
        guard reader.peek == nil else { throw reader.fail("unexpected bytes after the entry") }
        return file
    }

    private func fail(_ why: String) -> Failure { Failure(description: "\(why) at byte \(i)") }

    // MARK: - One file

    private mutating func file(pageURL: String) throws -> DistributionFile? {
        var filename: String?, url: String?, sha256: String?, requiresPython: String?, yanked: String?, metadata: String?
        try object { reader, key in
            switch key {
            case "filename": filename = try reader.string()
            case "url": url = try reader.string()
            case "requires-python": requiresPython = try reader.optionalString()
            case "hashes":
                try reader.object { reader, algorithm in
                    if algorithm == "sha256" { sha256 = try reader.string().lowercased() } else { try reader.skipValue() }
                }
            case "yanked":
                // false, true, or the reason (PEP 592 as PEP 691 spells it).
                switch try reader.scalarOrString() {
                case .string(let reason): yanked = reason
                case .true: yanked = ""
                default: yanked = nil
                }
            case "core-metadata", "dist-info-metadata":
                guard metadata == nil else { return try reader.skipValue() }
                if reader.peek == UInt8(ascii: "{") {
                    var hash = ""
                    try reader.object { reader, algorithm in
                        if algorithm == "sha256" { hash = try reader.string().lowercased() } else { try reader.skipValue() }
                    }
                    metadata = hash
                } else if case .true = try reader.scalarOrString() {
                    metadata = ""
                }
            default:
                try reader.skipValue()
            }
        }
        guard let filename, let url, let absolute = PageReader.resolve(url, against: pageURL) else { return nil }
        return DistributionFile(filename: filename, url: absolute, sha256: sha256, requiresPython: requiresPython,
                                yanked: yanked, coreMetadata: metadata)
    }

    /// A link relative to the page (wheelhouse writes `../../+f/...`), made absolute.
    static func resolve(_ link: String, against page: String) -> String? {
        var link = link
        if let hash = link.firstIndex(of: "#") { link = String(link[..<hash]) }
        if link.hasPrefix("http://") || link.hasPrefix("https://") { return link }
        guard let schemeEnd = page.firstRange(of: "://") else { return nil }
        let hostEnd = page[schemeEnd.upperBound...].firstIndex(of: "/") ?? page.endIndex
        let origin = String(page[..<hostEnd])
        if link.hasPrefix("//") { return String(page[..<schemeEnd.lowerBound]) + ":" + link }
        if link.hasPrefix("/") { return origin + link }
        var parts = page[hostEnd...].split(separator: "/", omittingEmptySubsequences: false).dropFirst().dropLast().map(String.init)
        for part in link.split(separator: "/", omittingEmptySubsequences: false) {
            if part == ".." { if !parts.isEmpty { parts.removeLast() } } else if part != "." { parts.append(String(part)) }
        }
        return origin + "/" + parts.joined(separator: "/")
    }

    // MARK: - JSON

    private var peek: UInt8? {
        mutating get {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
            return i < bytes.count ? bytes[i] : nil
        }
    }

    private mutating func expect(_ c: UInt8) throws {
        guard peek == c else { throw fail("expected '\(Character(Unicode.Scalar(c)))'") }
        i += 1
    }

    private mutating func nest(_ body: (inout PageReader) throws -> Void) throws {
        depth += 1
        guard depth < 64 else { throw fail("nested too deeply") }
        defer { depth -= 1 }
        try body(&self)
    }

    private mutating func object(_ member: (inout PageReader, String) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        try nest { reader in
            if reader.peek == UInt8(ascii: "}") { reader.i += 1; return }
            while true {
                let key = try reader.string()
                try reader.expect(UInt8(ascii: ":"))
                try member(&reader, key)
                if reader.peek == UInt8(ascii: ",") { reader.i += 1; continue }
                try reader.expect(UInt8(ascii: "}"))
                return
            }
        }
    }

    private mutating func array(_ element: (inout PageReader) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        try nest { reader in
            if reader.peek == UInt8(ascii: "]") { reader.i += 1; return }
            while true {
                try element(&reader)
                if reader.peek == UInt8(ascii: ",") { reader.i += 1; continue }
                try reader.expect(UInt8(ascii: "]"))
                return
            }
        }
    }

    private mutating func string() throws -> String {
        try expect(UInt8(ascii: "\""))
        let start = i
        var escaped = false
        while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
            if bytes[i] == UInt8(ascii: "\\") { escaped = true; i += 1 }
            i += 1
        }
        guard i < bytes.count else { throw fail("unterminated string") }
        defer { i += 1 }
        return escaped ? try unescape(bytes[start..<i]) : String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private func unescape(_ raw: ArraySlice<UInt8>) throws -> String {
        var out: [UInt8] = []
        var j = raw.startIndex
        while j < raw.endIndex {
            let c = raw[j]
            j += 1
            guard c == UInt8(ascii: "\\"), j < raw.endIndex else { out.append(c); continue }
            let e = raw[j]
            j += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard j + 4 <= raw.endIndex, let code = UInt32(String(decoding: raw[j..<j + 4], as: UTF8.self), radix: 16) else {
                    throw fail("bad \\u escape")
                }
                j += 4
                // Surrogate halves only occur outside what pages carry; they become U+FFFD.
                out += Array(String(Character(Unicode.Scalar(code) ?? "\u{FFFD}")).utf8)
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private enum Scalar { case string(String), `true`, `false`, null, number }

    private mutating func scalarOrString() throws -> Scalar {
        switch peek {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try word("true"); return .true
        case UInt8(ascii: "f"): try word("false"); return .false
        case UInt8(ascii: "n"): try word("null"); return .null
        case let c? where c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39):
            while i < bytes.count, "+-.eE0123456789".utf8.contains(bytes[i]) { i += 1 }
            return .number
        default: throw fail("expected a value")
        }
    }

    private mutating func optionalString() throws -> String? {
        if case .string(let s) = try scalarOrString() { return s }
        return nil
    }

    private mutating func word(_ w: StaticString) throws {
        let n = w.utf8CodeUnitCount
        guard i + n <= bytes.count, bytes[i..<i + n].elementsEqual(UnsafeBufferPointer(start: w.utf8Start, count: n)) else {
            throw fail("expected \(w)")
        }
        i += n
    }

    private mutating func skipValue() throws {
        switch peek {
        case UInt8(ascii: "{"): try object { reader, _ in try reader.skipValue() }
        case UInt8(ascii: "["): try array { reader in try reader.skipValue() }
        default: _ = try scalarOrString()
        }
    }
}
