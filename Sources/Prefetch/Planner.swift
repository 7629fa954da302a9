import PyPICache

/// Chooses what to fetch for one requirement from its project page, as
/// `pip download` would for the target: no dependency resolution.
/// - pinned (`==x`, `===x`): that version's files, yanked or not;
/// - otherwise the newest version the specifiers (and constraints) allow, skipping
///   pre-releases unless asked for or nothing else fits, and versions with no usable file;
/// - of that version, the best-ranked compatible wheel, else the sdist; or every
///   file with `--all-files`. `--hash` options restrict the files to those hashes.
public struct Planner {
    public enum Plan: Equatable {
        case files(version: String, [DistributionFile])
        case skip(String)
        case fail(String)
    }

    let target: Target
    let tags: [String: Int]
    let allFiles: Bool

    public init(target: Target, allFiles: Bool) {
        self.target = target
        self.tags = target.compatibleTags
        self.allFiles = allFiles
    }

    public func plan(_ requirement: Requirement, constraints: [Requirement], page: ProjectPage) -> Plan {
        if let marker = requirement.marker, !marker.evaluate(target.markerEnvironment) {
            return .skip("marker excludes Python \(target.pythonMajor).\(target.pythonMinor) on \(target.platforms.first ?? "?")")
        }
        var specifier = requirement.specifier
        for c in constraints where c.name == requirement.name && (c.marker?.evaluate(target.markerEnvironment) ?? true) {
            specifier.clauses += c.specifier.clauses
        }
        let hashes = Set(requirement.hashes + constraints.filter { $0.name == requirement.name }.flatMap(\.hashes))

        var byVersion: [Version: [DistributionFile]] = [:]
        for file in page.files {
            guard let text = file.version, let v = Version(text) else { continue }
            byVersion[v, default: []].append(file)
        }
        let pinned = specifier.pin != nil
        var candidates = byVersion.keys.filter { specifier.contains($0) }
        if candidates.isEmpty { candidates = byVersion.keys.filter { specifier.contains($0, prereleases: true) } }
        for version in candidates.sorted(by: >) {
            let usable = byVersion[version]!.filter { file in
                (pinned || file.yanked == nil) && supportsTarget(file) && (hashes.isEmpty || file.sha256.map(hashes.contains) == true)
            }
            if let chosen = choose(usable) { return .files(version: version.description, chosen) }
        }
        if byVersion.isEmpty { return .fail("\(requirement.name) lists no installable files") }
        return .fail("no file of \(requirement.name)\(specifier.clauses.isEmpty ? "" : " " + specifier.description) fits Python \(target.pythonMajor).\(target.pythonMinor) on \(target.platforms.first ?? "?")" + (hashes.isEmpty ? "" : " with the given hashes"))
    }

    private func supportsTarget(_ file: DistributionFile) -> Bool {
        guard let rp = file.requiresPython, !rp.isEmpty else { return true }
        guard let spec = SpecifierSet(parsing: rp), let python = Version("\(target.pythonMajor).\(target.pythonMinor)") else { return true }
        return spec.contains(python, prereleases: true)
    }

    private func choose(_ files: [DistributionFile]) -> [DistributionFile]? {
        guard !files.isEmpty else { return nil }
        if allFiles { return files }
        let wheels = files.compactMap { f in target.rank(ofWheel: f.filename, in: tags).map { (f, $0) } }
        if let best = wheels.min(by: { $0.1 < $1.1 }) { return [best.0] }
        let sdists = files.filter { !$0.isWheel && !$0.filename.hasSuffix(".exe") && !$0.filename.hasSuffix(".egg") && !$0.filename.hasSuffix(".msi") }
        return sdists.first.map { [$0] }
    }
}
