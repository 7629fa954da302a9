import FoundationEssentials
import HTTPServer

/// The human- and monitor-facing pages: `/`, `/+status`, and the project list.
extension PyPIProxy {
    func homePage() -> Response {
        let names = index.projectNames
        var rows = ""
        for name in names {
            let n = HTMLEscaping.escape(name.normalized)
            rows += "<li><a href=\"/root/pypi/+simple/\(n)/\">\(n)</a></li>\n"
        }
        let html = """
        <!DOCTYPE html>
        <html lang="en">
        <head><meta charset="utf-8"><title>wheelhouse</title></head>
        <body>
        <h1>wheelhouse</h1>
        <p>A caching PyPI proxy. Point pip at <code>/root/pypi/+simple/</code>.</p>
        <p>\(cachedFileCount) files cached (\(index.cachedBytes) bytes) for \(names.count) projects.</p>
        <ul>
        \(rows)</ul>
        </body>
        </html>

        """
        return Response(status: 200, headers: [("Content-Type", "text/html; charset=utf-8")], body: .bytes(Array(html.utf8)))
    }

    func statusPage() -> Response {
        let json = """
        {"type":"status","result":{"serverdir":\(PageRenderer.quote(config.dataDirectory)),\
        "role":"MASTER","versioninfo":[["wheelhouse","0.1.0"]],\
        "uptime-seconds":\(Int(Date().timeIntervalSince(started))),\
        "upstream":\(PageRenderer.quote(config.upstream)),\
        "cached-projects":\(index.projectNames.count),"cached-files":\(cachedFileCount),\
        "cached-bytes":\(index.cachedBytes),"in-flight-transfers":\(curl.activeCount)}}

        """
        return Response(status: 200, headers: [("Content-Type", "application/json")], body: .bytes(Array(json.utf8)))
    }

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
