import ArgumentParser
import Glibc
import PyPICache

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
