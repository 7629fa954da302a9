import PyPICache
import Reactor

/// One requirement line that names something an index can serve.
public struct Requirement: Equatable, Sendable {
    public let name: ProjectName
    public let extras: [String]
    public let specifier: SpecifierSet
    public let marker: Marker?
    /// sha256 values from `--hash` options: if any, only those files are acceptable.
    public let hashes: [String]
    public let origin: Origin

    public struct Origin: Equatable, Sendable, CustomStringConvertible {
        public let file: String
        public let line: Int
        /// `file:line` for input files; just the text for things that are not files (line 0), e.g. "alpha 2.0".
        public var description: String { line == 0 ? file : "\(file):\(line)" }
    }
}

/// What reading requirements files produced: requirements, constraints, and a note
/// for every line that was skipped or only reported.
public struct RequirementSet: Sendable {
    public var requirements: [Requirement] = []
    public var constraints: [Requirement] = []
    public var notes: [String] = []
    public var indexURLs: [String] = []
    /// Build systems of projects the input builds itself (a pyproject.toml's own), by origin.
    public var buildSystems: [(String, BuildSystem)] = []

    public init() {}

    /// Both sets' contents, this one's first.
    public mutating func merge(_ other: RequirementSet) {
        requirements += other.requirements
        constraints += other.constraints
        notes += other.notes
        indexURLs += other.indexURLs
        buildSystems += other.buildSystems
    }
}

public struct RequirementsError: Error, CustomStringConvertible {
    public let description: String
}

/// Reads pip requirements files the way pip does: `-r`/`-c` includes relative to
/// the including file, comments, line continuations, PEP 508 requirements with
/// extras and markers, per-requirement `--hash` options, and global options
/// (reported). Things no index can serve (VCS and URL requirements, local paths,
/// `-e`) are skipped with a note each.
public struct RequirementsParser {
    private var set = RequirementSet()
    private var visiting: [String] = []
    private let readFile: (String) throws -> String?

    public init(readFile: @escaping (String) throws -> String? = RequirementsParser.readFromDisk) {
        self.readFile = readFile
    }

    public static func readFromDisk(_ path: String) throws -> String? {
        try Files.readAll(path).map { String(decoding: $0, as: UTF8.self) }
    }

    public static func parse(files: [String], requirements: [String] = [],
                             readFile: @escaping (String) throws -> String? = readFromDisk) throws -> RequirementSet {
        var parser = RequirementsParser(readFile: readFile)
        for (i, line) in requirements.enumerated() {
            try parser.parseLine(line, origin: .init(file: "<command line>", line: i + 1), directory: ".", constraint: false)
        }
        for file in files { try parser.include(file, from: nil, constraint: false) }
        return parser.set
    }

    private mutating func include(_ path: String, from origin: Requirement.Origin?, constraint: Bool) throws {
        guard !visiting.contains(path) else {
            throw RequirementsError(description: "\(origin.map { "\($0): " } ?? "")\(path) includes itself")
        }
        guard let text = try readFile(path) else {
            throw RequirementsError(description: "\(origin.map { "\($0): " } ?? "")cannot read requirements file \(path)")
        }
        visiting.append(path)
        defer { visiting.removeLast() }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        for (number, line) in RequirementsParser.logicalLines(text) {
            try parseLine(line, origin: .init(file: path, line: number), directory: directory, constraint: constraint)
        }
    }

