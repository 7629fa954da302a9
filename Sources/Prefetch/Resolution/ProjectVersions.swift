import PyPICache

/// One project's releases as a target sees them: for each version, the files that
/// can install there (requires-python allows the target's Python; wheels whose tags
/// fit, else sdists), best first as pip ranks them. Built once per page and target.
struct ProjectVersions {
    struct Release {
        let version: Version
        /// Installable files, best first: wheels by tag rank, then sdists.
        let files: [DistributionFile]
    }

    /// Newest first.
    let releases: [Release]
    /// Every version the page lists, for explanations.
    let listed: [Version]

    init(page: ProjectPage, target: Target, tags: [String: Int]) {
        var byVersion: [Version: [(DistributionFile, Int)]] = [:]
        var listed: Set<Version> = []
        let python = Version("\(target.pythonMajor).\(target.pythonMinor)")!
        for file in page.files {
            guard let text = file.version, let version = Version(text) else { continue }
            listed.insert(version)
            if let rp = file.requiresPython, !rp.isEmpty, let spec = SpecifierSet(parsing: rp), !spec.contains(python, prereleases: true) { continue }
            let rank: Int
            if file.isWheel {
                guard let r = target.rank(ofWheel: file.filename, in: tags) else { continue }
                rank = r
            } else if ProjectVersions.isSdist(file.filename) {
                rank = Int.max  // pip prefers any fitting wheel of a version to its sdist
            } else {
                continue  // .egg, .exe, .msi, .rpm: pip never installs those
            }
            byVersion[version, default: []].append((file, rank))
        }
        releases = byVersion.keys.sorted(by: >).map { v in
            Release(version: v, files: byVersion[v]!.sorted { $0.1 < $1.1 }.map(\.0))
        }
        self.listed = listed.sorted(by: >)
    }

    static func isSdist(_ filename: String) -> Bool {
        filename.hasSuffix(".tar.gz") || filename.hasSuffix(".zip") || filename.hasSuffix(".tar.bz2") || filename.hasSuffix(".tgz")
    }

    /// The candidates pip would consider, best first, each with the file it would
    /// install: versions the specifier allows (pre-releases only when a clause names
    /// one or nothing else fits), files with the given hashes, and yanked files only
    /// when the specifier pins a version that only yanked files provide (PEP 592).
    func candidates(_ specifier: SpecifierSet, hashes: Set<String>) -> [(Version, DistributionFile)] {
        var applicable: [(Version, [DistributionFile])] = []
        for release in releases where specifier.contains(release.version, prereleases: true) {
            let files = hashes.isEmpty ? release.files : release.files.filter { $0.sha256.map(hashes.contains) == true }
            if !files.isEmpty { applicable.append((release.version, files)) }
        }
        if !specifier.allowsPrereleases, applicable.contains(where: { !$0.0.isPrerelease }) {
            applicable.removeAll { $0.0.isPrerelease }
        }
        let allYanked = applicable.allSatisfy { $0.1.allSatisfy { $0.yanked != nil } }
        let yankedAllowed = allYanked && specifier.pin != nil
        return applicable.compactMap { version, files in
            (files.first { $0.yanked == nil } ?? (yankedAllowed ? files.first : nil)).map { (version, $0) }
        }
    }
}
