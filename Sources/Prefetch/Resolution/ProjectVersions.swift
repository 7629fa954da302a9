import PyPICache

/// One project's releases as a target sees them: for each version, the files that
/// can install there (requires-python allows the target's Python; wheels whose tags
/// fit, else sdists), best first as pip ranks them. Built once per page and target.
struct ProjectVersions {
    struct Release {
        let version: Version
        /// Installable files (indices into `files`), best first: wheels by tag rank, then sdists.
        let files: [Int32]
    }

    /// A candidate: a release and the one file pip would take of it (indices).
    struct Candidate {
        let release: Int32
        let file: Int32
    }

    /// The page's own array (shared storage, not a copy): releases refer to it by index.
    let files: [DistributionFile]
    /// Newest first.
    let releases: [Release]

    init(page: ProjectPage, target: Target, tags: [String: Int]) {
        files = page.files
        var byVersion: [Version: [(Int32, Int)]] = [:]
        let python = Version("\(target.pythonMajor).\(target.pythonMinor)")!
        for (index, file) in files.enumerated() {
            guard let text = file.version, let version = Version(text) else { continue }
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
            byVersion[version, default: []].append((Int32(index), rank))
        }
        releases = byVersion.keys.sorted(by: >).map { v in
            Release(version: v, files: byVersion[v]!.sorted { $0.1 < $1.1 }.map(\.0))
        }
    }

    static func isSdist(_ filename: String) -> Bool {
        filename.hasSuffix(".tar.gz") || filename.hasSuffix(".zip") || filename.hasSuffix(".tar.bz2") || filename.hasSuffix(".tgz")
    }

    func version(_ c: Candidate) -> Version { releases[Int(c.release)].version }
    func file(_ c: Candidate) -> DistributionFile { files[Int(c.file)] }

    /// The candidates pip would consider, best first, each with the file it would
    /// install: versions the specifier allows (pre-releases only when a clause names
    /// one or nothing else fits), files with the given hashes, and yanked files only
    /// when the specifier pins a version that only yanked files provide (PEP 592).
    func candidates(_ specifier: SpecifierSet, hashes: Set<String>) -> [Candidate] {
        var applicable: [(Int32, [Int32])] = []
        for (r, release) in releases.enumerated() where specifier.contains(release.version, prereleases: true) {
            let fitting = hashes.isEmpty ? release.files : release.files.filter { files[Int($0)].sha256.map(hashes.contains) == true }
            if !fitting.isEmpty { applicable.append((Int32(r), fitting)) }
        }
        if !specifier.allowsPrereleases, applicable.contains(where: { !releases[Int($0.0)].version.isPrerelease }) {
            applicable.removeAll { releases[Int($0.0)].version.isPrerelease }
        }
        let allYanked = applicable.allSatisfy { $0.1.allSatisfy { files[Int($0)].yanked != nil } }
        let yankedAllowed = allYanked && specifier.pin != nil
        return applicable.compactMap { release, fitting in
            (fitting.first { files[Int($0)].yanked == nil } ?? (yankedAllowed ? fitting.first : nil)).map { Candidate(release: release, file: $0) }
        }
    }
}
