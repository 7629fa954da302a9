import ArgumentParser
import Glibc
import HTTPServer
import ObjectStore
import PyPICache
import Reactor
import Synchronization

/// `wheelhouse serve`'s options, one row each: the flag, its help, its default. The
/// default comes from the config type that uses it (`ProxyConfig`, `Server.Limits`)
/// unless the environment variable named after the flag (`--data-dir` →
/// `WHEELHOUSE_DATA_DIR`) sets it; the command line wins over both, and `--help`
/// shows the default in force and the variable. Every value is checked in `validate()`:
/// a bad one exits 2 with a one-line message.
struct ServeOptions: ParsableArguments {
    private static let proxy = ProxyConfig(dataDirectory: ProxyConfig.defaultDataDirectory, upstream: ProxyConfig.defaultUpstream)
    private static let limits = Server.Limits()

    @Option(help: help("Address to listen on.", "host"))
    var host: String = env("host", proxy.listenHost)

    @Option(help: help("Port to listen on; 0 picks a free one.", "port"))
    var port: Int = env("port", proxy.listenPort)

    @Option(name: .customLong("data-dir"), help: help("Cache directory.", "data-dir"))
    var dataDir: String = env("data-dir", proxy.dataDirectory)

    @Option(help: help("Upstream simple index URL.", "upstream"))
    var upstream: String = env("upstream", proxy.upstream)

    @Option(name: .customLong("index-ttl"), help: help("Seconds a project page is served before asking upstream again.", "index-ttl"))
    var indexTTL: Double = env("index-ttl", proxy.indexTTLSeconds)

    @Flag(inversion: .prefixedNo, help: help("Never contact upstream: serve only what is cached, and list only cached files.", "offline"))
    var offline: Bool = env("offline", proxy.offline)

    @Flag(inversion: .prefixedNo, help: help("Pages link files relative to the page (behind a proxy that serves wheelhouse under a path prefix), not absolutely on the host the client asked (faster for pip).", "relative-links"))
    var relativeLinks: Bool = env("relative-links", proxy.relativeLinks)

    @Option(name: .customLong("connect-timeout"), help: help("Seconds to wait for an upstream connection.", "connect-timeout"))
    var connectTimeout: Double = env("connect-timeout", Double(proxy.connectTimeoutMS) / 1000)

    @Option(name: .customLong("page-timeout"), help: help("Seconds an upstream page request may take in all.", "page-timeout"))
    var pageTimeout: Double = env("page-timeout", Double(proxy.pageTimeoutMS) / 1000)

    @Option(name: .customLong("stall-timeout"), help: help("Seconds without upstream bytes before a download is abandoned.", "stall-timeout"))
    var stallTimeout: Int = env("stall-timeout", proxy.stallTimeoutSeconds)

    @Option(name: .customLong("max-connections"), help: help("Client connections served at once.", "max-connections"))
    var maxConnections: Int = env("max-connections", limits.maxConnections)

    @Option(name: .customLong("max-downloads"), help: help("Upstream file downloads at once; more get 503 + Retry-After.", "max-downloads"))
    var maxDownloads: Int = env("max-downloads", proxy.maxDownloads)

    @Option(name: .customLong("memory-budget"), help: help("Memory for project pages, parsed and rendered (16MiB, 64M, 1G; a plain number is bytes); pages beyond it are read from disk.", "memory-budget"))
    var memoryBudget: String = env("memory-budget", "\(proxy.memoryBudgetBytes >> 20)MiB")

    @Option(name: .customLong("header-timeout"), help: help("Seconds a client has to send a whole request head.", "header-timeout"))
    var headerTimeout: Double = env("header-timeout", Double(limits.headTimeoutMS) / 1000)

    @Option(name: .customLong("idle-timeout"), help: help("Seconds an idle keep-alive connection is kept.", "idle-timeout"))
    var idleTimeout: Double = env("idle-timeout", Double(limits.idleTimeoutMS) / 1000)

    @Option(name: .customLong("send-timeout"), help: help("Seconds a client may take no bytes of a response before it is dropped.", "send-timeout"))
    var sendTimeout: Double = env("send-timeout", Double(limits.sendTimeoutMS) / 1000)

