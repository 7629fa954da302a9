import ArgumentParser
import Glibc
import PyPICache
import Reactor

/// `wheelhouse gc`: the `--max-cache-size` policy on a data directory no server is using,
/// plus the temp files a crash left behind.
struct Gc: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Shrink a data directory offline: delete least recently used files down to --max-size, and leftover temp files.",
        discussion: """
        Least recently used first (a file's modification time is its last use, as the server records it); \
        pinned files (DATA_DIR/pins, --pins-file) are never deleted; a wheel's .metadata goes with it. \
        Refuses while a server uses the data directory (stop it first; a running server keeps itself under \
        --max-cache-size). Exit status: 0 done, 1 failed or a server is running, 2 bad input.
        """)

    @Option(name: .customLong("data-dir"), help: "The data directory.")
    var dataDir: String

    @Option(name: .customLong("max-size"), help: "Delete least recently used files until the rest fits (20GB, 500MB, 2GiB).")
    var maxSize: String?

    @Option(name: .customLong("pins-file"), help: "More files of filenames never deleted, besides DATA_DIR/pins (repeatable).")
    var pinsFiles: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Only report what would be deleted.")
    var dryRun = false

    func validate() throws {
        if let maxSize, ByteSize.parse(maxSize) == nil {
            throw ValidationError("--max-size must be a size like 20GB, 500MB or 2GiB, got '\(maxSize)'")
        }
        // A mistyped pins file would silently let gc delete what it was meant to keep.
        for path in pinsFiles where access(path, R_OK) != 0 { throw ValidationError("--pins-file \(path): cannot read it") }
        try DataDirCommand.requireDataDir(dataDir)
    }

    func run() throws {
        let (store, lock) = try DataDirCommand.open(dataDir)
        defer { withExtendedLifetime(lock) {} }
        let collector = CacheCollector(store: store)
        let plan = collector.plan(maxBytes: maxSize.flatMap(ByteSize.parse), pinFiles: pinsFiles)
        let verb = dryRun ? "would delete" : "deleted"
        for file in plan.files { Terminal.write("\(verb) \(file.key.filename) (\(file.size) bytes)\n") }
        for temp in plan.tempFiles { Terminal.write("\(verb) tmp/\(temp.name) (\(temp.size) bytes, left behind)\n") }
        if !dryRun {
            store.forgetRenderedBodies()  // they may list sizes and metadata of deleted files
            collector.apply(plan)
        }
        var summary = "\(dryRun ? "dry run: " : "")\(verb) \(plan.files.count) files and \(plan.tempFiles.count) temp files, "
            + "\(plan.freedBytes) bytes; cache \(plan.bytesBefore) -> \(plan.bytesAfter) bytes"
        if plan.pinnedKept > 0 { summary += "; \(plan.pinnedKept) pinned files kept" }
        Terminal.write(summary + "\n")
        if let max = maxSize.flatMap(ByteSize.parse), plan.bytesAfter > max {
            Terminal.write("warning: still over --max-size: the rest is pinned\n", fd: 2)
        }
    }
}

/// `wheelhouse purge`: drop projects' pages and files from a data directory.
struct Purge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete projects' pages and files from a data directory (no server may be using it).",
        discussion: "They come back from upstream when next asked for. Exit status: 0 done, 1 failed or a server is running, 2 bad input.")

    @Option(name: .customLong("data-dir"), help: "The data directory.")
    var dataDir: String

    @Flag(name: .customLong("dry-run"), help: "Only report what would be deleted.")
    var dryRun = false

    @Argument(help: "Project names.")
    var projects: [String] = []

    func validate() throws {
        if projects.isEmpty { throw ValidationError("name at least one project to purge") }
        for raw in projects where ProjectName(raw) == nil { throw ValidationError("'\(raw)' is not a project name") }
        try DataDirCommand.requireDataDir(dataDir)
    }

    func run() throws {
        let (store, lock) = try DataDirCommand.open(dataDir)
        defer { withExtendedLifetime(lock) {} }
        let collector = CacheCollector(store: store)
        for project in projects.compactMap(ProjectName.init) {
            let plan = collector.purgePlan(project)
            guard plan.hasPage || !plan.files.isEmpty else {
                Terminal.write("\(project): nothing stored\n")
                continue
            }
            if !dryRun {
                store.forgetRenderedBodies()
                collector.purge(project, files: plan.files)
            }
            let bytes = plan.files.reduce(0) { $0 + $1.size }
            Terminal.write("\(project): \(dryRun ? "would delete" : "deleted") \(plan.hasPage ? "its page and " : "")\(plan.files.count) files (\(bytes) bytes)\n")
        }
    }
}

/// What `gc` and `purge` share: a data directory checked, locked against servers, opened.
enum DataDirCommand {
    static func requireDataDir(_ path: String) throws {
        guard Files.modificationTime("\(path)/files") != nil else {
            throw ValidationError("--data-dir: '\(path)' is not a wheelhouse data directory (no files/ in it)")
        }
    }

    static func open(_ path: String) throws -> (CacheStore, DataDirLock) {
        guard let lock = try DataDirLock.take(path, .exclusive) else {
            Terminal.write("error: a wheelhouse server (or prefetch) is using \(path); stop it first\n", fd: 2)
            throw ExitCode(1)
        }
        return (try CacheStore(root: path, clearingTemp: false), lock)
    }
}
