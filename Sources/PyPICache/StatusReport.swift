import FoundationEssentials
import HTTPServer
import Support
import Upstream

/// `/+status` (devpi's shape, plus wheelhouse's own keys) and `/+metrics`
/// (Prometheus text format).
struct StatusReport {
    let snapshot: ServerSnapshot

    struct Status {
        let json: String
        /// The same facts as label/value pairs, for the HTML view.
        let summary: [(String, String)]
    }

    func status() -> Status {
        let uptime = snapshot.uptimeSeconds
        let hits = snapshot.stats.hits.values.reduce(0, +), misses = snapshot.stats.misses.values.reduce(0, +)
        let state = snapshot.upstream
        var failingSince = "null", lastError = "null"
        if case .failing(let since, let error) = state {
            failingSince = PageRenderer.quote(Date(timeIntervalSince1970: since).formatted(.iso8601))
            lastError = PageRenderer.quote(error)
        } else if let error = snapshot.stats.lastUpstreamError {
            lastError = PageRenderer.quote(error)
        }
        let metrics = metricSamples().filter { $0.labels.isEmpty }
            .map { "[\(PageRenderer.quote($0.name)),\(PageRenderer.quote($0.type)),\($0.value)]" }.joined(separator: ",")
        let q = PageRenderer.quote
        let closedByReason = CloseReason.allCases.map { "\(q($0.rawValue)):\(snapshot.serverStats?.connectionsClosed[$0] ?? 0)" }
            .joined(separator: ",")
        let parsed = snapshot.index.pagesInMemory
        let json = """
        {"type":"status","result":{"serverdir":\(q(snapshot.config.dataDirectory)),"uuid":\(q(snapshot.uuid)),\
        "versioninfo":[["wheelhouse",\(q(PyPIProxy.version))],["libcurl",\(q(Curl.version))]],"host":\(q(snapshot.config.listenHost)),"port":\(snapshot.config.listenPort),\
        "outside-url":null,"role":"PRIMARY","metrics":[\(metrics)],\
        "uptime-seconds":\(uptime),"cached-projects":\(snapshot.index.projectCount),"cached-files":\(snapshot.cachedFileCount),\
        "cached-bytes":\(snapshot.index.cachedBytes),"hits":\(hits + snapshot.stats.stale),"misses":\(misses),\
        "in-flight-transfers":\(snapshot.activeTransfers),"open-connections":\(snapshot.serverStats?.openConnections ?? 0),\
        "unverified-files":\(snapshot.stats.unverifiedFiles),\
        "memory":{"budget-bytes":\(snapshot.config.memoryBudgetBytes),"parsed-pages":\(parsed.count),"parsed-pages-bytes":\(parsed.bytes),\
        "rendered-pages":\(snapshot.renderedPages.count),"rendered-pages-bytes":\(snapshot.renderedPages.bytes),\
        "page-renders":\(snapshot.renders.renders),"rendered-bodies-written":\(snapshot.renders.keptWritten),\
        "rendered-bodies-served":\(snapshot.renders.keptServed)},\
        "max-cache-bytes":\(snapshot.eviction.map { String($0.capBytes) } ?? "null"),"evicted-files":\(snapshot.eviction?.evictedFiles ?? 0),\
        "evicted-bytes":\(snapshot.eviction?.evictedBytes ?? 0),"pinned-files":\(snapshot.eviction?.pins.count ?? 0),\
        "connections-closed":{\(closedByReason)},\
        "shared-store":\(sharedStoreJSON()),\
        "upstream":{"url":\(q(snapshot.config.upstream)),"state":\(q(state.name)),"failing-since":\(failingSince),"last-error":\(lastError)}}}

        """
        let summary: [(String, String)] = [
            ("Version", "wheelhouse \(PyPIProxy.version)"),
            ("Up for", WebFormat.duration(uptime)),
            ("Data directory", snapshot.config.dataDirectory),
            ("Listening on", "\(snapshot.config.listenHost):\(snapshot.config.listenPort)"),
            ("Upstream", "\(snapshot.config.upstream) (\(state.name))"),
            ("Last upstream error", snapshot.stats.lastUpstreamError ?? "none"),
            ("Upstream failing since", failingSince == "null" ? "-" : failingSince),
            ("Files cached unverified (no sha256 upstream)", "\(snapshot.stats.unverifiedFiles)"),
            ("Cached", "\(snapshot.cachedFileCount) files, \(WebFormat.bytes(snapshot.index.cachedBytes)), \(snapshot.index.projectCount) project pages"),
            ("Size cap", snapshot.eviction.map { "\(WebFormat.bytes($0.capBytes)); evicted \($0.evictedFiles) files (\(WebFormat.bytes($0.evictedBytes))); \($0.pins.count) pinned" } ?? "none"),
            ("Hits / misses", "\(hits + snapshot.stats.stale) / \(misses)"),
            ("Downloads in progress", "\(snapshot.activeTransfers)"),
            ("Open connections", "\(snapshot.serverStats?.openConnections ?? 0)"),
            ("Page memory (--memory-budget \(WebFormat.bytes(snapshot.config.memoryBudgetBytes)))",
             "\(parsed.count) parsed pages, \(WebFormat.bytes(parsed.bytes)); \(snapshot.renderedPages.count) rendered, "
             + WebFormat.bytes(snapshot.renderedPages.bytes)),
        ]
        return Status(json: json, summary: summary + sharedStoreSummary())
    }

