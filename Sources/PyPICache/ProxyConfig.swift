import ObjectStore

/// Everything the proxy needs to know from the command line.
public struct ProxyConfig: Sendable {
    public static let defaultDataDirectory = "./data"
    public static let defaultUpstream = "https://pypi.org/simple/"

    public var dataDirectory: String
    /// The upstream simple index, ending in `/` (e.g. https://pypi.org/simple/).
    public var upstream: String
    /// How long a project page is served without asking upstream again.
    public var indexTTLSeconds: Double = 1800
    public var connectTimeoutMS = 5_000
    /// Whole-request limit for upstream pages.
    public var pageTimeoutMS = 10_000
    /// A file download that receives nothing for this long is abandoned.
    public var stallTimeoutSeconds = 30
    /// How long an upstream 404 for a project is remembered.
    public var notFoundTTLSeconds: Double = 60
    /// Never contact upstream: serve what is cached, list only cached files.
    public var offline = false
    /// How many cached files may stay open for sending (a share of the fd limit).
    public var openFileCapacity = 256
    /// Upstream file downloads at once (each holds a socket and a temp file); past it,
    /// a new download is refused with 503 + Retry-After rather than queued without bound.
    public var maxDownloads = 64
    /// Memory for pages (`--memory-budget`): half for rendered bodies (`RenderedPages`), half for
    /// parsed pages (`CacheIndex`); pages beyond it are read from disk when asked for.
    public var memoryBudgetBytes = 16 << 20
    /// `--relative-links`: pages link files relative to the page rather than absolutely on the
    /// host the client asked (`PageLinks`), e.g. behind a proxy that serves wheelhouse under a path.
    public var relativeLinks = false
    /// Rendered page bodies kept in `DATA_DIR/rendered/` across restarts (`RenderedBodyFiles`).
    /// Off for prefetch's in-process server: it may run beside a server on the same data
    /// directory, whose bodies and clean-stop marker are that server's alone.
    public var keepRenderedBodies = true
    /// Where the server listens, as /+status reports it (devpi's `host`, `port`).
    public var listenHost = "0.0.0.0"
    public var listenPort = 3141
    /// What pages list and `+f` serves: cooldown, snapshot date, allow/deny lists (none by default).
    public var releaseFilter = ReleaseFilter()
    /// `--max-cache-size`: stored files are kept under this many bytes (LRU); nil: no cap.
    public var maxCacheBytes: Int?
    /// `--pins-file`: more lists of files the cap never evicts (besides `<data-dir>/pins`).
    public var pinFiles: [String] = []
    /// The S3-compatible bucket shared by several nodes (docs/scale-out.md); nil: this node alone.
    public var sharedStore: S3Settings?

    public init(dataDirectory: String, upstream: String) {
        self.dataDirectory = dataDirectory
        self.upstream = upstream.hasSuffix("/") ? upstream : upstream + "/"
    }
}
