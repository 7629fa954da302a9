import FoundationEssentials
import HTTPServer

/// The pages people look at: `/` (what is cached), `/root/pypi/<project>` (one
/// project's cached files), and `/+status` in a browser. Server-rendered HTML5,
/// one inline stylesheet, no JavaScript, no external assets.
struct WebPages {
    let snapshot: ServerSnapshot

    /// The simple index root: the projects wheelhouse has pages for (not upstream's
    /// whole list, which pip and uv never need), denied ones left out.
    func simpleIndex() -> Response {
        var html = "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"\(PageRenderer.apiVersion)\">\n"
        html += "    <title>Simple index</title>\n  </head>\n  <body>\n"
        for name in snapshot.index.projectNames where snapshot.config.releaseFilter.projectRefusal(name) == nil {
            html += "    <a href=\"\(name.normalized)/\">\(name.normalized)</a><br/>\n"
        }
        html += "  </body>\n</html>\n"
        return Response(status: 200, headers: [("Content-Type", "text/html; charset=utf-8")], body: .bytes(Array(html.utf8)))
    }

    func homePage() -> Response {
        let projects = projectSummaries()
        let totalBytes = snapshot.index.cachedBytes
        let shown = 500  // a page, not a dump: the most recently used first
        var rows = ""
        for p in projects.prefix(shown) {
            let n = HTMLEscaping.escape(p.name.normalized)
            rows += "<tr><td><a href=\"/root/pypi/\(n)\">\(n)</a></td><td class=\"num\">\(p.files)</td>"
            rows += "<td class=\"num\">\(WebFormat.bytes(p.bytes))</td><td>\(WebFormat.ago(p.lastUsed, now: snapshot.now))</td></tr>\n"
        }
        if projects.isEmpty {
            rows = "<tr><td colspan=\"4\" class=\"empty\">Nothing cached yet. Install something through the index below.</td></tr>\n"
        } else if projects.count > shown {
            rows += "<tr><td colspan=\"4\" class=\"empty\">… and \(projects.count - shown) more projects.</td></tr>\n"
        }
        let body = """
        \(upstreamBanner())
        <section class="cards">
          \(WebFormat.card("Projects", "\(projects.count)"))
          \(WebFormat.card("Files", "\(snapshot.cachedFileCount)"))
          \(WebFormat.card("Size", WebFormat.bytes(totalBytes)))
          \(WebFormat.card("Hit ratio", snapshot.stats.hitRatio.map { String(Int(($0 * 100).rounded())) + " %" } ?? "–"))
          \(WebFormat.card("Downloading", "\(snapshot.activeTransfers)"))
        </section>
        <section>
          <h2>Use it</h2>
          <pre>pip install --index-url http://&lt;this host&gt;:\(snapshot.config.listenPort)/root/pypi/+simple/ &lt;package&gt;</pre>
        </section>
        <section>
          <h2>Cached projects</h2>
          <table>
            <thead><tr><th>Project</th><th class="num">Files</th><th class="num">Size</th><th>Last used</th></tr></thead>
            <tbody>
        \(rows)    </tbody>
          </table>
        </section>
        """
        return WebFormat.page(title: "wheelhouse", body: body)
    }

