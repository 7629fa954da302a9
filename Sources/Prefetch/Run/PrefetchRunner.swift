import PyPICache
import Reactor

/// Runs a prefetch against a wheelhouse server, in two phases:
/// 1. resolve: for every target, the input's full closure (Resolver), and for every
///    sdist in it, its build requirements' closure, all through `IndexData`;
/// 2. download every chosen file (and the PEP 658 `.metadata` of each wheel) that
///    phase 1 did not already bring in, a few at a time, so the server caches them.
/// With `check`, every request is `only-if-cached` and phase 2 only asks (HEAD):
/// the same resolution an offline install would make, and what it would miss.
public final class PrefetchRunner {
    public struct Options {
        public var server: String
        public var targets: [Target]
        public var allFiles = false
        public var check = false
        public var followDependencies = true
        public var buildConstraints: [Requirement] = []
        public var parallel = 4

        public init(server: String, targets: [Target]) {
            self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
            self.targets = targets
        }
    }

    public struct Summary: Equatable {
        public var resolved = 0
        public var fetched = 0
        public var alreadyCached = 0
        public var skipped = 0
        public var failed = 0
        /// --check: files, pages or metadata not in the cache.
        public var missing = 0
        public var bytes = 0
        public var metadataFiles = 0
        /// Filenames of the files now in the cache for this input (fetched or already there): the pins.
        public var files: Set<String> = []

        public var succeeded: Bool { failed == 0 && missing == 0 }
    }

    /// A file to end up in the cache, and why (for messages).
    private struct Wanted {
        let ref: FileRef
        let why: String
    }

    private let loop: EventLoop
    private let options: Options
    private let progress: Progress
    private let files: HTTPFetcher
    private let data: IndexData
    private var summary = Summary()
    private var jobs: [ResolutionJob] = []
    private var buildKeys: Set<String> = []
    /// One per target, shared by its resolvers.
    private var versionsCaches: [String: ProjectVersionsCache] = [:]
    private var wanted: [Wanted] = []
    private var wantedURLs: Set<String> = []
    /// Files already through the server (fetched to read their details).
    private var settled: Set<String> = []
    private var problemsReported: Set<String> = []
    static let maxJobs = 1_000

    public init(loop: EventLoop, options: Options, progress: Progress) {
        self.loop = loop
        self.options = options
        self.progress = progress
        // Pages and metadata are small: more of them at once than of files.
        let tagTables = options.targets.map { ($0, $0.compatibleTags) }
        let keepAll = options.allFiles
        let keep: (DistributionFile) -> Bool = { file in
            keepAll || !file.isWheel || tagTables.contains { target, tags in target.rank(ofWheel: file.filename, in: tags) != nil }
        }
        data = IndexData(fetcher: HTTPFetcher(loop: loop, limit: max(16, options.parallel)), server: options.server,
                         check: options.check, keep: keep)
        files = HTTPFetcher(loop: loop, limit: options.parallel)
        data.onArrival = { [unowned self] request in
            for job in jobs { if case .blocked(let r) = job.state, r == request { job.state = .runnable } }
        }
        data.onFile = { [unowned self] ref, outcome in fileSettled(ref, outcome) }
    }

    /// Drives the loop until every resolution and download is done.
    public func run(_ set: RequirementSet) throws -> Summary {
        try run([("", set)])
    }