    /// JSON by default and for `application/json`; HTML when a browser prefers it.
    func statusResponse(_ request: Request) -> Response {
        if prefersHTML(request.header("accept")) { return WebPages(snapshot: snapshot).statusHTML() }
        return Response(status: 200, headers: [("Content-Type", "application/json"), ("Cache-Control", "no-cache")],
                        body: .bytes(Array(status().json.utf8)))
    }

    private func prefersHTML(_ accept: String?) -> Bool {
        guard let accept else { return false }
        let list = WeightedList(accept)
        guard let html = list.quality(of: "text/html"), html > 0 else { return false }
        return html >= (list.quality(of: "application/json") ?? 0)
    }

    struct MetricSample {
        let name: String
        let type: String
        let help: String
        var labels: String = ""
        let value: Int
    }

    func metricSamples() -> [MetricSample] {
        var samples: [MetricSample] = []
        func add(_ name: String, _ type: String, _ help: String, _ value: Int, labels: String = "") {
            samples.append(MetricSample(name: name, type: type, help: help, labels: labels, value: value))
        }
        for (status, count) in (snapshot.serverStats?.responsesByStatus ?? [:]).sorted(by: { $0.key < $1.key }) {
            add("wheelhouse_http_responses_total", "counter", "HTTP responses sent, by status.", count, labels: "status=\"\(status)\"")
        }
        add("wheelhouse_http_sent_bytes_total", "counter", "Body bytes of completed responses.", snapshot.serverStats?.bodyBytesSent ?? 0)
        add("wheelhouse_http_responses_cut_total", "counter", "Responses cut short before their end.", snapshot.serverStats?.responsesCut ?? 0)
        add("wheelhouse_open_connections", "gauge", "Client connections open now.", snapshot.serverStats?.openConnections ?? 0)
        for reason in CloseReason.allCases {
            add("wheelhouse_connections_closed_total", "counter", "Client connections closed, by why they ended.",
                snapshot.serverStats?.connectionsClosed[reason] ?? 0, labels: "reason=\"\(reason.rawValue)\"")
        }
        for kind in CacheStats.Kind.allCases {
            let l = "kind=\"\(kind.rawValue)\""
            add("wheelhouse_cache_hits_total", "counter", "Requests answered from the cache.", snapshot.stats.hits[kind] ?? 0, labels: l)
            add("wheelhouse_cache_misses_total", "counter", "Requests that went upstream.", snapshot.stats.misses[kind] ?? 0, labels: l)
            add("wheelhouse_upstream_fetches_total", "counter", "Upstream requests finished.", snapshot.stats.upstreamFetches[kind] ?? 0, labels: l)
            add("wheelhouse_upstream_failures_total", "counter", "Upstream requests that failed.", snapshot.stats.upstreamFailures[kind] ?? 0, labels: l)
        }
        var failingSinceSeconds = 0
        if case .failing(let since, _) = snapshot.upstream { failingSinceSeconds = Int(since) }
        add("wheelhouse_upstream_up", "gauge", "1 while upstream answers (or nothing was asked yet), 0 while failing or offline.",
            failingSinceSeconds == 0 && !snapshot.config.offline ? 1 : 0)
        add("wheelhouse_upstream_failing_since_seconds", "gauge", "Unix time upstream started failing; 0 when it is not.", failingSinceSeconds)
        add("wheelhouse_unverified_files_total", "counter", "Files cached although upstream gave no sha256 for them.", snapshot.stats.unverifiedFiles)
        add("wheelhouse_cache_stale_total", "counter", "Stale pages served because upstream failed.", snapshot.stats.stale)
        add("wheelhouse_upstream_inflight_transfers", "gauge", "Upstream transfers in progress.", snapshot.activeTransfers)
        add("wheelhouse_cached_files", "gauge", "Distribution files in the cache.", snapshot.cachedFileCount)
        add("wheelhouse_cached_bytes", "gauge", "Bytes in the cache.", snapshot.index.cachedBytes)
        add("wheelhouse_cache_max_bytes", "gauge", "The --max-cache-size cap; 0 when there is none.", snapshot.eviction?.capBytes ?? 0)
        add("wheelhouse_cache_evictions_total", "counter", "Files evicted to keep under the cap.", snapshot.eviction?.evictedFiles ?? 0)
        add("wheelhouse_cache_evicted_bytes_total", "counter", "Bytes evicted to keep under the cap.", snapshot.eviction?.evictedBytes ?? 0)
        add("wheelhouse_uptime_seconds", "gauge", "Seconds since start-up.", snapshot.uptimeSeconds)
        if let shared = snapshot.sharedStore {
            add("wheelhouse_shared_store_up", "gauge", "1 while the shared bucket answers, 0 while it is down.", shared.up ? 1 : 0)
            add("wheelhouse_shared_store_down_since_seconds", "gauge", "Unix time the shared bucket went down; 0 when it is up.",
                Int(shared.downSince ?? 0))
            add("wheelhouse_shared_store_files_fetched_total", "counter", "Files read from the shared bucket and verified.", shared.filesFetched)
            add("wheelhouse_shared_store_fetch_failures_total", "counter", "Reads from the shared bucket that failed or did not verify.",
                shared.filesFetchFailed)
            add("wheelhouse_shared_store_pages_fetched_total", "counter", "Project pages read from the shared bucket.", shared.pagesFetched)
            add("wheelhouse_shared_store_uploads_total", "counter", "Files this node uploaded to the shared bucket.", shared.uploads)
            add("wheelhouse_shared_store_already_shared_total", "counter", "Uploads skipped: another node had written the object.",
                shared.alreadyShared)
            add("wheelhouse_shared_store_uploads_dropped_total", "counter", "Uploads given up (file gone, request refused).", shared.uploadsDropped)
            add("wheelhouse_shared_store_pending_uploads", "gauge", "Uploads waiting or running (journaled).", shared.uploadsPending)
        }
        return samples
    }

