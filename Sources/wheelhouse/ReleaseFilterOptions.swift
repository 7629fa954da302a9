import ArgumentParser
import Glibc
import PyPICache

/// The page policies' options, shared by `serve` and `prefetch --data-dir` (whose
/// in-process server applies them: prefetch fetches what clients will be allowed to install).
struct ReleaseFilterOptions: ParsableArguments {
    @Option(name: .customLong("min-age"), help: ServeOptions.help("Hide files uploaded less than this long ago (7d, 36h, 90m, 3600s); files without an upload time are shown.", "min-age"))
    var minAge: String = ServeOptions.env("min-age", "")

    @Option(name: .customLong("min-age-exempt"), help: ServeOptions.help("A project --min-age does not apply to (repeatable; the variable takes a comma-separated list).", "min-age-exempt"))
    var minAgeExempt: [String] = ServeOptions.env("min-age-exempt", "").split(separator: ",").map(String.init)

    @Option(name: .customLong("exclude-newer"), help: ServeOptions.help("List only files uploaded at or before this RFC 3339 time (as uv's option).", "exclude-newer"))
    var excludeNewer: String = ServeOptions.env("exclude-newer", "")

    @Option(name: .customLong("deny-file"), help: ServeOptions.help("File of projects (name) and versions (name==1.2, name>=2,<3) never served.", "deny-file"))
    var denyFile: String = ServeOptions.env("deny-file", "")

    @Option(name: .customLong("allow-file"), help: ServeOptions.help("File of projects and versions: when given, only these are served.", "allow-file"))
    var allowFile: String = ServeOptions.env("allow-file", "")

    /// True when none of them is given.
    var isEmpty: Bool { minAge.isEmpty && excludeNewer.isEmpty && denyFile.isEmpty && allowFile.isEmpty }

    /// The five options as one filter (the lists are read from their files).
    var releaseFilter: ReleaseFilter {
        get throws {
            try ServeOptions.releaseFilter(minAge: minAge, exempt: minAgeExempt, excludeNewer: excludeNewer,
                                           denyFile: denyFile, allowFile: allowFile)
        }
    }
}

extension ServeOptions {
    /// The page policies from their option values ("" = not given); any bad value is a
    /// one-line ValidationError (exit 2).
    static func releaseFilter(minAge: String, exempt: [String], excludeNewer: String,
                              denyFile: String, allowFile: String) throws -> ReleaseFilter {
        var filter = ReleaseFilter()
        if !minAge.isEmpty {
            guard let seconds = RFC3339.duration(minAge) else {
                throw ValidationError("--min-age must be a duration like 7d, 36h, 90m or 3600s, got '\(minAge)'")
            }
            filter.minAgeSeconds = seconds
        }
        for raw in exempt where !raw.isEmpty {
            guard let name = ProjectName(raw) else { throw ValidationError("--min-age-exempt: '\(raw)' is not a project name") }
            filter.minAgeExempt.insert(name)
        }
        if !excludeNewer.isEmpty {
            guard let seconds = RFC3339.seconds(excludeNewer) else {
                throw ValidationError("--exclude-newer must be an RFC 3339 time like 2024-01-02T00:00:00Z, got '\(excludeNewer)'")
            }
            filter.excludeNewer = seconds
        }
        if !denyFile.isEmpty { filter.deny = try list(denyFile, flag: "deny-file") }
        if !allowFile.isEmpty { filter.allow = try list(allowFile, flag: "allow-file") }
        return filter
    }

    private static func list(_ path: String, flag: String) throws -> ReleaseList {
        guard let text = readText(path) else { throw ValidationError("--\(flag): cannot read '\(path)'") }
        do {
            return try ReleaseList(parsing: text, source: path)
        } catch {
            throw ValidationError("--\(flag): \(error.description)")
        }
    }

    /// A small text file, whole (allow/deny lists); nil when it cannot be read.
    private static func readText(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes += chunk[0..<n] }
            if n < chunk.count { return ferror(file) == 0 ? String(decoding: bytes, as: UTF8.self) : nil }
            if bytes.count > 16 << 20 { return nil }
        }
    }
}
