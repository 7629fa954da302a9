import PyPICache

/// A backtracking dependency resolver, after resolvelib's design (pip's resolver):
/// a stack of search states; each round picks one project whose requirements the
/// current pins do not meet, tries its candidates newest first, and pushes a new
/// state for the first one whose dependencies fit what is already chosen. When no
/// candidate fits, the state is popped and the version that led there is excluded
/// one state down (chronological backtracking: slower than backjumping on hard
/// cases, but it never skips a solution). Every exclusion keeps its reason, so a
/// failure explains itself as a tree of "X requires Y, but Z is chosen".
///
/// The resolver never waits: its data comes from a `ResolverData` that answers from
/// memory. When something is missing it stops with `.needs` (the request it is
/// blocked on, plus what it will likely ask for next, so the caller can fetch in
/// parallel), and the caller runs it again once data has arrived. A run resumes
/// from the stack where the last one stopped: every step before that point used
/// only answers that were already there, and answers never change, so a fresh
/// run would retrace exactly those steps. The result is a pure function of the
/// data: the same pins whatever order responses arrive in.
public final class Resolver {
    public let target: Target
    let inputs: [Requirement]
    let constraints: [ProjectName: [Requirement]]
    let environment: [String: String]
    let tags: [String: Int]
    let python: Version
    /// Candidates tried before giving up: a hopeless search is exponential.
    let maxAttempts: Int

    private let versionsCache: ProjectVersionsCache
    private var parsedCache: [String: ParsedDetails] = [:]
    /// Candidates by project and (specifier, hashes): the same questions come back often.
    private var candidatesCache: [ProjectName: [String: [ProjectVersions.Candidate]]] = [:]
    /// Where the last run stopped for data (see the type's comment).
    private var savedSearch: SearchState?
    /// Runs so far (the first, and one per resumption).
    public private(set) var runs = 0
    /// Candidates tried in the last run (a measure of how much backtracking it took).
    public private(set) var attempts = 0

    struct ParsedDetails {
        let requires: [Requirement]
        let providedExtras: Set<String>
        let requiresPython: SpecifierSet?
        let details: DistributionDetails
    }

    typealias State = SearchState.State

    /// What accepting a candidate changes.
    struct Plan {
        let pin: Pin
        /// Re-pinning (more extras): the old pin's demands no longer hold.
        let dropDemandsOf: String?
        let demands: [Demand]
    }

    enum Trial {
        case accepted(Plan)
        case rejected(String)
        case pending(DataRequest)
    }

    /// false: pins only what the input names (`--no-deps`); details are read only for
    /// sdists, whose build systems still matter.
    let followDependencies: Bool

    /// `versions`: shared by the resolvers of one target (a build's and the input's).
    public init(target: Target, requirements: [Requirement], constraints: [Requirement], followDependencies: Bool = true,
                versions: ProjectVersionsCache = ProjectVersionsCache(), maxAttempts: Int = 100_000) {
        self.target = target
        self.maxAttempts = maxAttempts
        versionsCache = versions
        self.followDependencies = followDependencies
        environment = target.markerEnvironment
        tags = target.compatibleTags
        python = Version("\(target.pythonMajor).\(target.pythonMinor)")!
        inputs = requirements.filter { $0.marker?.evaluate(target.markerEnvironment) ?? true }
        var byName: [ProjectName: [Requirement]] = [:]
        for c in constraints where c.marker?.evaluate(target.markerEnvironment) ?? true { byName[c.name, default: []].append(c) }
        self.constraints = byName
    }