    /// Lines with continuations joined and comments removed, with the number of the first physical line.
    static func logicalLines(_ text: String) -> [(Int, String)] {
        var out: [(Int, String)] = []
        var pending = "", start = 0
        // Split on the bytes: in Swift "\r\n" is one Character, which a Character split would miss.
        let lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (i, raw) in lines.enumerated() {
            var line = String(decoding: raw.last == UInt8(ascii: "\r") ? raw.dropLast() : raw, as: UTF8.self)
            if pending.isEmpty { start = i + 1 }
            // A comment starts at '#' at the beginning of the line or after whitespace.
            if line.hasPrefix("#") { line = "" }
            if let hash = line.firstRange(of: " #") ?? line.firstRange(of: "\t#") { line = String(line[..<hash.lowerBound]) }
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
                continue
            }
            let full = (pending + line).trimmingCharacters(in: " \t")
            pending = ""
            if !full.isEmpty { out.append((start, full)) }
        }
        let rest = pending.trimmingCharacters(in: " \t")
        if !rest.isEmpty { out.append((start, rest)) }
        return out
    }

    private mutating func parseLine(_ line: String, origin: Requirement.Origin, directory: String, constraint: Bool) throws {
        var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let first = words.first else { return }
        func optionValue(_ names: [String]) -> String? {
            for name in names {
                if first == name { return words.count > 1 ? words[1] : nil }
                if name.hasPrefix("--"), first.hasPrefix(name + "=") { return String(first.dropFirst(name.count + 1)) }
                if !name.hasPrefix("--"), first.hasPrefix(name), first.count > name.count { return String(first.dropFirst(name.count)) }
            }
            return nil
        }
        let isOption = { (names: [String]) in names.contains { first == $0 || first.hasPrefix($0 + "=") || (!$0.hasPrefix("--") && first.hasPrefix($0)) } }

        if isOption(["-r", "--requirement"]) || isOption(["-c", "--constraint"]) {
            let isConstraint = isOption(["-c", "--constraint"])
            guard let file = optionValue(isConstraint ? ["-c", "--constraint"] : ["-r", "--requirement"]) else {
                throw RequirementsError(description: "\(origin): \(first) needs a file name")
            }
            if file.contains("://") { return set.notes.append("\(origin): skipped remote requirements file \(file)") }
            let path = RequirementsParser.normalize(file.hasPrefix("/") ? file : (directory == "." ? file : "\(directory)/\(file)"))
            return try include(path, from: origin, constraint: constraint || isConstraint)
        }
        if isOption(["-e", "--editable"]) {
            return set.notes.append("\(origin): skipped editable requirement (\(words.dropFirst().joined(separator: " ")))")
        }
        if isOption(["-i", "--index-url", "--extra-index-url"]) {
            let url = optionValue(["-i", "--index-url", "--extra-index-url"]) ?? ""
            set.indexURLs.append(url)
            return set.notes.append("\(origin): \(first.split(separator: "=")[0]) \(url) noted: files come through wheelhouse's upstream")
        }
        if first.hasPrefix("-") {
            return set.notes.append("\(origin): option \(first) ignored")
        }

        // A requirement, maybe followed by per-requirement options (--hash=sha256:..., --config-settings ...).
        var hashes: [String] = []
        var spec: [String] = []
        var i = 0
        while i < words.count {
            let w = words[i]
            if w.hasPrefix("--hash") {
                let value = w.hasPrefix("--hash=") ? String(w.dropFirst(7)) : (i + 1 < words.count ? words[i + 1] : "")
                if !w.hasPrefix("--hash=") { i += 1 }
                guard value.hasPrefix("sha256:") || value.contains(":") else {
                    throw RequirementsError(description: "\(origin): malformed --hash '\(value)'")
                }
                if value.hasPrefix("sha256:") { hashes.append(String(value.dropFirst(7)).lowercased()) }
            } else if w.hasPrefix("--") {
                if !w.contains("="), i + 1 < words.count, !words[i + 1].hasPrefix("-") { i += 1 }
            } else {
                spec.append(w)
            }
            i += 1
        }
        words = spec
        let text = spec.joined(separator: " ")
        if let reason = RequirementsParser.notFromAnIndex(text) {
            return set.notes.append("\(origin): skipped \(reason): \(text)")
        }
        let requirement = try RequirementsParser.requirement(text, hashes: hashes, origin: origin)
        if constraint { set.constraints.append(requirement) } else { set.requirements.append(requirement) }
    }

    /// `a/./b/../c` -> `a/c`, lexically (so messages and cycle checks see one name per file).
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : (joined.isEmpty ? "." : joined)
    }

    /// Why a requirement cannot come from an index, or nil when it can.
    static func notFromAnIndex(_ text: String) -> String? {
        let lower = text.lowercased()
        for vcs in ["git+", "hg+", "svn+", "bzr+"] where lower.hasPrefix(vcs) { return "VCS requirement" }
        if lower.firstMatch(of: /^[a-z0-9._-]+(\[[^\]]*\])?\s*@/) != nil {
            return "direct URL requirement"
        }
        if lower.contains("://") { return "URL requirement" }
        if lower.hasPrefix(".") || lower.hasPrefix("/") || lower.hasPrefix("~") { return "local path" }
        for ext in [".whl", ".tar.gz", ".zip", ".tar.bz2"] where lower.hasSuffix(ext) && lower.contains("/") { return "local path" }
        return nil
    }

    /// PEP 508: name [extras] specifiers ; marker
    static func requirement(_ text: String, hashes: [String], origin: Requirement.Origin) throws -> Requirement {
        func fail(_ why: String) -> RequirementsError { RequirementsError(description: "\(origin): \(why): '\(text)'") }
        var rest = Substring(text)
        var markerText: Substring?
        if let semi = rest.firstIndex(of: ";") {
            markerText = rest[rest.index(after: semi)...]
            rest = rest[..<semi]
        }
        rest = Substring(rest.trimmingCharacters(in: " \t"))
        let nameEnd = rest.firstIndex { !($0.isLetter || $0.isNumber || "._-".contains($0)) || !$0.isASCII } ?? rest.endIndex
        guard let name = ProjectName(rest[..<nameEnd]) else { throw fail("not a valid project name") }
        rest = Substring(rest[nameEnd...].trimmingCharacters(in: " \t"))
        var extras: [String] = []
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("unclosed extras") }
            extras = rest[rest.index(after: rest.startIndex)..<close].split(separator: ",").map { $0.trimmingCharacters(in: " \t") }
            rest = Substring(rest[rest.index(after: close)...].trimmingCharacters(in: " \t"))
        }
        if rest.hasPrefix("(") {
            guard rest.hasSuffix(")") else { throw fail("unclosed '('") }
            rest = rest.dropFirst().dropLast()
        }
        guard let specifier = SpecifierSet(parsing: rest) else { throw fail("cannot parse the version specifier") }
        var marker: Marker?
        if let markerText {
            do { marker = try Marker.parse(markerText.trimmingCharacters(in: " \t")) } catch {
                throw fail("bad environment marker (\(error))")
            }
        }
        return Requirement(name: name, extras: extras, specifier: specifier, marker: marker, hashes: hashes, origin: origin)
    }
}
