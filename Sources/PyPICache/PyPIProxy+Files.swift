import HTTPServer
import Reactor
import Upstream

extension PyPIProxy {
    func serveFile(_ key: FileKey, exchange: Exchange) {
        if index.size(of: key) != nil {
            if let (fd, size) = store.open(key) {
                return exchange.send(fileResponse(.file(fd, offset: 0, length: size), cache: "HIT"))
            }
            // Removed from disk behind our back: forget it and fetch again.
            index.removeCached(key)
        }
        if config.offline { return exchange.send(.error(404, "offline mode: \(key.filename) is not cached")) }
        if let running = fileFetches[key] { return running.join(exchange) }
        if let known = index.known(key) { return startFileFetch(key, source: known.file, first: exchange) }

        // Not named by any page seen yet (e.g. a lock file's URL after a restart):
        // load the page of the project the filename belongs to, then look again.
        guard let project = ProjectName.guess(fromFilename: key.filename) else {
            return exchange.send(.error(404, "\(key.filename) is not listed by any known project page"))
        }
        let lookAgain = { [self] (failure: (status: Int, reason: String)?) in
            if let running = fileFetches[key] { return running.join(exchange) }
            if let known = index.known(key) { return startFileFetch(key, source: known.file, first: exchange) }
            if let failure { return exchange.send(.error(failure.status, failure.reason)) }
            exchange.send(.error(404, "\(key.filename) is not listed on the \(project) page"))
        }
        if let page = index.page(project, load: store.loadPage), PyPIProxy.now() - page.fetchedAt < config.indexTTLSeconds {
            return lookAgain(nil)
        }
        fetchPage(project, revalidating: index.page(project, load: store.loadPage)) { outcome in
            if case .failed(let reason, let timedOut) = outcome {
                lookAgain((timedOut ? 504 : 502, "upstream failed for \(project): \(reason)"))
            } else {
                lookAgain(nil)
            }
        }
    }

    private func startFileFetch(_ key: FileKey, source: DistributionFile, first exchange: Exchange) {
        let temp: TempFile
        do { temp = try store.createTemp() } catch {
            logger.error("temp_file_failed", ["error": "\(error)"])
            return exchange.send(.error(500, "cannot create a cache file: \(error)"))
        }
        var options = Transfer.Options()
        options.connectTimeoutMS = config.connectTimeoutMS
        options.lowSpeedBytes = 1
        options.lowSpeedSeconds = config.stallTimeoutSeconds
        let fetch = FileFetch(
            key: key, source: source, temp: temp, loop: loop, options: options,
            answer: { [weak self] exchange, answer in self?.answer(exchange, key: key, with: answer) },
            finished: { [weak self] fetch, result in self?.fileFetchFinished(fetch, result) })
        fileFetches[key] = fetch
        fetch.join(exchange)
        logger.info("upstream_file_start", ["file": key.filename, "url": source.url])
        curl.add(fetch.transfer)
    }

    private func answer(_ exchange: Exchange, key: FileKey, with answer: FileFetch.Answer) {
        switch answer {
        case .streaming(let file):
            exchange.send(fileResponse(.growing(file), cache: "MISS"))
        case .cached:
            guard let (fd, size) = store.open(key) else {
                return exchange.send(.error(502, "file vanished from the cache"))
            }
            exchange.send(fileResponse(.file(fd, offset: 0, length: size), cache: "MISS"))
        case .failed(let status, let reason):
            exchange.send(.error(status, reason))
        }
    }

    private func fileFetchFinished(_ fetch: FileFetch, _ result: Result<Int, FileFetch.FetchFailure>) {
        fileFetches.removeValue(forKey: fetch.key)
        switch result {
        case .success(let size):
            do {
                try store.commit(fetch.tempFile, as: fetch.key)
                index.addCached(fetch.key, size: size)
                logger.info("upstream_file_done", ["file": fetch.key.filename, "bytes": String(size),
                                                   "verified": fetch.source.sha256 == nil ? "no-hash-upstream" : "sha256"])
            } catch {
                store.discard(fetch.tempFile)
                logger.error("cache_commit_failed", ["file": fetch.key.filename, "error": "\(error)"])
            }
        case .failure(let failure):
            store.discard(fetch.tempFile)
            logger.warning("upstream_file_failed", ["file": fetch.key.filename, "status": String(failure.status), "error": failure.reason])
        }
    }

    func fileResponse(_ body: Body, cache: String) -> Response {
        Response(status: 200, headers: [
            ("Content-Type", "application/octet-stream"),
            ("X-Cache", cache),
        ], body: body, cacheResult: cache)
    }
}