    /// Each set is an environment of its own (a devstack service), resolved separately
    /// for every target; `name` labels its resolutions ("" for a single set).
    public func run(_ sets: [(name: String, set: RequirementSet)]) throws -> Summary {
        let hashed = sets.contains { $0.set.requirements.contains { !$0.hashes.isEmpty } || $0.set.constraints.contains { !$0.hashes.isEmpty } }
            || options.buildConstraints.contains { !$0.hashes.isEmpty }
        if !options.allFiles && !hashed { data.bestFiles = BestFiles(targets: options.targets) }
        for (name, set) in sets {
            for note in set.notes {
                progress.line(note)
                if note.contains("skipped") { summary.skipped += 1 }
            }
            for target in options.targets {
                let label = (name.isEmpty ? "" : "\(name) for ") + "Python \(target.pythonMajor).\(target.pythonMinor) on \(target.platforms.first ?? "?")"
                for r in set.requirements where !(r.marker?.evaluate(target.markerEnvironment) ?? true) {
                    summary.skipped += 1
                    progress.line("\(r.origin): skipped \(r.name) for \(label): marker excludes the target")
                }
                jobs.append(ResolutionJob(label: label, target: target, requirements: set.requirements,
                                          constraints: set.constraints, followDependencies: options.followDependencies,
                                          versions: versions(for: target)))
                for (origin, buildSystem) in set.buildSystems { addBuildJob(buildSystem, for: origin, target: target) }
            }
        }
        var downloading = false
        while true {
            runRunnableJobs()
            if !data.fetcherBusy && !jobs.contains(where: { if case .runnable = $0.state { true } else { false } }) {
                if downloading { if !files.busy { break } } else {
                    downloading = true
                    failStalledJobs()
                    startDownloads()
                    continue
                }
            }
            try loop.runOnce(maxWaitMilliseconds: 200)
            if downloading {
                progress.tick(done: summary.fetched + summary.alreadyCached + summary.failed + summary.missing,
                              total: wantedURLs.count, bytes: files.liveBytes, unit: "files")
            } else {
                progress.tick(done: data.answered, total: data.requestCount, bytes: data.liveBytes, unit: "resolving: requests")
            }
        }
        progress.finish()
        summary.metadataFiles = data.metadataFiles
        return summary
    }

    // MARK: - Resolution

    private func runRunnableJobs() {
        var ran = true
        while ran {
            ran = false
            for job in jobs {
                guard case .runnable = job.state else { continue }
                ran = true
                switch job.resolver.resolve(data) {
                case .needs(let blocking, let likely):
                    job.state = .blocked(blocking)
                    data.request(blocking)
                    for request in likely { data.request(request) }
                case .conflict(let lines):
                    job.state = .failed
                    summary.failed += 1
                    progress.line("error: cannot resolve \(job.label):\n" + lines.map { "  " + $0 }.joined(separator: "\n"))
                case .resolved(let pins, let holes):
                    if job.addDynamicBuildRequirements(given: pins) { continue }
                    job.state = .done
                    resolved(job, pins: pins, holes: holes)
                }
            }
        }
    }

    /// Every request has been answered, so no job can still be waiting; if one is,
    /// say so rather than report success with part of the closure missing.
    private func failStalledJobs() {
        for job in jobs {
            guard case .blocked(let request) = job.state else { continue }
            job.state = .failed
            problem("stalled|\(job.label)", missing: false, "\(job.label): resolution stopped waiting for the \(request) (a bug: please report it)")
        }
    }

    private func resolved(_ job: ResolutionJob, pins: [Pin], holes: [(ProjectName, String)]) {
        summary.resolved += pins.count
        let list = pins.map { "\($0.name)==\($0.version)" }
        if job.isBuild {
            progress.line("\(job.label): \(list.isEmpty ? "nothing" : list.joined(separator: ", "))")
        } else {
            progress.line(([("resolved \(job.label): \(pins.count) packages")] + list.map { "  " + $0 }).joined(separator: "\n"))
        }
        for (name, why) in holes { problem("\(job.label)|\(name)", missing: options.check && why.contains("not in the cache"), "\(name): \(why)") }
        for pin in pins {
            let why = "\(pin) for \(job.label), required by \(pin.requiredBy.joined(separator: ", "))"
            if let note = pin.note {
                if let p = data.detailProblems[pin.ref] { problem(pin.file.url, missing: p.missing, "\(p.reason) (\(why))") }
                else { progress.line("note: \(pin): \(note)") }
            }
            for file in filesToFetch(pin) where wantedURLs.insert(file.url).inserted {
                wanted.append(Wanted(ref: FileRef(project: pin.name, file: file), why: why))
            }
            if !pin.file.isWheel, let buildSystem = pin.buildSystem {
                addBuildJob(buildSystem, for: "\(pin)", target: job.target)
            }
        }
    }

