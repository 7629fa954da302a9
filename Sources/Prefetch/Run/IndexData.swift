import PyPICache
import Reactor

/// The resolver's data, fetched through the wheelhouse server: project pages, and
/// each file's details. Details come from the PEP 658 `.metadata` file when the page
/// offers one; otherwise from the wheel itself (downloaded, after which the server
/// serves the `.metadata` it extracts); for an sdist, from its PKG-INFO and
/// pyproject.toml, read as the sdist streams through (it is needed anyway).
/// With `check`, every request says `Cache-Control: only-if-cached`: the answers
/// are what an offline install would get.
final class IndexData: ResolverData {
    /// How a distribution file fared when it was fetched to read its details.
    enum FileOutcome {
        case fetched(bytes: Int)
        case cached
        case missing(String)
        case failed(String)
    }

    private let fetcher: HTTPFetcher
    private let server: String
    private let check: Bool
    private var pages: [ProjectName: Lookup<ProjectPage>] = [:]
    private var details: [FileRef: Lookup<DistributionDetails>] = [:]
    private var requested: Set<DataRequest> = []
    /// Why details could not be had, and whether that is "not cached" (check) or a failure.
    private(set) var detailProblems: [FileRef: (missing: Bool, reason: String)] = [:]
    private(set) var metadataFiles = 0
    private(set) var answered = 0
    var requestCount: Int { requested.count }
    var fetcherBusy: Bool { fetcher.busy }
    var liveBytes: Int { fetcher.liveBytes }

    /// Whether the file's details were read (for a wheel: its `.metadata` came through the server).
    func hasDetails(_ ref: FileRef) -> Bool {
        if case .ready = details[ref] { return true }
        return false
    }

    var onArrival: (DataRequest) -> Void = { _ in }
    var onFile: (FileRef, FileOutcome) -> Void = { _, _ in }

    /// Which of a page's files to keep in memory: the rest can never be chosen
    /// (numpy lists ~30 wheels per release; one or two fit a target).
    private let keep: (DistributionFile) -> Bool

    /// When set, pages keep only the files resolution can choose (see BestFiles).
    var bestFiles: BestFiles?

    init(fetcher: HTTPFetcher, server: String, check: Bool, keep: @escaping (DistributionFile) -> Bool = { _ in true }) {
        self.fetcher = fetcher
        self.server = server
        self.check = check
        self.keep = keep
    }

    func page(_ name: ProjectName) -> Lookup<ProjectPage> { pages[name] ?? .pending }
    func details(_ ref: FileRef) -> Lookup<DistributionDetails> { details[ref] ?? .pending }

    private var cacheHeaders: [String] { check ? ["Cache-Control: only-if-cached"] : [] }

    func request(_ request: DataRequest) {
        guard requested.insert(request).inserted else { return }
        switch request {
        case .page(let name): fetchPage(name)
        case .details(let ref): fetchDetails(ref)
        }
    }

    private func fetchPage(_ name: ProjectName) {
        let url = "\(server)/root/pypi/+simple/\(name.normalized)/"
        // Read as it streams in: a page costs the files kept, never its whole body.
        let stream = Box(PageStream(pageURL: url, keep: keep))
        fetcher.get(url, headers: ["Accept: application/vnd.pypi.simple.v1+json"] + cacheHeaders,
                    body: .stream { stream.value.feed($0) }) { [self] result in
            switch result {
            case .success:
                do {
                    var page = try stream.value.finish(project: name)
                    if let bestFiles { page.files = bestFiles.select(page.files) }
                    pages[name] = .ready(page)
                } catch {
                    pages[name] = .unavailable("unreadable page: \(error)")
                }
            case .failure(_, _) where stream.value.problem != nil:
                pages[name] = .unavailable("unreadable page: \(stream.value.problem!)")
            case .failure(let status, let reason):
                pages[name] = .unavailable(status == 504 && check ? "page not in the cache"
                                           : status == 404 ? "no such project on the index" : reason)
            }
            arrived(.page(name))
        }
    }

