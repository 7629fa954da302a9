import HTTPServer
import Reactor
import Upstream

extension PyPIProxy {
    /// How one client wants a page: format (Accept or `?format=`), alias path, gzip.
    struct PageVariant {
        let format: PageFormat
        let alias: Bool
        let gzip: Bool
    }

    func servePage(_ name: ProjectName, alias: Bool, exchange: Exchange) {
        let request = exchange.request
        // PEP 691: ?format= overrides the Accept header.
        let accept = Route.queryValue("format", in: request.query) ?? request.header("accept")
        guard let format = PageFormat.negotiate(accept: accept) else {
            return exchange.send(.error(406, "no acceptable page format (JSON and HTML are offered)"))
        }
        let variant = PageVariant(format: format, alias: alias, gzip: Gzip.accepted(by: request.header("accept-encoding")))

        let cached = index.page(name, load: store.loadPage)
        if let cached, config.offline || clock.now - cached.fetchedAt < config.indexTTLSeconds {
            return exchange.send(pageResponse(cached, name: name, variant, cache: .hit))
        }
        if config.offline {
            return exchange.send(.error(404, "offline mode: project \(name) is not cached"))
        }
        if PyPIProxy.onlyIfCached(request) {
            if let cached { return exchange.send(pageResponse(cached, name: name, variant, cache: .hit)) }
            return exchange.send(.error(504, "project \(name) is not cached (only-if-cached)"))
        }
        if let until = notFoundUntil[name], clock.now < until {
            return exchange.send(.error(404, "project \(name) not found upstream (cached answer)"))
        }
        if let failing = upstreamFailingResponse("project \(name)") {
            // Breaker open: answer now from the cache rather than wait out another timeout.
            if let cached { return exchange.send(pageResponse(cached, name: name, variant, cache: .stale)) }
            return exchange.send(failing)
        }
        fetchPage(name, revalidating: cached) { [self] outcome in
            switch outcome {
            case .fetched(let page):
                exchange.send(pageResponse(page, name: name, variant, cache: .miss))
            case .notModified:
                let page = index.page(name, load: store.loadPage) ?? ProjectPage(name: name.normalized, files: [])
                exchange.send(pageResponse(page, name: name, variant, cache: .hit))
            case .notFound:
                exchange.send(.error(404, "project \(name) not found upstream"))
            case .failed(let reason, let timedOut):
                if let stale = index.page(name, load: store.loadPage) {
                    logger.warning("serving_stale_page", ["project": name.normalized, "error": reason])
                    exchange.send(pageResponse(stale, name: name, variant, cache: .stale))
                } else {
                    exchange.send(.error(timedOut ? 504 : 502, "upstream failed for \(name): \(reason)"))
                }
            }
        }
    }

    /// Fetches a project page, sharing the request with anyone already waiting
    /// for it. A fetched page is stored and indexed before waiters hear of it.
    func fetchPage(_ name: ProjectName, revalidating cached: ProjectPage?, then waiter: @escaping (PageFetch.Outcome) -> Void) {
        if let running = pageFetches[name] { return running.join(waiter) }

        var options = Transfer.Options()
        options.headers = ["Accept: application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"]
        if let etag = cached?.etag { options.headers.append("If-None-Match: \(etag)") }
        if let modified = cached?.lastModified { options.headers.append("If-Modified-Since: \(modified)") }
        options.connectTimeoutMS = config.connectTimeoutMS
        options.connectPolicy = connectPolicy
        options.totalTimeoutMS = config.pageTimeoutMS
        options.acceptCompressed = true

        let fetch = PageFetch(project: name, url: config.upstream + name.normalized + "/", options: options) { [self] fetch, outcome in
            pageFetches.removeValue(forKey: name)
            if let deadline = fetch.deadline { loop.cancel(deadline) }
            if case .failed(let reason, _) = outcome, fetch.upstreamUnavailable {
                upstreamFailed(reason, project: name)
            } else if breaker.succeeded() {
                logger.lifecycle("upstream_back", ["upstream": config.upstream])
                rendered.invalidateAll()  // pages list upstream's files again
            }
            switch outcome {
            case .fetched(var page):
                page.fetchedAt = clock.now
                remember(page, as: name)
            case .notModified:
                if var page = index.page(name, load: store.loadPage) {
                    page.fetchedAt = clock.now
                    remember(page, as: name)
                }
            case .notFound:
                let now = clock.now
                // Bounded: random names must not grow memory without end.
                if notFoundUntil.count >= 10_000 { notFoundUntil = notFoundUntil.filter { $0.value > now } }
                if notFoundUntil.count < 10_000 { notFoundUntil[name] = now + config.notFoundTTLSeconds }
            case .failed:
                break
            }
            if case .failed(let reason, _) = outcome {
                stats.upstream(.page, succeeded: false, error: "\(name): \(reason)", now: clock.now)
            } else {
                stats.upstream(.page, succeeded: true, now: clock.now)
            }
            logger.info("upstream_page", ["project": name.normalized, "result": "\(outcome.summary)"])
            if fetch.skippedEntries > 0 {
                logger.warning("upstream_page_entries_skipped", ["project": name.normalized, "count": String(fetch.skippedEntries),
                                                                  "reason": "not a usable file entry (null, no filename, no http(s) url)"])
            }
        }
        fetch.join(waiter)
        pageFetches[name] = fetch
        let timeout = config.pageTimeoutMS
        fetch.deadline = loop.schedule(afterMilliseconds: timeout) { [weak self, weak fetch] in
            guard let self, let fetch, pageFetches[name] === fetch else { return }
            fetch.deadline = nil
            pageCurl.cancel(fetch.transfer)
            fetch.expire(afterMilliseconds: timeout)
        }
        pageCurl.add(fetch.transfer)
    }

