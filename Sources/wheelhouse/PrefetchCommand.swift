import ArgumentParser
import Glibc
import HTTPServer
import Prefetch
import PyPICache
import Reactor
import Upstream

struct PrefetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefetch",
        abstract: "Fill the cache with the files pip would install for requirements, to work offline later.",
        discussion: """
        Resolves each input's full dependency closure for every target (--python-version × --platform) \
        as pip would (markers, extras, requires-python, yanked files, constraints; backtracking on \
        conflicts), plus the build requirements of every sdist in it, and fetches the files pip would \
        install and the PEP 658 metadata of each wheel. Inputs (-r): requirements files, pyproject.toml \
        (with --extra/--group), uv.lock, pylock.toml. --check resolves from the cache only and lists \
        what an offline install would miss.
        Files go through a running wheelhouse (--server) or, with --data-dir, straight into a data \
        directory. Exit status: 0 all done, 1 something failed, conflicts or (--check) is missing, 2 bad input.
        """)

    @Option(name: [.customShort("r"), .customLong("requirement")], help: "A requirements file (repeatable).")
    var requirementFiles: [String] = []

    @Option(name: [.customShort("c"), .customLong("constraint")], help: "A constraints file (repeatable).")
    var constraintFiles: [String] = []

    @Argument(help: "Requirements, as on a pip command line (e.g. 'django==4.2.7').")
    var requirements: [String] = []

    @Option(name: .customLong("python-version"), help: "Target Python version (repeatable; default 3.11).")
    var pythonVersions: [String] = []

    @Option(help: "Target platform tag (repeatable: one resolution each); manylinux tags include older glibc levels.")
    var platform: [String] = []

    @Option(help: "An optional dependency group of a pyproject.toml or uv.lock input (repeatable).")
    var extra: [String] = []

    @Option(help: "A dependency group (PEP 735) of a pyproject.toml, or dev group of a uv.lock (repeatable).")
    var group: [String] = []

    @Option(name: [.customLong("build-constraint"), .customLong("build-constraints")],
            help: "Constraints for build requirements of sdists (repeatable), as pip's --build-constraint.")
    var buildConstraintFiles: [String] = []

    @Flag(name: .customLong("per-file"),
          help: "Resolve each -r input as an environment of its own (a devstack service each), not all together.")
    var perFile = false

    @Flag(name: .customLong("no-deps"), help: "Fetch only what the input names, not its dependencies (build requirements still).")
    var noDeps = false

    @Flag(name: .customLong("all-files"), help: "Fetch every file of the chosen version, not just the one pip would pick.")
    var allFiles = false

    @Option(help: "A running wheelhouse to fetch through.")
    var server: String?

    @Option(name: .customLong("data-dir"), help: "Fill this data directory directly (no server running).")
    var dataDir: String?

    @Option(help: "Upstream index for --data-dir mode.")
    var upstream = "https://pypi.org/simple/"

    @Flag(help: "Only report what is missing from the cache; download nothing.")
    var check = false

    @Option(help: "Downloads at once.")
    var parallel = 4

    @Option(name: .customLong("write-pins"),
            help: "Add the files fetched (or found cached) to this pins file, which --max-cache-size never evicts (default with --data-dir: DATA_DIR/pins).")
    var writePins: String?

    /// The page policies, applied by the in-process server of --data-dir mode.
    @OptionGroup var policy: ReleaseFilterOptions

    func validate() throws {
        if server != nil && dataDir != nil { throw ValidationError("give --server or --data-dir, not both") }
        if requirementFiles.isEmpty && requirements.isEmpty { throw ValidationError("nothing to prefetch: give -r FILE or requirements") }
        guard (1...64).contains(parallel) else { throw ValidationError("--parallel must be 1-64") }
        _ = try policy.releaseFilter
    }

    func run() throws {
        let pythons = pythonVersions.isEmpty ? ["3.11"] : pythonVersions
        var targets: [Target] = []
        for python in pythons {
            for p in platform.isEmpty ? [Self.defaultPlatform()] : platform {
                guard let target = Target(pythonVersion: python, platforms: [p]) else {
                    throw ValidationError("--python-version must look like 3.11")
                }
                targets.append(target)
            }
        }
        var sets: [(name: String, set: RequirementSet)] = []
        var buildConstraints: [Requirement] = []
        do {
            var constraints: [Requirement] = []
            for file in constraintFiles {
                constraints += try RequirementsParser.parse(files: [file]).requirements
            }
            func read(_ files: [String], requirements: [String]) throws -> RequirementSet {
                var set = RequirementSet()
                var plainFiles: [String] = []
                for file in files {
                    if let kind = ProjectFiles.kind(of: file) {
                        set.merge(try ProjectFiles.read(file, kind: kind, extras: extra, groups: group))
                    } else {
                        plainFiles.append(file)
                    }
                }
                set.merge(try RequirementsParser.parse(files: plainFiles, requirements: requirements))
                set.constraints += constraints
                return set
            }
            if perFile {
                sets = try requirementFiles.map { ($0, try read([$0], requirements: [])) }
                if !requirements.isEmpty { sets.append(("<command line>", try read([], requirements: requirements))) }
            } else {
                sets = [("", try read(requirementFiles, requirements: requirements))]
            }
            for file in buildConstraintFiles {
                buildConstraints += try RequirementsParser.parse(files: [file]).requirements
            }
        } catch let error as RequirementsError {
            Terminal.write("error: \(error.description)\n", fd: 2)
            throw ExitCode(2)
        } catch let error as SystemError {
            // An input that is not a readable file (a directory, no permission): bad input too.
            Terminal.write("error: cannot read input: \(error)\n", fd: 2)
            throw ExitCode(2)
        }

        Curl.globalInit()
        let loop = try EventLoop()
        var embedded: (PyPIProxy, Server)?
        var dataDirLock: DataDirLock?
        var serverURL = server ?? "http://localhost:3141"
        if let dataDir {
            // No server running: start one inside this process, on loopback, over the
            // data directory, and fetch through it: same atomic, verified writes.
            var config = ProxyConfig(dataDirectory: dataDir, upstream: upstream)
            config.releaseFilter = try policy.releaseFilter
            config.keepRenderedBodies = false
            let proxy = try PyPIProxy(config: config, loop: loop, logger: Logger(level: .error, fd: 2))
            dataDirLock = try? DataDirLock.take(dataDir, .shared)
            let listener = try Socket.listen(host: "127.0.0.1", port: 0)
            let server = Server(loop: loop, listener: listener, responder: proxy, logger: Logger(level: .error, fd: 2))
            try server.start()
            serverURL = "http://127.0.0.1:\(try Socket.localPort(listener))"
            embedded = (proxy, server)
        }

        if dataDir == nil && !policy.isEmpty {
            Terminal.write("note: --min-age, --exclude-newer, --deny-file and --allow-file apply with --data-dir; a running server applies its own\n", fd: 2)
        }
        var options = PrefetchRunner.Options(server: serverURL, targets: targets)
        options.allFiles = allFiles
        options.followDependencies = !noDeps
        options.buildConstraints = buildConstraints
        options.check = check
        options.parallel = parallel
        let where_ = dataDir.map { "data directory \($0)" } ?? serverURL
        let targetNames = targets.map { "Python \($0.pythonMajor).\($0.pythonMinor) on \($0.platforms.first ?? "?")" }
        let count = sets.reduce(0) { $0 + $1.set.requirements.count }
        Terminal.write("\(check ? "checking" : "prefetching") \(count) requirements\(sets.count > 1 ? " in \(sets.count) environments" : "") for \(targetNames.joined(separator: ", ")) via \(where_)\n")
        let summary = try PrefetchRunner(loop: loop, options: options, progress: Progress()).run(sets)
        if let (proxy, server) = embedded {
            server.stop()
            proxy.shutdown()
        }
        withExtendedLifetime(dataDirLock) {}

        if !check, let pinsPath = writePins ?? dataDir.map({ "\($0)/pins" }), !summary.files.isEmpty {
            do {
                try Pins.add(summary.files, to: pinsPath)
            } catch {
                Terminal.write("error: cannot write the pins file \(pinsPath): \(error)\n", fd: 2)
                throw ExitCode(1)
            }
        }
        var parts = ["resolved \(summary.resolved)"]
        parts += check
            ? ["cached \(summary.alreadyCached)", "missing \(summary.missing)"]
            : ["fetched \(summary.fetched) (\(Progress.format(bytes: summary.bytes)))", "already cached \(summary.alreadyCached)",
               "metadata \(summary.metadataFiles)"]
        parts += ["skipped \(summary.skipped)", "failed \(summary.failed)"]
        Terminal.write("summary: " + parts.joined(separator: ", ") + "\n")
        if !summary.succeeded { throw ExitCode(1) }
    }

    /// manylinux_2_28 on this machine's architecture: what most wheels target today.
    static func defaultPlatform() -> String {
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "manylinux_2_28_\(machine.isEmpty ? "x86_64" : machine)"
    }
}