    public func resolve(_ data: ResolverData) -> ResolutionOutcome {
        runs += 1
        var search: SearchState
        if let saved = savedSearch {
            search = saved
            savedSearch = nil
        } else {
            search = SearchState()
            for requirement in inputs { search.add(Demand(requirement: requirement, parent: nil)) }
            attempts = 0
        }
        func stop(_ blocking: DataRequest, _ open: [ProjectName]) -> ResolutionOutcome {
            savedSearch = search
            return .needs(blocking: blocking, likely: likely(open, search.state, data))
        }
        while true {
            let open = search.state.order.filter { !isSatisfied($0, in: search.state) }
            if open.isEmpty { return finish(search.state) }
            let name = preferred(open, in: search.state)
            let versions: ProjectVersions
            switch self.versions(of: name, data) {
            case .pending: return stop(.page(name), open)
            case .unavailable(let why):
                search.setHole(name, why)
                continue
            case .ready(let v): versions = v
            }
            let criterion = search.state.criteria[name]!
            var accepted = false
            for candidate in candidates(name, versions, spec(name, criterion), hashes(name, criterion))
            where criterion.excluded[versions.version(candidate)] == nil {
                let version = versions.version(candidate), file = versions.file(candidate)
                attempts += 1
                guard attempts <= maxAttempts else {
                    return .conflict(["gave up after trying \(maxAttempts) candidates: pin more requirements"])
                }
                switch trial(name, version, file, in: search.state, data) {
                case .pending(let request): return stop(request, open)
                case .rejected(let why): search.updateCriterion(name) { $0.exclude(version, because: why) }
                case .accepted(let plan):
                    search.decide(name, version)
                    apply(plan, to: &search)
                    accepted = true
                }
                if accepted { break }
            }
            if accepted { continue }
            let why = explain(name, in: search.state, versions)
            guard let (decision, version) = search.undoDecision() else { return .conflict(why) }
            // The deeper explanation, shortened: reasons nest once per level backtracked.
            let nested = why.prefix(8).joined(separator: "\n") + (why.count > 8 ? "\n  ..." : "")
            search.updateCriterion(decision) { $0.exclude(version, because: "leads to a conflict:\n" + nested) }
        }
    }

    private func apply(_ plan: Plan, to search: inout SearchState) {
        if let parent = plan.dropDemandsOf {
            for name in search.state.order where search.state.criteria[name]!.demands.contains(where: { $0.parent == parent }) {
                search.updateCriterion(name) { $0.demands.removeAll { $0.parent == parent } }
            }
        }
        for demand in plan.demands { search.add(demand) }
        search.setPin(plan.pin.name, plan.pin)
    }

    // MARK: - One candidate

    private func trial(_ name: ProjectName, _ version: Version, _ file: DistributionFile, in state: State, _ data: ResolverData) -> Trial {
        let ref = FileRef(project: name, file: file)
        var parsed: ParsedDetails?
        var note: String?
        if !followDependencies {
            var pin = Pin(name: name, version: version, extras: state.criteria[name]!.extras, file: file)
            if !file.isWheel {
                switch details(ref, data) {
                case .pending: return .pending(.details(ref))
                case .unavailable(let why): pin.note = why
                case .ready(let p): pin.buildSystem = p.details.buildSystem
                }
            }
            return .accepted(Plan(pin: pin, dropDemandsOf: nil, demands: []))
        }
        switch details(ref, data) {
        case .pending: return .pending(.details(ref))
        case .unavailable(let why): note = "dependencies unknown: \(why)"
        case .ready(let p):
            parsed = p
            if !p.details.dependenciesKnown { note = "dependencies unknown without a build (sdist metadata older than 2.2, or dynamic): pin them in the input" }
        }
        if let rp = parsed?.requiresPython, !rp.contains(python, prereleases: true) {
            return .rejected("requires Python \(rp)")
        }
        let me = "\(name) \(version)"
        var extras = state.criteria[name]!.extras
        var requires = parsed.map { dependencies($0, extras: extras) } ?? []
        // `pkg[a]` may require `pkg[b]`: grow the extras until they stop changing.
        for _ in 0..<8 {
            let more = Set(requires.filter { $0.name == name }.flatMap { $0.extras.map(Marker.normalizeExtra) })
            if more.isSubset(of: extras) { break }
            extras.formUnion(more)
            requires = parsed.map { dependencies($0, extras: extras) } ?? []
        }
        var demands: [Demand] = []
        for requirement in requires where requirement.name != name {
            let demand = Demand(requirement: requirement, parent: me)
            let depName = requirement.name
            if state.holes[depName] == nil, let pin = state.pins[depName], !satisfies(pin, requirement, extrasToo: false) {
                let others = state.criteria[depName]!.demands.map(\.source).joined(separator: ", ")
                return .rejected("requires \(demand.text), but \(pin) is chosen (required by \(others))")
            }
            switch self.versions(of: depName, data) {
            case .pending: return .pending(.page(depName))
            case .unavailable: break
            case .ready(let versions):
                var merged = state.criteria[depName] ?? Criterion()
                merged.demands.append(demand)
                let fits = candidates(depName, versions, spec(depName, merged), hashes(depName, merged)).contains { merged.excluded[versions.version($0)] == nil }
                if !fits {
                    let others = merged.demands.dropLast().map { "\($0.text) (\($0.source))" } + (constraints[depName] ?? []).map { "\($0.specifier) (constraint, \($0.origin))" }
                    return .rejected("requires \(demand.text), but no version of \(depName) fits" + (others.isEmpty ? " (there are: \(listing(versions)))" : " it and " + others.joined(separator: ", ")))
                }
            }
            demands.append(demand)
        }
        var pin = Pin(name: name, version: version, extras: extras, file: file)
        pin.dependencies = requires.map(\.name).filter { $0 != name }
        pin.note = note
        pin.buildSystem = parsed?.details.buildSystem
        // Re-pinning (more extras asked for): what the old pin required no longer holds.
        let old = state.pins[name].map { "\(name) \($0.version)" }
        return .accepted(Plan(pin: pin, dropDemandsOf: old, demands: demands))
    }

