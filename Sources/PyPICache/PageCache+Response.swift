import HTTPServer

/// What a client gets of a page: the page as served (what wheelhouse adds, what it cannot
/// serve left out) and the response around a rendered body.
extension PageCache {
    func response(_ page: RenderedPages.Rendered, _ name: ProjectName, _ variant: Variant, cache: CacheResult) -> Response {
        let now = clock.now
        stats.served(.page, cache: cache, project: name, now: now)
        // Clients must not keep a page past the moment a cooldown lets a new file in.
        let maxAge = min(600, Int(config.indexTTLSeconds), page.validUntil.map { max(0, Int($0 - now)) } ?? Int.max)
        var headers = [
            ("Content-Type", variant.format.contentType),
            ("Vary", "Accept, Accept-Encoding"),
            ("ETag", page.etag),
            ("Cache-Control", "max-age=\(maxAge)"),
            ("X-Cache", cache.rawValue),
        ]
        if variant.gzip { headers.append(("Content-Encoding", "gzip")) }
        let body: Body = switch page.body {
        case .bytes(let bytes): .bytes(bytes)
        case .file(let fd, let offset, let length): .file(fd, offset: offset, length: length)
        }
        return Response(status: 200, headers: headers, body: body, logFields: cache.logFields)
    }

    /// The page as clients see it: what upstream said, plus what wheelhouse itself
    /// can add, minus what it cannot serve.
    func asServed(_ page: ProjectPage) -> ProjectPage {
        var shown = page
        let reachable = health.reachable
        // Offline or while upstream fails, a page lists only what can be served: the cached files.
        if !reachable { shown.files = page.files.filter { $0.key.map { index.size(of: $0) != nil } ?? false } }
        for i in shown.files.indices {
            guard let key = shown.files[i].key else { continue }
            // PEP 700 sizes upstream left out, where the cache knows them.
            if shown.files[i].size == nil, let size = index.size(of: key) { shown.files[i].size = size }
            guard shown.files[i].isWheel else { continue }
            // PEP 658 metadata: never advertise what cannot be served.
            shown.files[i].coreMetadata = metadata.advertised(for: key, upstream: shown.files[i].coreMetadata, reachable: reachable)
        }
        return shown
    }
}
