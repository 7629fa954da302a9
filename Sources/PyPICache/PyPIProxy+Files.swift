import HTTPServer
import Reactor
import Upstream

extension PyPIProxy {
    /// Where the bytes for a `+f` key can come from.
    enum FileSource {
        /// An upstream URL named by a page (a distribution file, or its PEP 658 metadata).
        case upstream(DistributionFile)
        case unavailable(String)
    }

    func serveFile(_ key: FileKey, exchange: Exchange) {
        // A cached wheel's metadata is servable without upstream, whatever the mode.
        if let wheel = key.metadataSubject, serveLocalMetadata(key, of: wheel, exchange: exchange) { return }
        if key.metadataSubject == nil, index.size(of: key) != nil {
            switch store.open(key) {
            case .opened(let fd, let size):
                return exchange.send(fileResponse(key, .file(fd, offset: 0, length: size), cache: .hit))
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
        if let failing = upstreamFailingResponse(key.filename) { return exchange.send(failing) }
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
        if let page = index.page(project, load: store.loadPage), clock.now - page.fetchedAt < config.indexTTLSeconds {
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
        return .unavailable("no core metadata for \(subject.filename): upstream offers none and the wheel is not cached")
    }

    private func serve(_ key: FileKey, from source: FileSource, exchange: Exchange) {
        switch source {
        case .upstream(let file):
            startFileFetch(key, source: file, first: exchange)
        case .unavailable(let reason):
            exchange.send(.error(404, reason))
        }
    }

    /// Serves `<wheel>.metadata` from the cache (fetched earlier, or extracted from the
    /// cached wheel) unless upstream advertises different metadata and can be asked for
    /// it. False: not answered here, go to upstream.
    private func serveLocalMetadata(_ key: FileKey, of wheel: FileKey, exchange: Exchange) -> Bool {
        guard let local = localMetadataHash(for: wheel) else { return false }
        let advertised = index.known(wheel)?.file.coreMetadata.flatMap { $0.isEmpty ? nil : $0 }
        if let advertised, advertised != local, upstreamReachable {
            // PyPI's .metadata is the wheel's METADATA byte for byte; when they differ, upstream's wins.
            logger.warning("metadata_mismatch", ["file": wheel.filename, "upstream_sha256": advertised, "extracted_sha256": local,
                                                 "action": "fetching upstream's"])
            return false
        }
        guard let (fd, size) = store.openIfPresent(key) else { return false }
        exchange.send(fileResponse(key, .file(fd, offset: 0, length: size), cache: .hit))
        return true
    }

    private func startFileFetch(_ key: FileKey, source: DistributionFile, first exchange: Exchange) {
        let temp: TempFile
        do { temp = try store.createTemp() } catch {
            logger.error("temp_file_failed", ["error": "\(error)"])
            return exchange.send(.error(503, "cannot create a cache file now: \(error)"))
        }
        var options = Transfer.Options()
        options.connectTimeoutMS = config.connectTimeoutMS
        options.connectPolicy = connectPolicy
        options.lowSpeedBytes = 1
        options.lowSpeedSeconds = config.stallTimeoutSeconds
        let fetch = FileFetch(
            key: key, source: source, temp: temp, loop: loop, options: options,
            answer: { [weak self] exchange, answer in self?.answer(exchange, key: key, with: answer) },
            finished: { [weak self] fetch, result in self?.fileFetchFinished(fetch, result) })
        fileFetches[key] = fetch
        fetch.join(exchange)
        logger.info("upstream_file_start", ["file": key.filename, "url": source.url])
        fileCurl.add(fetch.transfer)
    }

    private func answer(_ exchange: Exchange, key: FileKey, with answer: FileFetch.Answer) {
        switch answer {
        case .streaming(let file):
            exchange.send(fileResponse(key, .growing(file), cache: .miss))
        case .cached:
            guard let (fd, size) = store.openIfPresent(key) else {
                return exchange.send(.error(502, "file vanished from the cache"))
            }
            exchange.send(fileResponse(key, .file(fd, offset: 0, length: size), cache: .miss))
        case .failed(let status, let reason):
            exchange.send(.error(status, reason))
        }
    }

    private func fileFetchFinished(_ fetch: FileFetch, _ result: Result<Int, FileFetch.FetchFailure>) {
        fileFetches.removeValue(forKey: fetch.key)
        switch result {
        case .success(let size):
            stats.upstream(.file, succeeded: true, now: clock.now)
            do {
                try store.commit(fetch.tempFile, as: fetch.key)
                index.addCached(fetch.key, size: size)
                let verified = fetch.source.sha256 != nil
                if !verified { stats.unverifiedFile() }
                logger.log(verified ? .info : .warning, "upstream_file_done",
                           ["file": fetch.key.filename, "bytes": String(size), "sha256": fetch.sha256 ?? "",
                            "verified": verified ? "sha256" : "no (upstream gave no sha256)"])
                didCache(fetch.key, sha256: fetch.sha256 ?? "")
            } catch {
                store.discard(fetch.tempFile)
                logger.error("cache_commit_failed", ["file": fetch.key.filename, "error": "\(error)"])
            }
        case .failure(let failure):
            // A 404 is an answer: upstream is up, the file is just not there.
            stats.upstream(.file, succeeded: failure.status == 404, error: "\(fetch.key.filename): \(failure.reason)", now: clock.now)
            store.discard(fetch.tempFile)
            logger.warning("upstream_file_failed", ["file": fetch.key.filename, "status": String(failure.status), "error": failure.reason])
            let subject = fetch.key.metadataSubject ?? fetch.key
            if failure.upstreamUnavailable, let project = index.known(subject)?.project ?? ProjectName.guess(fromFilename: subject.filename) {
                upstreamFailed(failure.reason, project: project)
            }
        }
    }

    /// A file just entered the cache: a wheel gets its METADATA extracted now (so its
    /// metadata is servable whatever happens to upstream later), fetched metadata
    /// replaces what was known of it, and the project's pages re-render (sizes, metadata).
    private func didCache(_ key: FileKey, sha256: String) {
        if let wheel = key.metadataSubject {
            index.setMetadataHash(sha256, for: wheel)
            if let known = index.known(wheel) { rendered.invalidate(known.project) }
            return
        }
        guard let known = index.known(key) else { return }
        if known.file.isWheel, let local = localMetadataHash(for: key),
           let advertised = known.file.coreMetadata, !advertised.isEmpty, advertised != local {
            logger.warning("metadata_mismatch", ["file": key.filename, "upstream_sha256": advertised, "extracted_sha256": local,
                                                 "action": "upstream's is fetched when asked for and upstream is reachable"])
        }
        rendered.invalidate(known.project)
    }

    /// The sha256 of the metadata wheelhouse can serve for a wheel without upstream:
    /// a cached `.metadata` file, or else the wheel's METADATA, extracted now if the
    /// wheel is cached. nil when neither is there. Hashed once, then remembered.
    func localMetadataHash(for wheel: FileKey) -> String? {
        if let sha = index.metadataHash(for: wheel) { return sha }
        guard let metaKey = wheel.metadataKey else { return nil }
        if index.size(of: metaKey) != nil, let (fd, size) = store.openIfPresent(metaKey), let bytes = try? Files.read(fd, count: size, at: 0) {
            let sha = SHA256.hex(bytes)
            index.setMetadataHash(sha, for: wheel)
            return sha
        }
        guard wheel.filename.hasSuffix(".whl"), index.size(of: wheel) != nil, let (fd, size) = store.openIfPresent(wheel) else { return nil }
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

    func fileResponse(_ key: FileKey, _ body: Body, cache: CacheResult) -> Response {
        let subject = key.metadataSubject ?? key
        let project = index.known(subject)?.project ?? ProjectName.guess(fromFilename: subject.filename)
        stats.served(.file, cache: cache, project: project, file: key, now: clock.now)
        var headers = [
            ("Content-Type", "application/octet-stream"),
            ("ETag", key.etag),
            ("Cache-Control", "max-age=365000000, immutable"),
            ("X-Cache", cache.rawValue),
        ]
        // Ranges only where they can be honoured: a complete file, not one still downloading.
        if case .file = body { headers.append(("Accept-Ranges", "bytes")) }
        return Response(status: 200, headers: headers, body: body, logFields: cache.logFields)
    }
}
