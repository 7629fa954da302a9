import Reactor

/// Rendered page bodies with their ETags, kept so that serving a cached page
/// costs a dictionary lookup rather than a render (a 3,000-file page takes
/// milliseconds to render, and gzip more). A project's renderings are dropped
/// when its page or its cached files change; the whole set is bounded by bytes
/// (a share of `--memory-budget`), least recently used out first (it refills from
/// the pages). A gzip rendering is kept without its plain one: each variant is
/// rendered once, and only what clients ask for takes memory. A rendering that a
/// `--min-age` cooldown will change by itself (a hidden file coming of age) carries
/// that moment and is rendered anew from then on.
///
/// A body over `spillAbove` (32 KiB, a page of a few hundred files; less with a tiny
/// budget) is kept instead in a file, sent with sendfile like a cached file: a big page
/// costs no memory and is still rendered once rather than every time the byte budget
/// cycles (pip asking for 50 projects of 2,000 files in turn would otherwise re-render
/// every one). The file is one of `RenderedBodyFiles` (kept across restarts) or, where
/// that cannot be, an unlinked temp file (vanishes with its last descriptor). `spilledLimit`
/// such descriptors are kept open (reserved in the fd share), least recently used out first;
/// each is one `FileDescriptor`, closed by whichever of this cache and the responses
/// sending it lets go of it last.
final class RenderedPages {
    struct Key: Hashable {
        let project: ProjectName
        let format: PageFormat
        let alias: Bool
        let gzip: Bool
        /// Which `PageLinks` base the file links use (0: relative to the page).
        var linkBase = 0
    }

    enum Body {
        case bytes([UInt8])
        /// A file holding the body from `offset` on; shared by every response sending it.
        case file(FileDescriptor, offset: Int, length: Int)

        var count: Int {
            switch self {
            case .bytes(let b): b.count
            case .file(_, _, let length): length
            }
        }
    }

    struct Rendered {
        let body: Body
        let etag: String
        /// When the page would list something else with nothing stored changing; nil: never.
        let validUntil: Double?
    }

    private var entries: ByteBudgetCache<Key, Rendered>
    /// Bodies over `spillAbove`, each in a file (cost 1 each: a count of descriptors).
    private var spilled: ByteBudgetCache<Key, Rendered>
    /// Writes a rendering's body to a file; nil when it cannot (then the body is not kept). Set by the owner.
    var spill: (Key, Rendered) -> Rendered?
    /// How many renders were made (each variant once while nothing changes it), for tests and /+status.
    private(set) var renderCount = 0

    /// Spilled bodies kept (each holds a descriptor; Serve's FileLimitShare reserves them).
    static let spilledFileLimit = 64

    init(budgetBytes: Int = 8 << 20, spilledLimit: Int = RenderedPages.spilledFileLimit, spill: @escaping (Key, Rendered) -> Rendered? = { _, _ in nil }) {
        entries = ByteBudgetCache(budgetBytes: budgetBytes)
        spilled = ByteBudgetCache(budgetBytes: spilledLimit)
        self.spill = spill
    }

    var count: Int { entries.count }
    var totalBytes: Int { entries.totalBytes }
    var budgetBytes: Int { entries.budgetBytes }

    /// The rendering kept for `key` while still valid, or nil.
    func cached(_ key: Key, now: Double) -> Rendered? {
        guard let hit = entries.get(key) ?? spilled.get(key), hit.validUntil.map({ now < $0 }) ?? true else { return nil }
        return hit
    }

    func rendered(_ key: Key, now: Double, render: () -> (body: [UInt8], validUntil: Double?)) -> Rendered {
        if let hit = cached(key, now: now) { return hit }
        let made = render()
        renderCount += 1
        // Level 1: a 1 MB page compresses in a few ms instead of ~25 (level 6), about 15% larger.
        let body = key.gzip ? (Gzip.compress(made.body, level: 1) ?? made.body) : made.body
        // Strong ETags differ per encoding (RFC 9110 8.8.3). The bytes are named by two
        // checksums and the length: a sha256 of a 1 MB page cost more than rendering it.
        let etag = "\"" + Checksum.tag(body) + (key.gzip ? "-gz" : "") + "\""
        let inMemory = Rendered(body: .bytes(body), etag: etag, validUntil: made.validUntil)
        let result = body.count > spillAbove ? spill(key, inMemory) ?? inMemory : inMemory
        remember(key, result)
        return result
    }

    /// Keeps a rendering made elsewhere (a big page rendered in slices by a `PageRenderJob`):
    /// a body in a file goes with the spilled ones, bytes with the others.
    func keep(_ key: Key, _ made: Rendered) {
        renderCount += 1
        remember(key, made)
    }

    /// Keeps a rendering without counting a render (a body kept on disk, opened after a restart).
    func remember(_ key: Key, _ made: Rendered) {
        switch made.body {
        case .file:
            entries.remove(key)
            spilled.put(key, made, cost: 1)
        case .bytes(let bytes):
            spilled.remove(key)
            entries.put(key, made, cost: bytes.count + 128)
        }
    }

    /// Bodies over this many bytes are kept in a file rather than in memory.
    var spillAbove: Int { min(32 << 10, entries.budgetBytes / 4 - 128) }

    /// Every page at once: what pages list depends on whether upstream is reachable.
    func invalidateAll() {
        entries.removeAll()
        spilled.removeAll()
    }

    func invalidate(_ project: ProjectName) {
        for format in [PageFormat.json, .html, .legacyHTML] {
            for alias in [false, true] {
                for gzip in [false, true] {
                    for base in 0...PageLinks.maxHosts {
                        entries.remove(Key(project: project, format: format, alias: alias, gzip: gzip, linkBase: base))
                        spilled.remove(Key(project: project, format: format, alias: alias, gzip: gzip, linkBase: base))
                    }
                }
            }
        }
    }
}