    @Option(name: .customLong("shutdown-grace"), help: help("Seconds responses in progress get to finish on shutdown.", "shutdown-grace"))
    var shutdownGrace: Double = env("shutdown-grace", 10)

    /// --min-age, --min-age-exempt, --exclude-newer, --deny-file, --allow-file (shared with prefetch).
    @OptionGroup var policy: ReleaseFilterOptions

    @Option(name: .customLong("max-cache-size"), help: help("Keep cached files under this size (20GB, 500MB, 2GiB), evicting the least recently used; none by default.", "max-cache-size"))
    var maxCacheSize: String = env("max-cache-size", "")

    @Option(name: .customLong("pins-file"), help: help("A file of filenames --max-cache-size never evicts, besides DATA_DIR/pins (repeatable; the variable takes a comma-separated list).", "pins-file"))
    var pinsFiles: [String] = env("pins-file", "").split(separator: ",").map(String.init)

    @Option(name: .customLong("s3-endpoint"), help: help("S3-compatible object store shared by several nodes (http(s)://host:port; path-style); credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. See docs/scale-out.md.", "s3-endpoint"))
    var s3Endpoint: String = env("s3-endpoint", "")

    @Option(name: .customLong("s3-bucket"), help: help("Bucket of the shared store (must exist).", "s3-bucket"))
    var s3Bucket: String = env("s3-bucket", "")

    @Option(name: .customLong("s3-prefix"), help: help("Key prefix in the bucket (several caches in one bucket).", "s3-prefix"))
    var s3Prefix: String = env("s3-prefix", "")

    @Option(name: .customLong("s3-region"), help: help("Region the requests are signed for.", "s3-region"))
    var s3Region: String = env("s3-region", "us-east-1")

    @Option(name: .customLong("s3-part-size"), help: help("MiB: larger files are uploaded to the bucket in parts of this size (multipart; at least 5).", "s3-part-size"))
    var s3PartSize: Int = env("s3-part-size", 64)

    @Option(name: .customLong("log-level"), help: help("debug, info, warning or error.", "log-level"))
    var logLevel: String = env("log-level", "info")