    /// Requires-Dist entries that apply to the target with these extras.
    /// Extras the metadata does not provide (Provides-Extra) are ignored, as pip does.
    private func dependencies(_ parsed: ParsedDetails, extras requested: Set<String>) -> [Requirement] {
        let extras = requested.intersection(parsed.providedExtras)
        return parsed.requires.filter { requirement in
            guard let marker = requirement.marker else { return true }
            var env = environment
            if marker.evaluate(env) { return true }
            for extra in extras {
                env["extra"] = extra
                if marker.evaluate(env) { return true }
            }
            return false
        }
    }

    // MARK: - State queries

    private func isSatisfied(_ name: ProjectName, in state: State) -> Bool {
        if state.holes[name] != nil { return true }
        let demands = state.criteria[name]!.demands
        guard !demands.isEmpty else { return true }  // only a dropped pin asked for it
        guard let pin = state.pins[name] else { return false }
        return demands.allSatisfy { satisfies(pin, $0.requirement, extrasToo: true) }
    }

    private func satisfies(_ pin: Pin, _ requirement: Requirement, extrasToo: Bool) -> Bool {
        guard requirement.specifier.contains(pin.version, prereleases: true) else { return false }
        return !extrasToo || Set(requirement.extras.map(Marker.normalizeExtra)).isSubset(of: pin.extras)
    }

    /// Exact pins first (they have one candidate, and decide much), then in the order required.
    private func preferred(_ open: [ProjectName], in state: State) -> ProjectName {
        open.first { name in state.criteria[name]!.demands.contains { $0.requirement.specifier.pin != nil } } ?? open[0]
    }

    private func spec(_ name: ProjectName, _ criterion: Criterion) -> SpecifierSet {
        SpecifierSet(criterion.demands.flatMap(\.requirement.specifier.clauses) + (constraints[name] ?? []).flatMap(\.specifier.clauses))
    }

    private func hashes(_ name: ProjectName, _ criterion: Criterion) -> Set<String> {
        Set(criterion.demands.flatMap(\.requirement.hashes) + (constraints[name] ?? []).flatMap(\.hashes))
    }

    /// What the next runs will probably ask for: pages of the projects still open,
    /// and the details of their best candidates.
    private func likely(_ open: [ProjectName], _ state: State, _ data: ResolverData) -> [DataRequest] {
        var out: [DataRequest] = []
        for name in open.prefix(500) {
            guard case .ready(let versions) = self.versions(of: name, data) else {
                out.append(.page(name))
                continue
            }
            let criterion = state.criteria[name]!
            if let best = candidates(name, versions, spec(name, criterion), hashes(name, criterion)).first(where: { criterion.excluded[versions.version($0)] == nil }),
               followDependencies || !versions.file(best).isWheel {
                let ref = FileRef(project: name, file: versions.file(best))
                if case .pending = data.details(ref) { out.append(.details(ref)) }
            }
        }
        return out
    }

    // MARK: - Data, parsed once