    func projectWebPage(_ name: ProjectName) -> Response {
        let filter = snapshot.config.releaseFilter
        if let reason = filter.projectRefusal(name) { return .error(404, reason) }
        guard let page = snapshot.storedPage(name) else {
            return .error(404, "project \(name) is not cached")
        }
        let n = HTMLEscaping.escape(name.normalized)
        var rows = ""
        var notCached = 0
        // What the page policies hide is not shown here either (as on the simple page).
        let files = page.files.filter { filter.refusal(name, $0, now: snapshot.now) == nil }
        for file in files {
            guard let key = file.key, let size = snapshot.index.size(of: key) else { notCached += 1; continue }
            let f = HTMLEscaping.escape(file.filename)
            let link = "/root/pypi/+f/\(key.hashDirectory)/\(key.hashSubdirectory)/\(PageRenderer.percentEncode(file.filename))"
            let yanked = file.yanked.map { " <span class=\"tag\">yanked\($0.isEmpty ? "" : ": " + HTMLEscaping.escape($0))</span>" } ?? ""
            rows += "<tr><td><a href=\"\(link)\">\(f)</a>\(yanked)</td><td class=\"num\">\(WebFormat.bytes(size))</td>"
            rows += "<td class=\"num\">\(snapshot.stats.fileDownloads[key] ?? 0)</td></tr>\n"
        }
        if rows.isEmpty { rows = "<tr><td colspan=\"3\" class=\"empty\">No file of this project is cached yet.</td></tr>\n" }
        let age = Int(snapshot.now - page.fetchedAt)
        let body = """
        <p class="crumbs"><a href="/">All projects</a> / \(n)</p>
        <h2>\(n)</h2>
        <p>\(files.count) files listed upstream, \(files.count - notCached) cached.
        Page checked with upstream \(WebFormat.duration(age)) ago.
        Simple page: <a href="/root/pypi/+simple/\(n)/">/root/pypi/+simple/\(n)/</a></p>
        <table>
          <thead><tr><th>Cached file</th><th class="num">Size</th><th class="num">Downloads</th></tr></thead>
          <tbody>
        \(rows)  </tbody>
        </table>
        <p class="note">Downloads are counted since the server started.</p>
        """
        return WebFormat.page(title: "\(name.normalized) · wheelhouse", body: body)
    }

    func statusHTML() -> Response {
        let s = StatusReport(snapshot: snapshot).status()
        var rows = ""
        for (key, value) in s.summary { rows += "<tr><th>\(HTMLEscaping.escape(key))</th><td>\(HTMLEscaping.escape(value))</td></tr>\n" }
        let body = """
        <p class="crumbs"><a href="/">All projects</a> / status</p>
        \(upstreamBanner())
        <h2>Status</h2>
        <table class="kv"><tbody>
        \(rows)</tbody></table>
        <p class="note">Machine-readable: <code>curl -H 'Accept: application/json' /+status</code>, and <a href="/+metrics">/+metrics</a> for Prometheus.</p>
        """
        return WebFormat.page(title: "status · wheelhouse", body: body)
    }

    struct ProjectSummary {
        let name: ProjectName
        var files = 0
        var bytes = 0
        var lastUsed: Double?
    }

    /// Cached files grouped by project (projects with a stored page), most recently used first.
    func projectSummaries() -> [ProjectSummary] {
        var byName: [ProjectName: ProjectSummary] = [:]
        for name in snapshot.index.projectNames { byName[name] = ProjectSummary(name: name, lastUsed: snapshot.stats.lastUsed[name]) }
        for (key, size) in snapshot.index.cachedFiles where key.metadataSubject == nil {
            guard let project = snapshot.index.project(of: key) else { continue }
            byName[project, default: ProjectSummary(name: project, lastUsed: snapshot.stats.lastUsed[project])].files += 1
            byName[project]?.bytes += size
        }
        // Denied projects are not shown (their pages and files are refused anyway).
        let filter = snapshot.config.releaseFilter
        return byName.values.filter { $0.files > 0 && filter.projectRefusal($0.name) == nil }.sorted {
            ($0.lastUsed ?? 0, $1.name.normalized) > ($1.lastUsed ?? 0, $0.name.normalized)
        }
    }

    private func upstreamBanner() -> String {
        let upstream = HTMLEscaping.escape(snapshot.config.upstream)
        switch snapshot.upstream {
        case .offline:
            return "<p class=\"banner offline\">Offline mode: serving the cache only, upstream \(upstream) is never contacted.</p>"
        case .failing(let since, let error):
            return "<p class=\"banner failing\">Upstream \(upstream) failing since \(WebFormat.ago(since, now: snapshot.now)): \(HTMLEscaping.escape(error)). Cached files and pages are still served.</p>"
        case .online:
            return "<p class=\"banner online\">Upstream \(upstream) online.</p>"
        case .unknown:
            return "<p class=\"banner\">Upstream \(upstream): not contacted yet.</p>"
        }
    }
}

