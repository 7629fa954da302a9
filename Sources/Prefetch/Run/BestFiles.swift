import PyPICache

/// Of a page's files, the ones the resolver can end up choosing: for every target
/// and version, the best-ranked installable file and the best-ranked one not
/// yanked (`ProjectVersions.candidates` takes one of those two and looks at no
/// other). A real page lists an sdist and dozens of wheels per release, of which
/// a target can use a few; keeping those few is what keeps a prefetch of hundreds
/// of projects small. Not for inputs with `--hash` (a hash may name any file) or
/// `--all-files` (every file of the chosen version is wanted).
struct BestFiles {
    private let targets: [(target: Target, tags: [String: Int], python: Version)]

    init(targets: [Target]) {
        self.targets = targets.map { ($0, $0.compatibleTags, Version("\($0.pythonMajor).\($0.pythonMinor)")!) }
    }

    func select(_ files: [DistributionFile]) -> [DistributionFile] {
        struct Best { var any: (index: Int, rank: Int); var unyanked: (index: Int, rank: Int)? }
        var best: [Int: [Version: Best]] = [:]  // by target
        var parsedRequires: [String: SpecifierSet?] = [:]
        for (index, file) in files.enumerated() {
            guard let text = file.version, let version = Version(text) else { continue }
            let spec: SpecifierSet?
            if let rp = file.requiresPython, !rp.isEmpty {
                if let known = parsedRequires[rp] { spec = known } else { spec = SpecifierSet(parsing: rp); parsedRequires[rp] = spec }
            } else {
                spec = nil
            }
            for (t, entry) in targets.enumerated() {
                // The same tests, in the same order, as ProjectVersions.
                if let spec, !spec.contains(entry.python, prereleases: true) { continue }
                let rank: Int
                if file.isWheel {
                    guard let r = entry.target.rank(ofWheel: file.filename, in: entry.tags) else { continue }
                    rank = r
                } else if ProjectVersions.isSdist(file.filename) {
                    rank = Int.max
                } else {
                    continue
                }
                var b = best[t, default: [:]][version] ?? Best(any: (index, rank), unyanked: nil)
                if rank < b.any.rank { b.any = (index, rank) }
                if file.yanked == nil, b.unyanked.map({ rank < $0.rank }) ?? true { b.unyanked = (index, rank) }
                best[t, default: [:]][version] = b
            }
        }
        var chosen = Set<Int>()
        for byVersion in best.values {
            for b in byVersion.values {
                chosen.insert(b.any.index)
                if let u = b.unyanked { chosen.insert(u.index) }
            }
        }
        // Page order kept: ProjectVersions breaks rank ties by it.
        return chosen.sorted().map { files[$0] }
    }
}