    private func candidates(_ name: ProjectName, _ versions: ProjectVersions, _ spec: SpecifierSet, _ hashes: Set<String>) -> [ProjectVersions.Candidate] {
        let key = spec.description + "|" + hashes.sorted().joined(separator: ",")
        if let cached = candidatesCache[name]?[key] { return cached }
        let found = versions.candidates(spec, hashes: hashes)
        candidatesCache[name, default: [:]][key] = found
        return found
    }

    private func versions(of name: ProjectName, _ data: ResolverData) -> Lookup<ProjectVersions> {
        if let cached = versionsCache.entries[name] { return .ready(cached) }
        switch data.page(name) {
        case .pending: return .pending
        case .unavailable(let why): return .unavailable(why)
        case .ready(let page):
            let versions = ProjectVersions(page: page, target: target, tags: tags)
            versionsCache.entries[name] = versions
            return .ready(versions)
        }
    }

    private func details(_ ref: FileRef, _ data: ResolverData) -> Lookup<ParsedDetails> {
        if let cached = parsedCache[ref.file.url] { return .ready(cached) }
        switch data.details(ref) {
        case .pending: return .pending
        case .unavailable(let why): return .unavailable(why)
        case .ready(let details):
            let origin = Requirement.Origin(file: "\(ref.project) \(ref.file.version ?? "?")", line: 0)
            let requires = details.dependenciesKnown ? details.metadata.requiresDist.compactMap { text -> Requirement? in
                guard RequirementsParser.notFromAnIndex(text) == nil else { return nil }
                return try? RequirementsParser.requirement(text, hashes: [], origin: origin)
            } : []
            let parsed = ParsedDetails(requires: requires, providedExtras: Set(details.metadata.providesExtra.map(Marker.normalizeExtra)), requiresPython: details.metadata.requiresPython.flatMap { SpecifierSet(parsing: $0) }, details: details)
            parsedCache[ref.file.url] = parsed
            return .ready(parsed)
        }
    }

    // MARK: - Results

    /// The pins reachable from the input (a re-pin can leave some behind), in the order required.
    private func finish(_ state: State) -> ResolutionOutcome {
        var reachable: Set<ProjectName> = []
        var queue = inputs.map(\.name)
        while let name = queue.popLast() {
            guard reachable.insert(name).inserted else { continue }
            queue += state.pins[name]?.dependencies ?? []
        }
        let pins = state.order.filter(reachable.contains).compactMap { name -> Pin? in
            guard var pin = state.pins[name] else { return nil }
            pin.requiredBy = state.criteria[name]!.demands.map(\.source)
            return pin
        }
        let holes = state.order.filter { reachable.contains($0) && state.holes[$0] != nil }.map { name in
            (name, "\(state.holes[name]!) (required by \(state.criteria[name]!.demands.map(\.source).joined(separator: ", ")))")
        }
        return .resolved(pins: pins, holes: holes)
    }

    private func explain(_ name: ProjectName, in state: State, _ versions: ProjectVersions) -> [String] {
        let criterion = state.criteria[name]!
        var lines = ["no version of \(name) fits:"]
        for demand in criterion.demands { lines.append("  \(demand.text) is required by \(demand.source)") }
        for c in constraints[name] ?? [] { lines.append("  \(c.name)\(c.specifier) is a constraint (\(c.origin))") }
        if criterion.excludedOrder.isEmpty {
            lines.append("  versions with a file for Python \(python) on \(target.platforms.first ?? "?"): \(listing(versions))")
        }
        for version in criterion.excludedOrder {
            let reason = criterion.excluded[version]!.split(separator: "\n")
            lines.append("  \(name) \(version) \(reason.first ?? "")")
            lines += reason.dropFirst().prefix(12).map { "    " + $0 }
        }
        return lines
    }

    private func listing(_ versions: ProjectVersions) -> String {
        let shown = versions.releases.prefix(12).map { $0.version.description + ($0.files.allSatisfy { versions.files[Int($0)].yanked != nil } ? " (yanked)" : "") }
        return shown.isEmpty ? "none" : shown.joined(separator: ", ") + (versions.releases.count > 12 ? ", ..." : "")
    }
}

/// Projects' versions as one target sees them, parsed once for every resolver of that target.
public final class ProjectVersionsCache {
    var entries: [ProjectName: ProjectVersions] = [:]
    public init() {}
}