/// Formatting for the web pages.
enum WebFormat {
    static func page(title: String, body: String) -> Response {
        let html = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTMLEscaping.escape(title))</title>
        <style>
        :root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --accent: #2563eb; --bg: #f5f7fa; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
        header { background: #102a43; color: #fff; padding: 14px 0; }
        header .wrap { display: flex; align-items: baseline; gap: 14px; }
        header h1 { margin: 0; font-size: 22px; letter-spacing: .5px; }
        header a { color: #fff; text-decoration: none; }
        header span { color: #9fb3c8; font-size: 14px; }
        header nav { margin-left: auto; font-size: 14px; }
        header nav a { color: #bcccdc; margin-left: 16px; }
        .wrap { max-width: 1040px; margin: 0 auto; padding: 0 20px; }
        main { padding: 20px 0 40px; }
        h2 { font-size: 18px; margin: 26px 0 10px; }
        a { color: var(--accent); }
        .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-top: 16px; }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
        .card .label { color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .6px; }
        .card .value { font-size: 26px; font-weight: 600; }
        table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
        th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid var(--line); }
        thead th { background: #f0f4f8; font-size: 13px; color: var(--muted); text-transform: uppercase; letter-spacing: .5px; }
        tbody tr:nth-child(even) { background: #fafbfc; }
        .num { text-align: right; font-variant-numeric: tabular-nums; }
        .kv th { width: 30%; color: var(--muted); font-weight: 500; }
        .empty, .note, .crumbs { color: var(--muted); }
        pre { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; overflow-x: auto; }
        .banner { margin: 16px 0 0; padding: 10px 14px; border-radius: 8px; background: #fff; border: 1px solid var(--line); }
        .banner.online { border-color: #8eedc7; background: #effcf6; }
        .banner.failing { border-color: #f8b4b4; background: #fff5f5; }
        .banner.offline { border-color: #f7d070; background: #fffbea; }
        .tag { font-size: 12px; background: #fff5f5; color: #c53030; border-radius: 4px; padding: 1px 6px; }
        </style>
        </head>
        <body>
        <header><div class="wrap"><h1><a href="/">wheelhouse</a></h1><span>caching PyPI proxy</span>
        <nav><a href="/">Projects</a><a href="/+status">Status</a><a href="/+metrics">Metrics</a></nav></div></header>
        <main class="wrap">
        \(body)
        </main>
        </body>
        </html>

        """
        return Response(status: 200, headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache")],
                        body: .bytes(Array(html.utf8)))
    }

    static func card(_ label: String, _ value: String) -> String {
        "<div class=\"card\"><div class=\"label\">\(label)</div><div class=\"value\">\(HTMLEscaping.escape(value))</div></div>"
    }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(n), unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(n) B" : (value < 10 ? String(Int((value * 10).rounded())) .inserting(".") : String(Int(value.rounded()))) + " " + units[unit]
    }

    static func duration(_ seconds: Int) -> String {
        switch seconds {
        case ..<60: "\(max(0, seconds)) s"
        case ..<3600: "\(seconds / 60) min"
        case ..<86400: "\(seconds / 3600) h"
        default: "\(seconds / 86400) days"
        }
    }

    static func ago(_ time: Double?, now: Double) -> String {
        guard let time else { return "–" }
        return duration(Int(now - time)) + " ago"
    }
}

private extension String {
    /// "12" -> "1.2": one decimal for values under ten.
    func inserting(_ point: Character) -> String {
        var s = self
        if s.count == 1 { s = "0" + s }
        s.insert(point, at: s.index(before: s.endIndex))
        return s
    }
}
