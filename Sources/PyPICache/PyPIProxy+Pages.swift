import HTTPServer
import Reactor
import Upstream

extension PyPIProxy {
    func servePage(_ name: ProjectName, alias: Bool, exchange: Exchange) {
        guard let format = PageFormat.negotiate(accept: exchange.request.header("accept")) else {
            return exchange.send(.error(406, "no acceptable page format (JSON and HTML are offered)"))
        }
        let cached = index.page(name, load: store.loadPage)
        if let cached, config.offline || PyPIProxy.now() - cached.fetchedAt < config.indexTTLSeconds {
            return exchange.send(pageResponse(cached, name: name, format: format, alias: alias, cache: "HIT"))
        }
        if config.offline {
            return exchange.send(.error(404, "offline mode: project \(name) is not cached"))
        }
        if let until = notFoundUntil[name], PyPIProxy.now() < until {
            return exchange.send(.error(404, "project \(name) not found upstream (cached answer)"))
        }
        fetchPage(name, revalidating: cached) { [self] outcome in
            switch outcome {
            case .fetched(let page):
                exchange.send(pageResponse(page, name: name, format: format, alias: alias, cache: "MISS"))
            case .notModified:
                let page = index.page(name, load: store.loadPage) ?? ProjectPage(name: name.normalized, files: [])
                exchange.send(pageResponse(page, name: name, format: format, alias: alias, cache: "HIT"))
            case .notFound:
                exchange.send(.error(404, "project \(name) not found upstream"))
            case .failed(let reason, let timedOut):
                if let stale = index.page(name, load: store.loadPage) {
                    logger.warning("serving_stale_page", ["project": name.normalized, "error": reason])
                    exchange.send(pageResponse(stale, name: name, format: format, alias: alias, cache: "STALE"))
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
        options.totalTimeoutMS = config.pageTimeoutMS
        options.acceptCompressed = true

        let fetch = PageFetch(project: name, url: config.upstream + name.normalized + "/", options: options) { [self] fetch, outcome in
            pageFetches.removeValue(forKey: name)
            switch outcome {
            case .fetched(var page):
                page.fetchedAt = PyPIProxy.now()
                remember(page, as: name)
            case .notModified:
                if var page = index.page(name, load: store.loadPage) {
                    page.fetchedAt = PyPIProxy.now()
                    remember(page, as: name)
                }
            case .notFound:
                notFoundUntil[name] = PyPIProxy.now() + config.notFoundTTLSeconds
            case .failed:
                break
            }
            logger.info("upstream_page", ["project": name.normalized, "result": "\(outcome.summary)"])
        }
        fetch.join(waiter)
        pageFetches[name] = fetch
        curl.add(fetch.transfer)
    }

    private func remember(_ page: ProjectPage, as name: ProjectName) {
        index.remember(page, as: name)
        rendered.invalidate(name)
        do { try store.savePage(page, as: name) } catch {
            logger.error("page_store_failed", ["project": name.normalized, "error": "\(error)"])
        }
    }

    func pageResponse(_ page: ProjectPage, name: ProjectName, format: PageFormat, alias: Bool, cache: String) -> Response {
        let body = rendered.body(.init(project: name, format: format, alias: alias)) {
            var shown = page
            // Offline, a page lists only what can be served: the cached files.
            if config.offline { shown.files = page.files.filter { $0.key.map { index.size(of: $0) != nil } ?? false } }
            // Links are relative to the page: /root/pypi/+simple/<p>/ and /simple/<p>/ both reach /root/pypi/+f/.
            return PageRenderer.render(shown, as: format, filesPrefix: alias ? "../../root/pypi/+f/" : "../../+f/")
        }
        return Response(status: 200, headers: [
            ("Content-Type", format.contentType),
            ("Vary", "Accept"),
            ("X-Cache", cache),
        ], body: .bytes(body), cacheResult: cache)
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
