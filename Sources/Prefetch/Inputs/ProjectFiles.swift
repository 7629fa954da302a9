import PyPICache

/// Inputs other than requirements files, told apart by name:
/// - `pyproject.toml`: `[project] dependencies`, the optional dependency groups
///   named with `--extra`, PEP 735 `[dependency-groups]` named with `--group`, and
///   the project's own `[build-system]` (installing the project builds it);
/// - `uv.lock`: the workspace members' dependencies (their extras and groups as
///   asked) as requirements, every locked registry version as a constraint, so the
///   resolver reproduces the lock for each target;
/// - `pylock.toml` / `pylock.<name>.toml` (PEP 751): every package with a version
///   is a pin, under its marker.
public enum ProjectFiles {
    public enum Kind { case pyproject, uvLock, pylock }

    public static func kind(of path: String) -> Kind? {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        if base == "pyproject.toml" { return .pyproject }
        if base == "uv.lock" { return .uvLock }
        if base == "pylock.toml" || (base.hasPrefix("pylock.") && base.hasSuffix(".toml")) { return .pylock }
        return nil
    }

    public static func read(_ path: String, kind: Kind, extras: [String], groups: [String],
                            readFile: (String) throws -> String? = RequirementsParser.readFromDisk) throws -> RequirementSet {
        guard let text = try readFile(path) else { throw RequirementsError(description: "cannot read \(path)") }
        let toml: TOMLValue
        do { toml = try TOML.parse(text) } catch { throw RequirementsError(description: "\(path): \(error)") }
        let origin = Requirement.Origin(file: path, line: 0)
        switch kind {
        case .pyproject: return try pyproject(toml, origin: origin, extras: extras, groups: groups)
        case .uvLock: return try uvLock(toml, origin: origin, extras: extras, groups: groups)
        case .pylock: return try pylock(toml, origin: origin)
        }
    }

    static func pyproject(_ toml: TOMLValue, origin: Requirement.Origin, extras: [String], groups: [String]) throws -> RequirementSet {
        var set = RequirementSet()
        let project = toml["project"]
        var lines = project?["dependencies"]?.strings ?? []
        for extra in extras {
            guard let items = project?["optional-dependencies"]?[extra]?.array else {
                throw RequirementsError(description: "\(origin.file): no optional dependency group '\(extra)'")
            }
            lines += items.compactMap(\.string)
        }
        for group in groups { lines += try dependencyGroup(group, in: toml, origin: origin, depth: 0) }
        for line in lines { try add(line, to: &set, origin: origin) }
        if project != nil || toml["build-system"] != nil {
            set.buildSystems.append((origin.file, SdistDetails.buildSystem(toml)))
        }
        return set
    }

    /// PEP 735: strings, and `{include-group = "other"}` tables.
    static func dependencyGroup(_ name: String, in toml: TOMLValue, origin: Requirement.Origin, depth: Int) throws -> [String] {
        guard depth < 16 else { throw RequirementsError(description: "\(origin.file): dependency groups include each other") }
        guard let items = toml["dependency-groups"]?[name]?.array else {
            throw RequirementsError(description: "\(origin.file): no dependency group '\(name)'")
        }
        return try items.flatMap { item -> [String] in
            if let s = item.string { return [s] }
            if let other = item["include-group"]?.string { return try dependencyGroup(other, in: toml, origin: origin, depth: depth + 1) }
            return []
        }
    }

    static func uvLock(_ toml: TOMLValue, origin: Requirement.Origin, extras: [String], groups: [String]) throws -> RequirementSet {
        guard let packages = toml["package"]?.array else { throw RequirementsError(description: "\(origin.file): no [[package]] entries") }
        var set = RequirementSet()
        var versions: [String: Set<String>] = [:]
        for package in packages {
            guard let name = package["name"]?.string else { continue }
            let source = package["source"]
            if source?["registry"] != nil, let version = package["version"]?.string {
                versions[name, default: []].insert(version)
                continue
            }
            guard source?["virtual"] != nil || source?["editable"] != nil || source?["directory"] != nil else {
                set.notes.append("\(origin.file): skipped \(name): not from an index")
                continue
            }
            // A workspace member: what it depends on is the input.
            var entries = package["dependencies"]?.array ?? []
            for extra in extras { entries += package["optional-dependencies"]?[extra]?.array ?? [] }
            for group in groups { entries += package["dev-dependencies"]?[group]?.array ?? [] }
            for entry in entries {
                guard let dep = entry["name"]?.string else { continue }
                let depExtras = entry["extra"]?.strings ?? []
                var line = dep + (depExtras.isEmpty ? "" : "[\(depExtras.joined(separator: ","))]")
                if let marker = entry["marker"]?.string { line += " ; " + marker }
                try add(line, to: &set, origin: origin)
            }
        }
        // A project locked at several versions (one per fork of markers) is left to the resolver.
        for (name, locked) in versions.sorted(by: { $0.key < $1.key }) where locked.count == 1 {
            set.constraints.append(try RequirementsParser.requirement("\(name)==\(locked.first!)", hashes: [], origin: origin))
        }
        return set
    }

    static func pylock(_ toml: TOMLValue, origin: Requirement.Origin) throws -> RequirementSet {
        guard let packages = toml["packages"]?.array else { throw RequirementsError(description: "\(origin.file): no [[packages]] entries") }
        var set = RequirementSet()
        for package in packages {
            guard let name = package["name"]?.string else { continue }
            guard let version = package["version"]?.string, package["vcs"] == nil, package["directory"] == nil, package["archive"] == nil else {
                set.notes.append("\(origin.file): skipped \(name): not from an index")
                continue
            }
            try add("\(name)==\(version)" + (package["marker"]?.string.map { " ; " + $0 } ?? ""), to: &set, origin: origin)
        }
        return set
    }

    private static func add(_ line: String, to set: inout RequirementSet, origin: Requirement.Origin) throws {
        if let reason = RequirementsParser.notFromAnIndex(line) {
            return set.notes.append("\(origin.file): skipped \(reason): \(line)")
        }
        set.requirements.append(try RequirementsParser.requirement(line, hashes: [], origin: origin))
    }
}