    /// Opens the breaker (or, for a failed probe, keeps it open longer) and plans the next probe.
    /// Called for pages, and for files that got no answer at all.
    func upstreamFailed(_ reason: String, project: ProjectName) {
        if breaker.failed("\(project): \(reason)", project: project, now: clock.now) {
            logger.warning("upstream_failing", ["upstream": config.upstream, "error": reason,
                                                "action": "serving from the cache, probing in the background"])
            rendered.invalidateAll()  // pages now list only cached files
        }
        guard probeTimer == nil, case .failing(_, _, let due) = breaker.state else { return }
        probeTimer = loop.schedule(afterMilliseconds: max(1, Int((due - clock.now) * 1000))) { [weak self] in
            guard let self else { return }
            probeTimer = nil
            guard breaker.isOpen, let project = breaker.probeProject else { return }
            logger.info("upstream_probe", ["project": project.normalized])
            fetchPage(project, revalidating: index.page(project, load: store.loadPage)) { _ in }
        }
    }

    private func remember(_ page: ProjectPage, as name: ProjectName) {
        index.remember(page, as: name)
        rendered.invalidate(name)
        do { try store.savePage(page, as: name) } catch {
            logger.error("page_store_failed", ["project": name.normalized, "error": "\(error)"])
        }
    }

    func pageResponse(_ page: ProjectPage, name: ProjectName, _ variant: PageVariant, cache: CacheResult) -> Response {
        stats.served(.page, cache: cache, project: name, now: clock.now)
        let key = RenderedPages.Key(project: name, format: variant.format, alias: variant.alias, gzip: variant.gzip)
        let page = rendered.rendered(key) {
            // Links are relative to the page: /root/pypi/+simple/<p>/ and /simple/<p>/ both reach /root/pypi/+f/.
            PageRenderer.render(pageAsServed(page), as: variant.format, filesPrefix: variant.alias ? "../../root/pypi/+f/" : "../../+f/")
        }
        var headers = [
            ("Content-Type", variant.format.contentType),
            ("Vary", "Accept, Accept-Encoding"),
            ("ETag", page.etag),
            ("Cache-Control", "max-age=\(min(600, Int(config.indexTTLSeconds)))"),
            ("X-Cache", cache.rawValue),
        ]
        if variant.gzip { headers.append(("Content-Encoding", "gzip")) }
        return Response(status: 200, headers: headers, body: .bytes(page.body), logFields: cache.logFields)
    }

    /// The page as clients see it: what upstream said, plus what wheelhouse itself
    /// can add, minus what it cannot serve.
    private func pageAsServed(_ page: ProjectPage) -> ProjectPage {
        var shown = page
        let reachable = upstreamReachable
        // Offline or while upstream fails, a page lists only what can be served: the cached files.
        if !reachable { shown.files = page.files.filter { $0.key.map { index.size(of: $0) != nil } ?? false } }
        for i in shown.files.indices {
            guard let key = shown.files[i].key else { continue }
            // PEP 700 sizes upstream left out, where the cache knows them.
            if shown.files[i].size == nil, let size = index.size(of: key) { shown.files[i].size = size }
            guard shown.files[i].isWheel else { continue }
            // PEP 658 metadata: never advertise what cannot be served. Upstream's hash while
            // upstream can be asked; else (or when upstream offers none or no hash) the hash of
            // what the cache holds (fetched earlier, or extracted from the cached wheel).
            let advertised = shown.files[i].coreMetadata
            if reachable, let advertised, !advertised.isEmpty { continue }
            let local = (index.size(of: key) != nil || key.metadataKey.map { index.size(of: $0) != nil } == true)
                ? localMetadataHash(for: key) : nil
            shown.files[i].coreMetadata = local ?? (reachable ? advertised : nil)
        }
        return shown
    }
}

extension PageFetch.Outcome {
    var summary: String {
        switch self {
        case .fetched(let page): "fetched files=\(page.files.count)"
        case .notModified: "not-modified"
        case .notFound: "not-found"
        case .failed(let reason, _): "failed: \(reason)"
        }
    }
}

extension PyPIProxy {
    /// The simple index root: the projects wheelhouse has pages for (not upstream's
    /// whole list, which pip and uv never need).
    func projectListPage(_ request: Request) -> Response {
        var html = "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"\(PageRenderer.apiVersion)\">\n"
        html += "    <title>Simple index</title>\n  </head>\n  <body>\n"
        for name in index.projectNames {
            html += "    <a href=\"\(name.normalized)/\">\(name.normalized)</a><br/>\n"
        }
        html += "  </body>\n</html>\n"
        return Response(status: 200, headers: [("Content-Type", "text/html; charset=utf-8")], body: .bytes(Array(html.utf8)))
    }
}