    /// The shared bucket's part of /+status: null without one.
    private func sharedStoreJSON() -> String {
        guard let s = snapshot.sharedStore else { return "null" }
        let q = PageRenderer.quote
        let since = s.downSince.map { q(Date(timeIntervalSince1970: $0).formatted(.iso8601)) } ?? "null"
        return """
        {"endpoint":\(q(s.endpoint)),"bucket":\(q(s.bucket)),"prefix":\(q(s.prefix)),"state":\(q(s.up ? "up" : "down")),\
        "down-since":\(since),"last-error":\(s.lastError.map(q) ?? "null"),"files-fetched":\(s.filesFetched),\
        "fetch-failures":\(s.filesFetchFailed),"pages-fetched":\(s.pagesFetched),"uploads":\(s.uploads),\
        "already-shared":\(s.alreadyShared),"uploads-dropped":\(s.uploadsDropped),"pending-uploads":\(s.uploadsPending)}
        """
    }

    private func sharedStoreSummary() -> [(String, String)] {
        guard let s = snapshot.sharedStore else { return [] }
        return [
            ("Shared bucket", "\(s.endpoint)/\(s.bucket)/\(s.prefix) (\(s.up ? "up" : "down"))"),
            ("Shared bucket traffic", "\(s.filesFetched) files and \(s.pagesFetched) pages read, \(s.uploads) files uploaded, "
                + "\(s.uploadsPending) uploads pending, \(s.uploadsDropped) dropped"),
        ]
    }

    func metricsResponse() -> Response {
        // The text format wants each family's samples together, after its HELP and TYPE.
        let samples = metricSamples()
        var families: [String] = []
        var byFamily: [String: [MetricSample]] = [:]
        for s in samples {
            if byFamily[s.name] == nil { families.append(s.name) }
            byFamily[s.name, default: []].append(s)
        }
        var out = ""
        for name in families {
            let family = byFamily[name]!
            out += "# HELP \(name) \(family[0].help)\n# TYPE \(name) \(family[0].type)\n"
            for s in family { out += s.labels.isEmpty ? "\(name) \(s.value)\n" : "\(name){\(s.labels)} \(s.value)\n" }
        }
        return Response(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("Cache-Control", "no-cache")],
                        body: .bytes(Array(out.utf8)))
    }
}
