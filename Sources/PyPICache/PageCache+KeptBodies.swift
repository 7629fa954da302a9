import HTTPServer
import Reactor
import Support

/// Rendered bodies kept on disk (`RenderedBodyFiles`): what state a body belongs to, writing
/// it when a big rendering is made, and serving it after a restart without reading the page.
extension PageCache {
    /// The state a rendering of `key` depends on, named by a sha256: the stored page's content
    /// tag and everything else that changes the bytes without changing the page (reachability,
    /// hosts known to ignore Range, the release filter, the variant, this build). The cached
    /// files it depends on are not in it: their changes delete the bodies (`invalidate`).
    /// nil: not to be kept on disk (no page stored in a tagged form, its last save failed, or
    /// allow/deny lists, which are not named here).
    func bodyStamp(_ key: RenderedPages.Key) -> String? {
        guard let build = bodies?.build, !unsavedPages.contains(key.project), let filter = releaseFilterStamp,
              let tag = storedPageHead(key.project)?.contentTag else { return nil }
        let ignoringRanges = metadata.rangeSupport.hostsIgnoringRanges.sorted().joined(separator: ",")
        let state = "wheelhouse-rendered-body-1 version=\(PyPIProxy.version) build=\(build) format=\(key.format) alias=\(key.alias) gzip=\(key.gzip) "
            + "links=\(links.prefix(key.linkBase, alias: key.alias)) "
            + "reachable=\(health.reachable) ranges-ignored=\(ignoringRanges) filter=\(filter) page=\(SHA256.hex(tag))"
        return SHA256.hex(Array(state.utf8))
    }

    /// The time rules of the release filter, written out in a fixed order; nil with allow/deny lists.
    private var releaseFilterStamp: String? {
        let filter = config.releaseFilter
        guard filter.allow == nil, filter.deny == nil else { return nil }
        let exempt = filter.minAgeExempt.map(\.normalized).sorted().joined(separator: ",")
        return "min-age=\(filter.minAgeSeconds.map { String($0) } ?? "-")/exempt=\(exempt)/exclude-newer=\(filter.excludeNewer.map { String($0) } ?? "-")"
    }

    /// After a restart, before the page is read: a body kept on disk for the page as stored
    /// now (its head says when it was fetched and what it lists) is sent at once, if the page
    /// may be served from the cache. The page is then read a slice per loop iteration, so its
    /// files are known (and later requests take the usual way). False: nothing kept applies.
    func serveKeptBody(_ name: ProjectName, _ variant: Variant, exchange: Exchange) -> Bool {
        guard bodies != nil, !shuttingDown, let head = storedPageHead(name), head.contentTag != nil else { return false }
        let now = clock.now
        let decision = policy.decide(.init(storedFetchedAt: head.fetchedAt, now: now, onlyIfCached: PyPIProxy.onlyIfCached(exchange.request),
                                           knownMissing: false, breakerOpen: health.breakerOpen))
        guard case .serveStored(let result) = decision else { return false }
        let key = renderedKey(name, variant)
        guard let kept = keptRendering(key, now: now) else { return false }
        exchange.send(response(kept, name, variant, cache: result))
        // Behind the response: the page's files become known (a file the body lists may be asked next).
        if loads[name] == nil { loop.execute { [weak self] in self?.readStored(name) { _ in } } }
        return true
    }

    /// The rendering kept in memory, else the body kept on disk for the state the page is in
    /// now (then kept open with the others in files): no render either way.
    func keptRendering(_ key: RenderedPages.Key, now: Double) -> RenderedPages.Rendered? {
        if let inMemory = rendered.cached(key, now: now) { return inMemory }
        guard let bodies, bodies.mayHold(key), let stamp = bodyStamp(key), let opened = bodies.open(key, stamp: stamp, now: now) else { return nil }
        rendered.remember(key, opened)
        keptBodiesServed += 1
        return opened
    }

    /// A rendering made in one go and too big for memory, written to a file (kept on disk
    /// when its state has a stamp); nil when it cannot be written.
    func spill(_ key: RenderedPages.Key, _ made: RenderedPages.Rendered) -> RenderedPages.Rendered? {
        guard case .bytes(let body) = made.body else { return made }
        do {
            let draft = try makeDraft()
            try draft.append(body)
            keep(draft, as: key, made)
            return RenderedPages.Rendered(body: draft.body, etag: made.etag, validUntil: made.validUntil)
        } catch {
            logger.warning("rendered_page_spill_failed", ["bytes": String(body.count), "error": "\(error)"])
            return nil
        }
    }

    /// The stored page's date and content tag from its first bytes (local disk only: the
    /// bodies are kept beside it).
    private func storedPageHead(_ name: ProjectName) -> PageCodec.Head? { (store as? CacheStore)?.storedPageHead(name) }

    /// A file for a body: a draft to be kept on disk, or (without `rendered/`) an unlinked
    /// temp file that vanishes with its last descriptor.
    func makeDraft() throws -> BodyDraft {
        if let bodies { return try bodies.draft() }
        let draft = BodyDraft(temp: try store.createTemp(), bodyOffset: 0)
        draft.unlink()
        return draft
    }

    /// Publishes a body just rendered (from the state now) under its variant's name when that
    /// state has a stamp; waits for its page's save when that is under way; else (or when
    /// publishing fails) unlinks it: the body is then served from its descriptor only.
    func keep(_ draft: BodyDraft, as key: RenderedPages.Key, _ made: RenderedPages.Rendered) {
        guard bodies != nil, !shuttingDown else { return draft.unlink() }
        if (store as? CacheStore)?.pageBeingSaved(key.project) != nil {
            awaitingSave.removeValue(forKey: key)?.draft.unlink()
            awaitingSave[key] = (draft, made)
            return
        }
        publish(draft, as: key, made)
    }

    /// The project's page is on disk now: bodies rendered meanwhile are published (nothing
    /// changed since, or they would have been dropped); `written: false` drops them.
    func pageSaveEnded(_ name: ProjectName, written: Bool) {
        for key in awaitingSave.keys where key.project == name {
            guard let parked = awaitingSave.removeValue(forKey: key) else { continue }
            if written { publish(parked.draft, as: key, parked.made) } else { parked.draft.unlink() }
        }
    }

    private func publish(_ draft: BodyDraft, as key: RenderedPages.Key, _ made: RenderedPages.Rendered) {
        guard let bodies, let stamp = bodyStamp(key) else { return draft.unlink() }
        if bodies.publish(draft, as: key, stamp: stamp, etag: made.etag, validUntil: made.validUntil) {
            keptBodiesWritten += 1
        } else {
            logger.warning("rendered_body_not_kept", ["project": key.project.normalized, "reason": "could not write it to rendered/"])
        }
    }
}
