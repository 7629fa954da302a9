import Reactor

/// One variant of a big page rendered a slice of files per loop iteration, so that a
/// page of 100,000 files (tens of MB) never holds the loop for the whole render: each
/// slice renders `filesPerSlice` files, gzips them if asked (one deflate stream across
/// the slices) and keeps a running checksum for the ETag. The body grows in memory up
/// to `spillAbove` bytes, then continues in a `BodyDraft` (a temp file, as RenderedPages
/// keeps big bodies), so the last slice does not have to write tens of MB in one go.
///
/// The job only renders; PageCache owns it (one job per variant however many clients
/// ask), steps it from the loop, and decides whether its result may be kept (and its
/// draft published on disk).
final class PageRenderJob {
    /// Pages with more files than this are rendered in slices; smaller ones in one go.
    static let slicedAbove = 2_000
    static let filesPerSlice = 1_000

    enum Failure: Error { case compression, spill(String) }

    let key: RenderedPages.Key
    let validUntil: Double?
    /// Requests waiting for the body (nil: rendering failed, answer with an error).
    private(set) var waiters: [(RenderedPages.Rendered?) -> Void] = []
    /// False once the page or its files changed mid-render: the body still answers the
    /// requests that asked before the change, but is not kept for anyone after.
    var publishable = true

    private let page: ProjectPage
    private let filesPrefix: String
    private let filesPerSlice: Int
    private let spillAbove: Int
    private let makeDraft: () throws -> BodyDraft
    private var next = 0
    private var first = true
    private var versions: [String] = []
    private var seenVersions: Set<String> = []
    private let gzip: GzipStream?
    private var checksum = Checksum.Running()
    private var memory: [UInt8] = []
    /// The file the body continues in once past `spillAbove`.
    private(set) var draft: BodyDraft?

    init(key: RenderedPages.Key, page: ProjectPage, filesPrefix: String, validUntil: Double?, spillAbove: Int,
         filesPerSlice: Int = PageRenderJob.filesPerSlice, makeDraft: @escaping () throws -> BodyDraft) {
        self.key = key
        self.page = page
        self.filesPrefix = filesPrefix
        self.validUntil = validUntil
        self.spillAbove = spillAbove
        self.filesPerSlice = max(1, filesPerSlice)
        self.makeDraft = makeDraft
        // Level 1, as RenderedPages: a few ms per MB instead of ~25.
        gzip = key.gzip ? GzipStream(level: 1) : nil
    }

    func join(_ waiter: @escaping (RenderedPages.Rendered?) -> Void) { waiters.append(waiter) }

    /// Hands the waiters over (once): the job is done or abandoned.
    func takeWaiters() -> [(RenderedPages.Rendered?) -> Void] {
        defer { waiters.removeAll() }
        return waiters
    }

    var isDone: Bool { next > page.files.count }

    /// Renders the next slice: the head with the first one, the tail after the last.
    /// Returns the finished rendering after the last slice, nil before.
    func step() throws -> RenderedPages.Rendered? {
        precondition(!isDone, "a finished render was stepped again")
        var out = PageBytes(capacity: filesPerSlice * 420 + 512)
        if next == 0 { PageRenderer.head(page, as: key.format, into: &out) }
        let end = min(page.files.count, next + filesPerSlice)
        PageRenderer.files(page, next..<end, as: key.format, filesPrefix: filesPrefix, first: &first, into: &out)
        if page.versions == nil && key.format == .json {
            // As PageRenderer.versions(of:), a slice at a time.
            for version in page.files[next..<end].compactMap(\.version) where seenVersions.insert(version).inserted {
                versions.append(version)
            }
        }
        let last = end == page.files.count
        if last { PageRenderer.tail(page, as: key.format, versions: page.versions ?? versions, into: &out) }
        next = last ? page.files.count + 1 : end
        try append(out.take(), finish: last)
        return last ? finished() : nil
    }

    private func append(_ rendered: [UInt8], finish: Bool) throws {
        var bytes = rendered
        if let gzip {
            guard let compressed = gzip.compress(rendered, finish: finish) else { throw Failure.compression }
            bytes = compressed
        }
        checksum.add(bytes)
        if draft == nil && memory.count + bytes.count > spillAbove {
            do {
                let started = try makeDraft()
                draft = started
                try started.append(memory)
                memory = []
            } catch {
                throw Failure.spill("\(error)")
            }
        }
        if let draft {
            do { try draft.append(bytes) } catch { throw Failure.spill("\(error)") }
        } else {
            memory.append(contentsOf: bytes)
        }
    }

    private func finished() -> RenderedPages.Rendered {
        // Strong ETags differ per encoding (RFC 9110 8.8.3), as RenderedPages names them.
        let etag = "\"" + checksum.tag + (key.gzip ? "-gz" : "") + "\""
        let body: RenderedPages.Body = draft?.body ?? .bytes(memory)
        memory = []
        return RenderedPages.Rendered(body: body, etag: etag, validUntil: validUntil)
    }
}
