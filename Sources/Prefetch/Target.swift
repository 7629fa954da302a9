/// The environment files are chosen for: a Python version and platform tags,
/// as `pip download --python-version 3.11 --platform manylinux_2_17_x86_64` takes them.
public struct Target: Sendable {
    public let pythonMajor: Int
    public let pythonMinor: Int
    public let platforms: [String]
    public let implementation = "cp"

    /// `platforms` as given on the command line; manylinux tags also accept older
    /// glibc levels (and their legacy names), as pip expands them.
    public init?(pythonVersion: String, platforms: [String]) {
        let parts = pythonVersion.split(separator: ".")
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]), major == 3, (0...99).contains(minor) else { return nil }
        pythonMajor = major
        pythonMinor = minor
        var expanded: [String] = []
        for p in platforms {
            for e in Target.expand(p) where !expanded.contains(e) { expanded.append(e) }
        }
        self.platforms = expanded
    }

    static func expand(_ platform: String) -> [String] {
        let legacy = ["manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)]
        var arch = "", glibc: (Int, Int)?
        for (name, version) in legacy where platform.hasPrefix(name + "_") {
            arch = String(platform.dropFirst(name.count + 1))
            glibc = version
        }
        if glibc == nil, platform.hasPrefix("manylinux_") {
            let rest = platform.dropFirst("manylinux_".count).split(separator: "_", maxSplits: 2)
            if rest.count == 3, let major = Int(rest[0]), let minor = Int(rest[1]) {
                glibc = (major, minor)
                arch = String(rest[2])
            }
        }
        guard let (major, minor) = glibc else { return [platform] }
        var tags: [String] = []
        for m in stride(from: minor, through: 5, by: -1) {
            tags.append("manylinux_\(major)_\(m)_\(arch)")
            for (name, version) in legacy where version == (major, m) { tags.append("\(name)_\(arch)") }
        }
        tags.append("linux_\(arch)")
        return tags
    }

    /// Marker environment for this target (CPython on Linux unless the platform says otherwise).
    public var markerEnvironment: [String: String] {
        let platform = platforms.first ?? "linux_x86_64"
        let isWindows = platform.hasPrefix("win"), isMac = platform.hasPrefix("macosx")
        let machine = Target.architecture(of: platform)
        return [
            "python_version": "\(pythonMajor).\(pythonMinor)",
            "python_full_version": "\(pythonMajor).\(pythonMinor).0",
            "implementation_version": "\(pythonMajor).\(pythonMinor).0",
            "os_name": isWindows ? "nt" : "posix",
            "sys_platform": isWindows ? "win32" : isMac ? "darwin" : "linux",
            "platform_system": isWindows ? "Windows" : isMac ? "Darwin" : "Linux",
            "platform_machine": machine == "amd64" ? "AMD64" : machine,
            "platform_python_implementation": "CPython",
            "implementation_name": "cpython",
            "platform_release": "", "platform_version": "", "extra": "",
        ]
    }

    /// The machine part of a platform tag: manylinux_2_17_x86_64, linux_aarch64, macosx_11_0_arm64, win_amd64.
    static func architecture(of platform: String) -> String {
        let parts = platform.split(separator: "_")
        if platform == "win32" { return "x86" }
        if platform.hasPrefix("manylinux_") || platform.hasPrefix("macosx_") || platform.hasPrefix("musllinux_") {
            return parts.dropFirst(3).joined(separator: "_")
        }
        return parts.dropFirst().joined(separator: "_")
    }

    /// Every tag a wheel may carry to install here, best first (packaging.tags order).
    public var compatibleTags: [String: Int] {
        var ordered: [String] = []
        let py = "\(pythonMajor)\(pythonMinor)", cp = "cp\(py)"
        for p in platforms { ordered.append("\(cp)-\(cp)-\(p)") }
        for p in platforms { ordered.append("\(cp)-abi3-\(p)") }
        for p in platforms { ordered.append("\(cp)-none-\(p)") }
        for minor in stride(from: pythonMinor - 1, through: 2, by: -1) {
            for p in platforms { ordered.append("cp3\(minor)-abi3-\(p)") }
        }
        for p in platforms {
            ordered.append("py\(py)-none-\(p)")
            ordered.append("py3-none-\(p)")
            for minor in stride(from: pythonMinor - 1, through: 0, by: -1) { ordered.append("py3\(minor)-none-\(p)") }
        }
        ordered.append("\(cp)-none-any")
        ordered.append("py\(py)-none-any")
        ordered.append("py3-none-any")
        for minor in stride(from: pythonMinor - 1, through: 0, by: -1) { ordered.append("py3\(minor)-none-any") }
        var rank: [String: Int] = [:]
        for (i, tag) in ordered.enumerated() where rank[tag] == nil { rank[tag] = i }
        return rank
    }

    /// The best rank among a wheel filename's tags, or nil when none fits.
    public func rank(ofWheel filename: String, in tags: [String: Int]) -> Int? {
        guard filename.hasSuffix(".whl") else { return nil }
        let parts = filename.dropLast(4).split(separator: "-")
        guard parts.count == 5 || parts.count == 6 else { return nil }
        let (pys, abis, plats) = (parts[parts.count - 3], parts[parts.count - 2], parts[parts.count - 1])
        var best: Int?
        for p in pys.split(separator: ".") {
            for a in abis.split(separator: ".") {
                for pl in plats.split(separator: ".") {
                    if let r = tags["\(p)-\(a)-\(pl)"], best == nil || r < best! { best = r }
                }
            }
        }
        return best
    }
}