    private func filesToFetch(_ pin: Pin) -> [DistributionFile] {
        guard options.allFiles, case .ready(let page) = data.page(pin.name) else { return [pin.file] }
        return page.files.filter { $0.version.flatMap(Version.init) == pin.version }
    }

    private func addBuildJob(_ buildSystem: BuildSystem, for what: String, target: Target) {
        guard buildKeys.insert(ResolutionJob.buildKey(buildSystem, target)).inserted, jobs.count < PrefetchRunner.maxJobs else { return }
        let origin = Requirement.Origin(file: "build requirements of \(what)", line: 0)
        var requirements: [Requirement] = []
        for text in buildSystem.requires {
            do { requirements.append(try RequirementsParser.requirement(text, hashes: [], origin: origin)) } catch {
                problem("build|\(what)|\(text)", missing: false, "\(what): unreadable build requirement '\(text)'")
            }
        }
        let label = "build requirements of \(what) (Python \(target.pythonMajor).\(target.pythonMinor))"
        jobs.append(ResolutionJob(label: label, target: target, requirements: requirements, constraints: options.buildConstraints,
                                  buildSystem: buildSystem, versions: versions(for: target)))
    }

    private func versions(for target: Target) -> ProjectVersionsCache {
        let key = "\(target.pythonMajor).\(target.pythonMinor)|\(target.platforms.first ?? "")"
        if let cache = versionsCaches[key] { return cache }
        let cache = ProjectVersionsCache()
        versionsCaches[key] = cache
        return cache
    }

    /// Reports a problem once, as missing (check) or failed.
    private func problem(_ key: String, missing: Bool, _ text: String) {
        guard problemsReported.insert(key).inserted else { return }
        if missing { summary.missing += 1 } else { summary.failed += 1 }
        progress.line("\(missing ? "missing" : "failed"): \(text)")
    }

    // MARK: - Files

    private func fileSettled(_ ref: FileRef, _ outcome: IndexData.FileOutcome) {
        guard settled.insert(ref.file.url).inserted else { return }
        switch outcome {
        case .fetched(let bytes):
            summary.fetched += 1
            summary.bytes += bytes
            summary.files.insert(ref.file.filename)
            progress.line("fetched: \(ref.file.filename) (\(Progress.format(bytes: bytes)))")
        case .cached:
            summary.alreadyCached += 1
            if !options.check { summary.files.insert(ref.file.filename) }
            if !options.check { progress.line("cached:  \(ref.file.filename)") }
        case .missing, .failed:
            settled.remove(ref.file.url)  // reported with its reason when the pin is
        }
    }

    private func download(_ item: Wanted) {
        let file = item.ref.file
        files.get(file.url, sha256: file.sha256, body: .discard) { [self] result in
            switch result {
            case .success(_, let bytes, let cache):
                fileSettled(item.ref, cache == "HIT" ? .cached : .fetched(bytes: bytes))
            case .failure(_, let reason):
                problem(file.url, missing: false, "\(file.filename): \(reason) (\(item.why))")
            }
        }
    }

    private func startDownloads() {
        for item in wanted where !settled.contains(item.ref.file.url) {
            let file = item.ref.file
            let headers = ["Cache-Control: only-if-cached"]
            // Ask first: a cached file need not travel (a devstack set is gigabytes).
            files.get(file.url, headers: headers, head: true, body: .discard) { [self] result in
                switch result {
                case .success:
                    fileSettled(item.ref, .cached)
                case .failure(let status, let reason) where options.check:
                    let missing = options.check && status == 504
                    problem(file.url, missing: missing, "\(file.filename)\(missing ? " not in the cache" : ": " + reason) (\(item.why))")
                case .failure:
                    download(item)
                }
            }
            // PEP 658: resolvers read `.metadata` before choosing; offline they must find it too.
            if file.isWheel, file.coreMetadata != nil, !data.hasDetails(item.ref) {
                files.get(file.url + ".metadata", headers: options.check ? headers : [], head: options.check, body: .discard) { [self] result in
                    if case .failure(let status, let reason) = result {
                        let missing = options.check && status == 504
                        problem(file.url + ".metadata", missing: missing, "metadata of \(file.filename)\(missing ? " not in the cache" : ": " + reason)")
                    }
                }
            }
        }
    }
}
