import Support

/// What pages may list and `+f` may serve, whatever upstream offers (issue 17's page
/// policies): a cooldown (`--min-age`, with exempt projects), a snapshot date
/// (`--exclude-newer`) and allow/deny lists. Pure decisions from a file's project,
/// version and PEP 700 upload time and the time now, so they are tested without a
/// network. Policies apply to what is served, never to what is stored: changing
/// them needs no re-download. A file without an upload time passes the time rules
/// (upstream did not say, and hiding every such file would empty old indexes).
public struct ReleaseFilter: Sendable {
    /// `--min-age`: files uploaded less than this many seconds ago are hidden.
    public var minAgeSeconds: Double?
    /// `--min-age-exempt`: projects the cooldown does not apply to.
    public var minAgeExempt: Set<ProjectName> = []
    /// `--exclude-newer`: files uploaded after this time (epoch seconds) are hidden.
    public var excludeNewer: Double?
    /// `--deny-file`.
    public var deny: ReleaseList?
    /// `--allow-file`: when set, only what it lists is served.
    public var allow: ReleaseList?

    public init() {}

    /// True when the filter changes nothing (pages are served as upstream gave them).
    public var isEmpty: Bool { minAgeSeconds == nil && excludeNewer == nil && deny == nil && allow == nil }

    /// Why a whole project is refused (404), or nil.
    public func projectRefusal(_ project: ProjectName) -> String? {
        if let deny, deny.projects.contains(project) { return "project \(project) is denied by the deny list" }
        if let allow, !allow.mentions(project) { return "project \(project) is not in the allow list" }
        return nil
    }

    /// Why one file is hidden, or nil when it may be listed and served.
    public func refusal(_ project: ProjectName, _ file: DistributionFile, now: Double) -> String? {
        if let reason = projectRefusal(project) { return reason }
        if let deny, let range = deny.range(matching: project, version: file.version) {
            return "\(project) \(file.version ?? file.filename) is denied by the deny list (\(project)\(range))"
        }
        if let allow, !allow.projects.contains(project), allow.range(matching: project, version: file.version) == nil {
            return "\(project) \(file.version ?? file.filename) is not in the allow list"
        }
        guard let uploaded = file.uploadTime.flatMap(RFC3339.seconds) else { return nil }
        if let excludeNewer, uploaded > excludeNewer {
            return "\(file.filename) was uploaded after the --exclude-newer date"
        }
        if let reason = cooldown(project, uploaded: uploaded, now: now) { return reason }
        return nil
    }

    private func cooldown(_ project: ProjectName, uploaded: Double, now: Double) -> String? {
        guard let minAge = minAgeSeconds, !minAgeExempt.contains(project), now - uploaded < minAge else { return nil }
        return "uploaded less than --min-age ago (cooldown)"
    }

    /// The page as the filter lets it be seen, and when that can next change by
    /// itself: the first moment a file hidden only by the cooldown becomes old
    /// enough (nil: never). PEP 700 `versions` keeps only versions with a file left.
    public func apply(_ page: ProjectPage, as project: ProjectName, now: Double) -> (page: ProjectPage, changesAt: Double?) {
        guard !isEmpty else { return (page, nil) }
        var shown = page
        var changesAt: Double?
        shown.files = page.files.filter { file in
            guard refusal(project, file, now: now) != nil else { return true }
            // Hidden by the cooldown alone: it will appear at upload + min-age.
            if let minAge = minAgeSeconds, let uploaded = file.uploadTime.flatMap(RFC3339.seconds),
               refusal(project, file, now: uploaded + minAge) == nil {
                changesAt = min(changesAt ?? .infinity, uploaded + minAge)
            }
            return false
        }
        let remaining = Set(shown.files.compactMap { $0.version.map(ReleaseList.normalizedVersion) })
        shown.versions = PageRenderer.versions(of: page).filter { remaining.contains(ReleaseList.normalizedVersion($0)) }
        return (shown, changesAt)
    }
}

/// An allow or deny list: one entry a line, `#` starts a comment; an entry is a
/// project name (the whole project) or a name with PEP 440 specifiers (`name==1.2.3`,
/// `name>=2,<3`, `name!=1.2.3`, `name~=1.4`, `name==1.*`): the versions they contain.
/// Versions compare as PEP 440 says (`1.0` is `1.0.0`); pre-releases are matched like any
/// version (a deny list must not let `2.0rc1` through `name>=2`). A file whose version is
/// not PEP 440 is matched only by a bare name.
public struct ReleaseList: Sendable, Equatable {
    public private(set) var projects: Set<ProjectName> = []
    /// Per project, version ranges (one a line); a version in any of them is listed.
    public private(set) var ranges: [ProjectName: [SpecifierSet]] = [:]

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    public init(parsing text: String, source: String) throws(Problem) {
        // Split on bytes: in Swift "\r\n" is one Character, so CRLF files would not split on "\n".
        for (number, rawBytes) in text.utf8.split(separator: 10, omittingEmptySubsequences: false).enumerated() {
            let rawLine = String(decoding: rawBytes, as: UTF8.self)
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
                .trimmingSpaces ?? ""
            if line.isEmpty { continue }
            let problem = Problem(description: "\(source):\(number + 1): '\(line)' is not a project name or name with"
                                  + " version specifiers (name, name==1.2, name>=2,<3)")
            guard let operatorStart = line.firstIndex(where: { "=<>!~".contains($0) }) else {
                guard let name = ProjectName(line) else { throw problem }
                projects.insert(name)
                continue
            }
            guard let name = ProjectName(line[..<operatorStart].trimmingSpaces),
                  case let clauses = line[operatorStart...].split(separator: ",", omittingEmptySubsequences: false),
                  clauses.allSatisfy({ !$0.trimmingSpaces.isEmpty }),
                  let range = SpecifierSet(parsing: line[operatorStart...]), !range.clauses.isEmpty
            else { throw problem }
            ranges[name, default: []].append(range)
        }
    }

    /// Listed at all, as a whole or by some version.
    func mentions(_ project: ProjectName) -> Bool { projects.contains(project) || ranges[project] != nil }

    /// The listed range `version` falls in, or nil.
    func range(matching project: ProjectName, version: String?) -> SpecifierSet? {
        guard let ranges = ranges[project], let version, let parsed = Version(version) else { return nil }
        return ranges.first { $0.contains(parsed, prereleases: true) }
    }

    /// Versions compare as strings after the PEP 440 spellings that do not change
    /// the version are undone: case, a leading `v`, surrounding spaces.
    static func normalizedVersion(_ version: String) -> String {
        let lower = version.trimmingSpaces.lowercased()
        return lower.hasPrefix("v") ? String(lower.dropFirst()) : lower
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        let scalars = unicodeScalars.drop { $0 == " " || $0 == "\t" || $0 == "\r" }
        var end = scalars.endIndex
        while end > scalars.startIndex, [" ", "\t", "\r"].contains(scalars[scalars.index(before: end)]) {
            end = scalars.index(before: end)
        }
        return String(String.UnicodeScalarView(scalars[scalars.startIndex..<end]))
    }
}
