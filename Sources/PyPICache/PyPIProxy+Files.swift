import HTTPServer
import Reactor
import Upstream

extension PyPIProxy {
    /// Where the bytes for a `+f` key can come from.
    enum FileSource {
        /// An upstream URL named by a page (a distribution file, or its PEP 658 metadata).
        case upstream(DistributionFile)
        /// The metadata of a cached wheel whose upstream offers none: extracted locally.
        case extract(wheel: FileKey)
        case unavailable(String)
    }

    func serveFile(_ key: FileKey, exchange: Exchange) {
        if index.size(of: key) != nil {
            switch store.open(key) {
            case .opened(let fd, let size):
                return exchange.send(fileResponse(key, .file(fd, offset: 0, length: size), cache: "HIT"))
            case .failed(let error):
                // Out of fds or an I/O error: the file is still cached, so keep it indexed.
                logger.warning("cache_open_failed", ["file": key.filename, "error": error.description])
                return exchange.send(.error(503, "cannot open \(key.filename) now: \(error)"))
            case .missing:
                // Removed from disk behind our back: forget it and fetch again.
                index.removeCached(key)
            }
        }
        if config.offline { return exchange.send(.error(404, "offline mode: \(key.filename) is not cached")) }
        if PyPIProxy.onlyIfCached(exchange.request) {
            return exchange.send(.error(504, "\(key.filename) is not cached (only-if-cached)"))
        }
        if let running = fileFetches[key] { return running.join(exchange) }
        if let source = source(for: key) { return serve(key, from: source, exchange: exchange) }

        // Not named by any page seen yet (e.g. a lock file's URL after a restart):
        // load the page of the project the filename belongs to, then look again.
        guard let project = ProjectName.guess(fromFilename: (key.metadataSubject ?? key).filename) else {
            return exchange.send(.error(404, "\(key.filename) is not listed by any known project page"))
        }
        let lookAgain = { [self] (failure: (status: Int, reason: String)?) in
            if let running = fileFetches[key] { return running.join(exchange) }
            if let source = source(for: key) { return serve(key, from: source, exchange: exchange) }
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

    /// nil when no loaded page names the key (or the file its metadata describes).
    private func source(for key: FileKey) -> FileSource? {
        guard let subject = key.metadataSubject else {
            return index.known(key).map { .upstream($0.file) }
        }
        guard let known = index.known(subject) else { return nil }
        if let hash = known.file.coreMetadata {
            return .upstream(DistributionFile(filename: key.filename, url: known.file.url + ".metadata", sha256: hash.isEmpty ? nil : hash))
        }
        if known.file.isWheel, index.size(of: subject) != nil { return .extract(wheel: subject) }
        return .unavailable("no core metadata for \(subject.filename): upstream offers none and the wheel is not cached")
    }

    private func serve(_ key: FileKey, from source: FileSource, exchange: Exchange) {
        switch source {
        case .upstream(let file):
            startFileFetch(key, source: file, first: exchange)
        case .extract(let wheel):
            guard extractMetadata(from: wheel) != nil, let (fd, size) = store.openIfPresent(key) else {
                return exchange.send(.error(404, "no core metadata could be read from \(wheel.filename)"))
            }
            exchange.send(fileResponse(key, .file(fd, offset: 0, length: size), cache: "MISS"))
        case .unavailable(let reason):
            exchange.send(.error(404, reason))
        }
    }

    private func startFileFetch(_ key: FileKey, source: DistributionFile, first exchange: Exchange) {
        let temp: TempFile
        do { temp = try store.createTemp() } catch {
            logger.error("temp_file_failed", ["error": "\(error)"])
            return exchange.send(.error(503, "cannot create a cache file now: \(error)"))
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
            exchange.send(fileResponse(key, .growing(file), cache: "MISS"))
        case .cached:
            guard let (fd, size) = store.openIfPresent(key) else {
                return exchange.send(.error(502, "file vanished from the cache"))
            }
            exchange.send(fileResponse(key, .file(fd, offset: 0, length: size), cache: "MISS"))
        case .failed(let status, let reason):
            exchange.send(.error(status, reason))
        }
    }

    private func fileFetchFinished(_ fetch: FileFetch, _ result: Result<Int, FileFetch.FetchFailure>) {
        fileFetches.removeValue(forKey: fetch.key)
        switch result {
        case .success(let size):
            stats.upstream(.file, succeeded: true, now: PyPIProxy.now())
            do {
                try store.commit(fetch.tempFile, as: fetch.key)
                index.addCached(fetch.key, size: size)
                logger.info("upstream_file_done", ["file": fetch.key.filename, "bytes": String(size),
                                                   "verified": fetch.source.sha256 == nil ? "no-hash-upstream" : "sha256"])
                didCache(fetch.key)
            } catch {
                store.discard(fetch.tempFile)
                logger.error("cache_commit_failed", ["file": fetch.key.filename, "error": "\(error)"])
            }
        case .failure(let failure):
            // A 404 is an answer: upstream is up, the file is just not there.
            stats.upstream(.file, succeeded: failure.status == 404, error: "\(fetch.key.filename): \(failure.reason)", now: PyPIProxy.now())
            store.discard(fetch.tempFile)
            logger.warning("upstream_file_failed", ["file": fetch.key.filename, "status": String(failure.status), "error": failure.reason])
        }
    }

    /// A file just entered the cache: a wheel without upstream metadata gets its
    /// METADATA extracted now, and its project's pages re-render (sizes, metadata).
    private func didCache(_ key: FileKey) {
        guard let known = index.known(key) else { return }
        if known.file.isWheel, known.file.coreMetadata == nil { _ = extractMetadata(from: key) }
        rendered.invalidate(known.project)
    }

    /// Extracts a cached wheel's METADATA into the cache beside it; its sha256, or nil.
    @discardableResult
    func extractMetadata(from wheel: FileKey) -> String? {
        guard let metaKey = wheel.metadataKey else { return nil }
        if index.size(of: metaKey) != nil { return extractedMetadataHash(for: wheel) }
        guard let (fd, size) = store.openIfPresent(wheel) else { return nil }
        do {
            let metadata = try ZipReader(size: size) { offset, count in try Files.read(fd, count: count, at: offset) }.wheelMetadata()
            try store.write(metadata, as: metaKey)
            index.addCached(metaKey, size: metadata.count)
            let sha = SHA256.hex(metadata)
            index.setMetadataHash(sha, for: wheel)
            return sha
        } catch {
            logger.warning("metadata_extraction_failed", ["file": wheel.filename, "error": "\(error)"])
            return nil
        }
    }

    /// The sha256 of the metadata extracted from a cached wheel, if there is one
    /// (read and hashed once after a restart, then remembered).
    func extractedMetadataHash(for wheel: FileKey) -> String? {
        if let sha = index.metadataHash(for: wheel) { return sha }
        guard let metaKey = wheel.metadataKey, index.size(of: metaKey) != nil,
              let (fd, size) = store.openIfPresent(metaKey), let bytes = try? Files.read(fd, count: size, at: 0)
        else { return nil }
        let sha = SHA256.hex(bytes)
        index.setMetadataHash(sha, for: wheel)
        return sha
    }

    func fileResponse(_ key: FileKey, _ body: Body, cache: String) -> Response {
        let subject = key.metadataSubject ?? key
        let project = index.known(subject)?.project ?? ProjectName.guess(fromFilename: subject.filename)
        stats.served(.file, cache: cache, project: project, file: key, now: PyPIProxy.now())
        var headers = [
            ("Content-Type", "application/octet-stream"),
            ("ETag", key.etag),
            ("Cache-Control", "max-age=365000000, immutable"),
            ("X-Cache", cache),
        ]
        // Ranges only where they can be honoured: a complete file, not one still downloading.
        if case .file = body { headers.append(("Accept-Ranges", "bytes")) }
        return Response(status: 200, headers: headers, body: body, cacheResult: cache)
    }
}
