import PyPICache

/// Something the resolver needs from the index before it can go on.
public enum DataRequest: Hashable, Sendable, CustomStringConvertible {
    /// A project's page.
    case page(ProjectName)
    /// What a file says about itself: its core metadata (PEP 658 `.metadata`, or the
    /// wheel's METADATA, or an sdist's PKG-INFO/pyproject.toml) and, for an sdist,
    /// its build system.
    case details(FileRef)

    public var description: String {
        switch self {
        case .page(let name): "page of \(name)"
        case .details(let ref): "metadata of \(ref.file.filename)"
        }
    }
}

/// A distribution file of a project, compared by URL.
public struct FileRef: Hashable, Sendable {
    public let project: ProjectName
    public let file: DistributionFile

    public static func == (a: FileRef, b: FileRef) -> Bool { a.file.url == b.file.url }
    public func hash(into hasher: inout Hasher) { hasher.combine(file.url) }
}

/// The answer to a data request: there, still on its way, or not to be had (why).
public enum Lookup<Value> {
    case ready(Value)
    case pending
    case unavailable(String)
}

/// `[build-system]` of an sdist (PEP 517/518), or pip's default for projects without one.
public struct BuildSystem: Equatable, Sendable {
    public var requires: [String]
    public var backend: String?
    /// No pyproject.toml `[build-system]`: pip's legacy default was used.
    public var defaulted: Bool

    /// What pip assumes for a project with no `[build-system]`: setuptools' legacy
    /// backend, with `setuptools>=40.8.0` and (pip before 25.1) `wheel`. uv asks for
    /// setuptools only; fetching wheel too covers both at the cost of one small file.
    public static let legacy = BuildSystem(requires: ["setuptools>=40.8.0", "wheel"], backend: "setuptools.build_meta:__legacy__", defaulted: true)

    public var usesSetuptools: Bool { backend?.hasPrefix("setuptools.build_meta") ?? true }
}

/// What resolution learns from one file.
public struct DistributionDetails: Equatable, Sendable {
    public var metadata: CoreMetadata
    /// False when the dependencies cannot be known without building (sdists whose
    /// metadata is older than 2.2, or declares them dynamic).
    public var dependenciesKnown: Bool
    /// Sdists only.
    public var buildSystem: BuildSystem?

    public init(metadata: CoreMetadata, dependenciesKnown: Bool = true, buildSystem: BuildSystem? = nil) {
        self.metadata = metadata
        self.dependenciesKnown = dependenciesKnown
        self.buildSystem = buildSystem
    }
}

/// Where the resolver's data comes from. Answers from memory, never blocks:
/// what is not there yet is `.pending`, and the caller runs the resolver again
/// once it has arrived.
public protocol ResolverData: AnyObject {
    func page(_ name: ProjectName) -> Lookup<ProjectPage>
    func details(_ ref: FileRef) -> Lookup<DistributionDetails>
}

/// A project chosen for the target: version, extras, the one file pip would install.
public struct Pin: Equatable, Sendable, CustomStringConvertible {
    public let name: ProjectName
    public let version: Version
    public let extras: Set<String>
    public let file: DistributionFile
    /// Projects this pin's requirements name (markers applied).
    public internal(set) var dependencies: [ProjectName] = []
    /// Set when the file's details could not be had (check mode: not cached; or its
    /// dependencies are dynamic): its dependencies are not known.
    public internal(set) var note: String?
    public internal(set) var buildSystem: BuildSystem?
    /// Who required it: pins ("alpha 2.0") or the input ("the input (reqs.txt:3)").
    public internal(set) var requiredBy: [String] = []

    public var description: String { "\(name) \(version)" }
    public var ref: FileRef { FileRef(project: name, file: file) }
}

/// A requirement on a project and who made it: the input (parent nil) or a pin.
struct Demand: Equatable {
    let requirement: Requirement
    let parent: String?

    /// Build requirements come from a build system, not from the user's input.
    var source: String {
        parent ?? (requirement.origin.file.hasPrefix("build requirements of ") ? requirement.origin.file : "the input (\(requirement.origin))")
    }
    var text: String {
        let extras = requirement.extras.isEmpty ? "" : "[\(requirement.extras.joined(separator: ","))]"
        let spec = requirement.specifier.description
        return "\(requirement.name)\(extras)\(spec.isEmpty ? "" : spec)"
    }
}

/// Everything known about one project in one search state.
struct Criterion {
    var demands: [Demand] = []
    /// Versions already tried in this state, and why each failed.
    var excluded: [Version: String] = [:]
    /// Order in which versions were excluded (for stable explanations).
    var excludedOrder: [Version] = []

    var extras: Set<String> { Set(demands.flatMap { $0.requirement.extras.map(Marker.normalizeExtra) }) }

    mutating func exclude(_ version: Version, because why: String) {
        if excluded.updateValue(why, forKey: version) == nil { excludedOrder.append(version) }
    }
}

/// The resolution of one job.
public enum ResolutionOutcome {
    /// Every requirement has a pin. `holes`: projects that could not be looked at
    /// (no page, not cached), with why and who wanted them.
    case resolved(pins: [Pin], holes: [(ProjectName, String)])
    /// Data is missing: `blocking` first, then what will probably be needed next.
    case needs(blocking: DataRequest, likely: [DataRequest])
    /// No set of versions fits: the explanation, one line per fact.
    case conflict([String])
}