    mutating func validate() throws {
        if let problem = ServeOptions.environmentProblems.withLock({ $0.first }) { throw ValidationError(problem) }
        // A mistyped pins file would silently let the cap evict what it was meant to keep.
        for path in pinsFiles where !path.isEmpty && access(path, R_OK) != 0 {
            throw ValidationError("--pins-file \(path): cannot read it")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535, got \(port)") }
        guard upstream.hasPrefix("http://") || upstream.hasPrefix("https://") else {
            throw ValidationError("--upstream must be an http:// or https:// URL, got '\(upstream)'")
        }
        guard indexTTL >= 0 else { throw ValidationError("--index-ttl must be >= 0 seconds") }
        for (flag, value) in [("connect-timeout", connectTimeout), ("page-timeout", pageTimeout), ("header-timeout", headerTimeout),
                              ("idle-timeout", idleTimeout), ("send-timeout", sendTimeout), ("stall-timeout", Double(stallTimeout))]
        where !(value > 0) {
            throw ValidationError("--\(flag) must be > 0 seconds")
        }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must be >= 0 seconds") }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be > 0") }
        guard maxDownloads > 0 else { throw ValidationError("--max-downloads must be > 0") }
        guard ServeOptions.bytes(memoryBudget) != nil else {
            throw ValidationError("--memory-budget must be a size from 1M to 1T (e.g. 16M, 256M, 1G), got '\(memoryBudget)'")
        }
        _ = try policy.releaseFilter
        _ = try maxCacheBytes
        _ = try sharedStore
        guard Logger.Level(name: logLevel) != nil else {
            throw ValidationError("--log-level must be debug, info, warning or error, got '\(logLevel)'")
        }
    }

    /// `--max-cache-size` in bytes; nil when not given.
    var maxCacheBytes: Int? {
        get throws {
            guard !maxCacheSize.isEmpty else { return nil }
            guard let bytes = ByteSize.parse(maxCacheSize), bytes > 0 else {
                throw ValidationError("--max-cache-size must be a size like 20GB, 500MB or 2GiB, got '\(maxCacheSize)'")
            }
            return bytes
        }
    }

    /// The shared bucket, when `--s3-endpoint` is given (the bucket is then required).
    var sharedStore: S3Settings? {
        get throws {
            if s3Endpoint.isEmpty {
                guard s3Bucket.isEmpty else { throw ValidationError("--s3-bucket needs --s3-endpoint") }
                return nil
            }
            guard !s3Bucket.isEmpty else { throw ValidationError("--s3-endpoint needs --s3-bucket") }
            let environment = { (name: String) in getenv(name).map { String(cString: $0) } }
            switch S3Settings.make(endpoint: s3Endpoint, bucket: s3Bucket, prefix: s3Prefix, region: s3Region,
                                   accessKey: environment("AWS_ACCESS_KEY_ID"), secretKey: environment("AWS_SECRET_ACCESS_KEY"),
                                   sessionToken: environment("AWS_SESSION_TOKEN")) {
            case .success(var settings):
                guard (5...5120).contains(s3PartSize) else { throw ValidationError("--s3-part-size must be 5-5120 MiB, got \(s3PartSize)") }
                settings.partSize = s3PartSize << 20
                return settings
            case .failure(let error): throw ValidationError(error.description)
            }
        }
    }

    var level: Logger.Level { Logger.Level(name: logLevel) ?? .info }

    /// Throws only if a list file changed for the worse since `validate()` read it.
    var proxyConfig: ProxyConfig {
        get throws {
            var config = ProxyConfig(dataDirectory: dataDir, upstream: upstream)
            config.indexTTLSeconds = indexTTL
            config.offline = offline
            config.relativeLinks = relativeLinks
            config.connectTimeoutMS = Int(connectTimeout * 1000)
            config.pageTimeoutMS = Int(pageTimeout * 1000)
            config.stallTimeoutSeconds = stallTimeout
            config.maxDownloads = maxDownloads
            config.memoryBudgetBytes = ServeOptions.bytes(memoryBudget) ?? config.memoryBudgetBytes
            config.releaseFilter = try policy.releaseFilter
            config.maxCacheBytes = try maxCacheBytes
            config.pinFiles = pinsFiles.filter { !$0.isEmpty }
            config.sharedStore = try sharedStore
            return config
        }
    }

    var serverLimits: Server.Limits {
        var limits = Server.Limits()
        limits.maxConnections = maxConnections
        limits.headTimeoutMS = Int(headerTimeout * 1000)
        limits.idleTimeoutMS = Int(idleTimeout * 1000)
        limits.sendTimeoutMS = Int(sendTimeout * 1000)
        return limits
    }

    /// `--memory-budget` in bytes (`ByteSize`: `16M`, `64MiB`, `1G`), nil when not a size from 1 MB to 1 TB.
    static func bytes(_ text: String) -> Int? {
        guard let bytes = ByteSize.parse(text), bytes >= 1_000_000, bytes <= 1 << 40 else { return nil }
        return bytes
    }

    // MARK: - The environment

    /// `--data-dir` → `WHEELHOUSE_DATA_DIR`.
    static func variable(_ flag: String) -> String {
        "WHEELHOUSE_" + String(flag.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// Values the environment set but that do not parse; `validate()` reports the first.
    /// (Defaults are computed while parsing, where nothing can throw.)
    private static let environmentProblems = Mutex<[String]>([])

    /// The option's default: the environment's value when it sets one, else `fallback`.
    static func env<T: ExpressibleByArgument>(_ flag: String, _ fallback: T) -> T {
        let name = variable(flag)
        guard let raw = getenv(name).map({ String(cString: $0) }), !raw.isEmpty else { return fallback }
        if let value = T(argument: raw) { return value }
        environmentProblems.withLock { $0.append("invalid value '\(raw)' in environment variable \(name)") }
        return fallback
    }

    /// Flags take what people write in compose files: 1/0, true/false, yes/no, on/off.
    static func env(_ flag: String, _ fallback: Bool) -> Bool {
        let name = variable(flag)
        guard let raw = getenv(name).map({ String(cString: $0) }), !raw.isEmpty else { return fallback }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default:
            environmentProblems.withLock { $0.append("invalid value '\(raw)' in environment variable \(name) (use 1 or 0)") }
            return fallback
        }
    }

    static func help(_ text: String, _ flag: String) -> ArgumentHelp {
        ArgumentHelp("\(text) [env: \(variable(flag))]")
    }
}