    private func fetchDetails(_ ref: FileRef) {
        let file = ref.file
        if file.isWheel {
            if file.coreMetadata != nil || check {
                return fetchMetadata(ref)
            }
            // No PEP 658 metadata upstream: fetch the wheel (it is wanted anyway), then
            // the `.metadata` the server extracts from it.
            return fetcher.get(file.url, sha256: file.sha256, body: .discard) { [self] result in
                switch result {
                case .success(_, let bytes, let cache):
                    onFile(ref, cache == "HIT" ? .cached : .fetched(bytes: bytes))
                    fetchMetadata(ref)
                case .failure(_, let reason):
                    onFile(ref, .failed(reason))
                    fail(ref, missing: false, "\(file.filename): \(reason)")
                }
            }
        }
        let name = file.filename.lowercased()
        if name.hasSuffix(".tar.gz") || name.hasSuffix(".tgz") {
            let scanner = TarGzScanner()
            fetcher.get(file.url, headers: cacheHeaders, sha256: file.sha256, body: .stream { scanner.feed($0); return true }) { [self] result in
                sdistArrived(ref, result) { try scanner.finish() }
            }
        } else if name.hasSuffix(".zip") {
            fetcher.get(file.url, headers: cacheHeaders, sha256: file.sha256, body: .keep(limit: 64 << 20)) { [self] result in
                sdistArrived(ref, result) {
                    guard case .success(let body, _, _) = result else { return [:] }
                    return try SdistDetails.zipMembers(body)
                }
            }
        } else {
            // .tar.bz2 and older formats: fetched later like any file; assume pip's defaults.
            details[ref] = .ready(DistributionDetails(metadata: CoreMetadata(), dependenciesKnown: false, buildSystem: .legacy))
            arrived(.details(ref))
        }
    }

    private func sdistArrived(_ ref: FileRef, _ result: HTTPFetcher.Result, members: () throws -> [String: [UInt8]]) {
        switch result {
        case .success(_, let bytes, let cache):
            onFile(ref, check || cache == "HIT" ? .cached : .fetched(bytes: bytes))
            do {
                details[ref] = .ready(SdistDetails.details(members: try members()))
                arrived(.details(ref))
            } catch {
                fail(ref, missing: false, "\(ref.file.filename): cannot read the sdist: \(error)")
            }
        case .failure(let status, let reason):
            let missing = check && status == 504
            onFile(ref, missing ? .missing("not in the cache") : .failed(reason))
            fail(ref, missing: missing, missing ? "\(ref.file.filename) not in the cache" : "\(ref.file.filename): \(reason)")
        }
    }

    private func fetchMetadata(_ ref: FileRef) {
        let expected = ref.file.coreMetadata.flatMap { $0.isEmpty ? nil : $0 }
        fetcher.get(ref.file.url + ".metadata", headers: cacheHeaders, sha256: expected, body: .keep(limit: 16 << 20)) { [self] result in
            switch result {
            case .success(let body, _, _):
                metadataFiles += 1
                details[ref] = .ready(DistributionDetails(metadata: CoreMetadata(parsing: body)))
                arrived(.details(ref))
            case .failure(let status, let reason):
                let missing = check && (status == 504 || status == 404)
                fail(ref, missing: missing, missing ? "metadata of \(ref.file.filename) not in the cache" : "metadata of \(ref.file.filename): \(reason)")
            }
        }
    }

    private func fail(_ ref: FileRef, missing: Bool, _ reason: String) {
        detailProblems[ref] = (missing, reason)
        details[ref] = .unavailable(reason)
        arrived(.details(ref))
    }

    private func arrived(_ request: DataRequest) {
        answered += 1
        onArrival(request)
    }
}

/// A value the fetcher's streaming closure and its completion share.
private final class Box<Value> {
    var value: Value
    init(_ value: Value) { self.value = value }
}
