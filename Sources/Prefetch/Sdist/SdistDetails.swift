import PyPICache

/// What an sdist says about itself without being built: its build system
/// (pyproject.toml `[build-system]`, else pip's legacy setuptools default) and its
/// dependencies when they are static: PKG-INFO of metadata 2.2+ that does not call
/// them dynamic (PEP 643), else pyproject.toml `[project]` when it lists them
/// (PEP 621). Anything else (setup.py computing install_requires) needs a build.
public enum SdistDetails {
    public static let wantedMembers: Set<String> = ["PKG-INFO", "pyproject.toml"]

    public static func details(members: [String: [UInt8]]) -> DistributionDetails {
        let pkgInfo = members["PKG-INFO"].map { CoreMetadata(parsing: $0) }
        let pyproject = members["pyproject.toml"].flatMap { try? TOML.parse(String(decoding: $0, as: UTF8.self)) }
        var result = DistributionDetails(metadata: pkgInfo ?? CoreMetadata(), dependenciesKnown: false,
                                         buildSystem: buildSystem(pyproject))
        if let pkgInfo, pkgInfo.declaresDependenciesStatically {
            result.dependenciesKnown = true
        } else if let project = pyproject?["project"], let dependencies = project["dependencies"]?.array {
            let dynamic = project["dynamic"]?.strings ?? []
            if !dynamic.contains("dependencies") {
                var requires = dependencies.compactMap(\.string)
                for (extra, items) in project["optional-dependencies"]?.table ?? [:] where !dynamic.contains("optional-dependencies") {
                    for item in items.strings { requires.append(withExtraMarker(item, extra: extra)) }
                    result.metadata.providesExtra.append(extra)
                }
                result.metadata.requiresDist = requires
                if let rp = project["requires-python"]?.string { result.metadata.requiresPython = rp }
                result.dependenciesKnown = true
            }
        } else if let project = pyproject?["project"], project["dependencies"] == nil,
                  !(project["dynamic"]?.strings ?? []).contains("dependencies") {
            result.dependenciesKnown = true  // PEP 621: no key and not dynamic means none
        }
        return result
    }

    /// `[build-system]`, or pip's default when there is none (or it lacks `requires`).
    static func buildSystem(_ pyproject: TOMLValue?) -> BuildSystem {
        guard let table = pyproject?["build-system"], let requires = table["requires"]?.array else { return .legacy }
        return BuildSystem(requires: requires.compactMap(\.string),
                           backend: table["build-backend"]?.string ?? BuildSystem.legacy.backend, defaulted: false)
    }

    /// `dep ; marker` for an optional dependency group: the group's extra joins its marker.
    static func withExtraMarker(_ requirement: String, extra: String) -> String {
        guard let semi = requirement.firstIndex(of: ";") else { return "\(requirement) ; extra == \"\(extra)\"" }
        return "\(requirement[..<semi]) ; (\(requirement[requirement.index(after: semi)...])) and extra == \"\(extra)\""
    }

    /// A zip sdist (old projects): the same members, read from the whole archive.
    public static func zipMembers(_ bytes: [UInt8]) throws -> [String: [UInt8]] {
        let reader = ZipReader(bytes: bytes)
        var members: [String: [UInt8]] = [:]
        for entry in try reader.entries() {
            let parts = entry.name.split(separator: "/", omittingEmptySubsequences: true)
            guard parts.count == 2, wantedMembers.contains(String(parts[1])) else { continue }
            members[String(parts[1])] = try reader.contents(of: entry, limit: TarGzScanner.memberLimit)
        }
        return members
    }
}
