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
        let version = file.version.map(ReleaseList.normalizedVersion)
        if let deny, let version, deny.versions[project]?.contains(version) == true {
            return "\(project) \(version) is denied by the deny list"
        }
        if let allow, !allow.projects.contains(project), version.map({ allow.versions[project]?.contains($0) == true }) != true {
            return "\(project) \(version ?? file.filename) is not in the allow list"
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
/// project name (the whole project) or `name==version` (one version). Other PEP 440
/// specifiers (`<`, `>=`, `~=`, `!=`, `===`) are refused when the list is read.
public struct ReleaseList: Sendable, Equatable {
    public private(set) var projects: Set<ProjectName> = []
    public private(set) var versions: [ProjectName: Set<String>] = [:]

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
            let problem = Problem(description: "\(source):\(number + 1): '\(line)' is not a project name or name==version"
                                  + " (other specifiers are not supported)")
            let parts = line.split(separator: "=", maxSplits: 2, omittingEmptySubsequences: false)
            if parts.count == 1 {
                guard let name = ProjectName(line) else { throw problem }
                projects.insert(name)
            } else {
                guard parts.count == 3, parts[1].isEmpty, let name = ProjectName(parts[0].trimmingSpaces),
                      case let version = parts[2].trimmingSpaces, !version.isEmpty, !version.hasPrefix("="),
                      version.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: ",") })
                else { throw problem }
                versions[name, default: []].insert(ReleaseList.normalizedVersion(version))
            }
        }
    }

    /// Listed at all, as a whole or by some version.
    func mentions(_ project: ProjectName) -> Bool { projects.contains(project) || versions[project] != nil }

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
