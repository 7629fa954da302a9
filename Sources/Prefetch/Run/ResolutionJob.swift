import PyPICache

/// One resolution to run: the input for one target, or the build requirements of
/// one build system (pip installs those into a fresh environment for every sdist
/// it builds, from the same index).
final class ResolutionJob {
    enum State {
        case runnable
        case blocked(DataRequest)
        case done
        case failed
    }

    let label: String
    let target: Target
    private(set) var requirements: [Requirement]
    let constraints: [Requirement]
    let followDependencies: Bool
    /// Build jobs: the build system whose `requires` this resolves.
    let buildSystem: BuildSystem?
    private(set) var resolver: Resolver
    var state = State.runnable
    private(set) var addedWheel = false
    private let versions: ProjectVersionsCache

    init(label: String, target: Target, requirements: [Requirement], constraints: [Requirement],
         followDependencies: Bool = true, buildSystem: BuildSystem? = nil, versions: ProjectVersionsCache) {
        self.versions = versions
        self.label = label
        self.target = target
        self.requirements = requirements
        self.constraints = constraints
        self.followDependencies = followDependencies
        self.buildSystem = buildSystem
        resolver = Resolver(target: target, requirements: requirements, constraints: constraints, followDependencies: followDependencies,
                            versions: versions)
    }

    var isBuild: Bool { buildSystem != nil }

    /// setuptools before 70.1 answers `get_requires_for_build_wheel` with `wheel`,
    /// which pip then installs from the index too: a dynamic build requirement that
    /// no static file names, but that is known for this one backend. Adds it and
    /// starts over when that applies; false when the pins stand.
    func addDynamicBuildRequirements(given pins: [Pin]) -> Bool {
        guard let buildSystem, buildSystem.usesSetuptools, !addedWheel,
              let setuptools = pins.first(where: { $0.name.normalized == "setuptools" }),
              setuptools.version < Version("70.1")!, !pins.contains(where: { $0.name.normalized == "wheel" }) else { return false }
        addedWheel = true
        let origin = Requirement.Origin(file: "setuptools \(setuptools.version) (get_requires_for_build_wheel)", line: 0)
        requirements.append(try! RequirementsParser.requirement("wheel", hashes: [], origin: origin))
        resolver = Resolver(target: target, requirements: requirements, constraints: constraints, followDependencies: followDependencies,
                            versions: versions)
        state = .runnable
        return true
    }

    /// A key that is the same for two build systems pip would treat alike.
    static func buildKey(_ buildSystem: BuildSystem, _ target: Target) -> String {
        "\(target.pythonMajor).\(target.pythonMinor)|\(target.platforms.first ?? "")|\(buildSystem.requires.sorted().joined(separator: ","))|\(buildSystem.backend ?? "")"
    }
}
