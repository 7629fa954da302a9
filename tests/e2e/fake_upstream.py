"""A fake PyPI for tests: serves a corpus as a PEP 691 JSON or PEP 503 HTML
simple index on 127.0.0.1 and counts every request it receives.

    python3 fake_upstream.py --corpus DIR [--host 127.0.0.1] [--port 0] [--mode json|html]
                             [--corrupt FILENAME]... [--latency-ms N] [--rate-kbps N]
                             [--no-metadata] [--pad-files N] [--pad-table FILE]

Like PyPI, it advertises PEP 658 core metadata for every wheel (and serves
`<wheel>.metadata`) unless started with --no-metadata.

Files honour a single `Range: bytes=` (206, or 416), as PyPI's CDN does, unless the
ignore_range fault is on (then 200 with everything, as some mirrors do).

Prints "READY <port>" once listening. GET /_stats returns the request counts, the file
bytes sent per path (`bytes`), the whole-file (200) answers per path (`whole`)
and the bytes sent by kind of path: pages, files, metadata (`bytes-by-kind`).

Real-size pages (bench/realsize.py): --pad-files N lists N more files on every
project's page, --pad-table FILE ({"project": N}) sets N per project and adds
projects that exist only as listings (padding.py). Padding files are listed, never
stored: only the corpus's real files download.

GET /_control?knob=value changes a fault knob at run time (see Faults).
"""
import argparse
import hashlib
import html
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from padding import Padding


class Faults:
    """Misbehaviours a test can switch on while the server runs."""
    def __init__(self):
        self.page_status = 0      # answer project pages with this status (e.g. 503)
        self.file_status = 0      # answer files with this status
        self.truncate = 0         # files: declare the full length, send half, close
        self.stall = 0            # files: send half, then send nothing for this many seconds
        self.redirect_files = 0   # files: 302 to /real/<filename> first
        self.chunked = 0          # files: no Content-Length, chunked transfer encoding
        self.latency_ms = 0       # extra latency per request
        self.hang = 0             # accept, read the request, then answer nothing for this many seconds
        self.hang_files = 0       # the same, for files only (pages answer)
        self.metadata_differs = 0  # advertise and serve .metadata that is not the wheel's METADATA
        self.overrun = 0          # files: declare half the length, send that, then (after a pause) the rest
        self.invalid_entries = 0  # JSON pages: add a null and other unusable entries to `files`
        self.private_links = 0    # pages: add files (no sha256) whose URLs point at private addresses
        self.redirect_private = 0  # files: 302 to the cloud metadata address instead
        self.unhashed_stats_link = 0  # pages: add a file without sha256 whose URL is this server's /_stats
        self.ignore_range = 0     # files: ignore Range headers (answer 200 with the whole file)


class CountingWriter:
    """The handler's output, counting bytes sent by kind of path (pages, files, metadata)."""
    def __init__(self, raw, handler):
        self.raw = raw
        self.handler = handler

    def write(self, data):
        path = getattr(self.handler, "path", "") or ""
        kind = "metadata" if path.endswith(".metadata") else "files" if path.startswith(("/files/", "/real/")) else "pages"
        state = self.handler.state
        with state.bytes_lock:  # not state.lock: /_stats writes while holding that
            state.bytes_by_kind[kind] = state.bytes_by_kind.get(kind, 0) + len(data)
        return self.raw.write(data)

    def __getattr__(self, name):
        return getattr(self.raw, name)


class State:
    def __init__(self, args):
        self.args = args
        self.padding = Padding(args.pad_files, args.pad_table)
        self.bytes_by_kind = {}  # "pages" | "files" | "metadata" -> bytes written (CountingWriter)
        self.bytes_lock = threading.Lock()
        self.faults = Faults()
        self.faults.latency_ms = args.latency_ms
        with open(os.path.join(args.corpus, "index.json")) as f:
            self.index = json.load(f)
        self.lock = threading.Lock()
        self.counts = {}
        self.bytes = {}   # file path -> body bytes sent
        self.whole = {}   # file path -> 200 answers (whole file)

    def count(self, path, table=None, n=1):
        with self.lock:
            table = self.counts if table is None else table
            table[path] = table.get(path, 0) + n


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        # Head and body are separate writes: without this, Nagle + delayed ACK add ~40 ms
        # per response, an artefact no real index (PyPI's CDN) shows.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.wfile = CountingWriter(self.wfile, self)

    def do_GET(self):
        s = self.state
        path = self.path.split("?")[0]
        if path == "/_stats":
            with s.lock:
                stats = {"counts": s.counts, "bytes": s.bytes, "whole": s.whole}
            with s.bytes_lock:
                stats["bytes-by-kind"] = dict(s.bytes_by_kind)
            return self._send(200, "application/json", json.dumps(stats).encode())
        if path == "/_control":
            for knob, value in urllib.parse.parse_qsl(self.path.split("?", 1)[1]):
                setattr(s.faults, knob, int(value))
            return self._send(200, "text/plain", b"ok\n")
        s.count(path)
        if s.faults.hang:
            time.sleep(s.faults.hang)  # a captive portal or half-up VPN: connected, silent
            self.close_connection = True
            return
        if s.faults.latency_ms:
            time.sleep(s.faults.latency_ms / 1000)
        parts = path.strip("/").split("/")
        if parts == ["simple"]:
            return self._project_list()
        if len(parts) == 2 and parts[0] == "simple":
            if s.faults.page_status:
                return self._send(s.faults.page_status, "text/plain", b"failing on purpose\n")
            return self._page(parts[1])
        if len(parts) == 2 and parts[0] in ("files", "real") and s.faults.hang_files:
            time.sleep(s.faults.hang_files)
            self.close_connection = True
            return
        if len(parts) == 2 and parts[0] in ("files", "real"):
            if s.faults.file_status:
                return self._send(s.faults.file_status, "text/plain", b"failing on purpose\n")
            if parts[0] == "files" and s.faults.redirect_private:
                self.send_response(302)
                self.send_header("Location", f"http://169.254.169.254/latest/meta-data/{parts[1]}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if parts[0] == "files" and s.faults.redirect_files:
                self.send_response(302)
                self.send_header("Location", f"/real/{parts[1]}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self._file(parts[1])
        self._send(404, "text/plain", b"not found\n")

    def _project_list(self):
        names = sorted(list(self.state.index) + self.state.padding.listing_only(self.state.index))
        if "json" in self.headers.get("Accept", ""):
            body = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
            return self._send(200, "application/vnd.pypi.simple.v1+json", json.dumps(body).encode())
        links = "".join(f'<a href="{n}/">{n}</a>\n' for n in names)
        self._send(200, "text/html", f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode())

    def _page(self, project):
        files = self.state.index.get(project)
        if files is None and self.state.padding.count(project) and project in self.state.padding.table:
            files = []  # a listing-only project (--pad-table)
        if files is None:
            return self._send(404, "text/plain", b"no such project\n")
        host = f"http://{self.server.server_address[0]}:{self.server.server_port}"
        faults = self.state.faults
        extra = []  # (filename, absolute url): files listed without a sha256
        if faults.private_links:
            extra += [(f"{project}-9.0.tar.gz", f"http://169.254.169.254/latest/{project}-9.0.tar.gz"),
                      (f"{project}-9.1.tar.gz", f"http://10.255.255.1:{self.server.server_port}/files/{project}-9.1.tar.gz"),
                      (f"{project}-9.2.tar.gz", f"http://[fe80::1]/{project}-9.2.tar.gz")]
        if faults.unhashed_stats_link:
            extra.append((f"{project}-9.3.tar.gz", f"{host}/_stats"))
        if self.state.args.mode == "json" and "json" in self.headers.get("Accept", ""):
            body = {
                "meta": {"api-version": "1.1"}, "name": project,
                "versions": sorted({f["version"] for f in files}),
                "files": [{
                    "filename": f["filename"],
                    "url": f"../../files/{f['filename']}" if self.state.args.relative else f"{host}/files/{f['filename']}",
                    "hashes": {"sha256": f["sha256"]}, "size": f["size"],
                    "upload-time": f.get("upload-time", "2024-01-02T03:04:05.000000Z"),
                    **({"requires-python": f["requires-python"]} if f["requires-python"] else {}),
                    **({"core-metadata": {"sha256": self._metadata_sha(f["filename"])}} if self._has_metadata(f) else {}),
                    **({"yanked": f["yanked"]} if f["yanked"] else {}),
                } for f in files],
            }
            body["files"] += [{"filename": name, "url": url, "hashes": {}} for name, url in extra]
            if faults.invalid_entries:
                body["files"] += [None, 7, {"filename": None, "url": "x"}, {"url": f"{host}/files/x-1.0.tar.gz"}]
            return self._send_page("application/vnd.pypi.simple.v1+json", self._padded_json(project, body, host))
        links = []
        for f in files:
            attrs = f'href="../../files/{f["filename"]}#sha256={f["sha256"]}"'
            if f["requires-python"]:
                attrs += f' data-requires-python="{html.escape(f["requires-python"])}"'
            if f["yanked"]:
                attrs += f' data-yanked="{html.escape(f["yanked"])}"'
            if self._has_metadata(f):
                attrs += f' data-core-metadata="sha256={self._metadata_sha(f["filename"])}"'
            links.append(f"<a {attrs}>{f['filename']}</a><br/>")
        links += [f'<a href="{html.escape(url)}">{name}</a><br/>' for name, url in extra]
        if self.state.padding.count(project):
            links.append(self.state.padding.listing(project, "html", host, self.state.args.metadata))
        page = "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n"
        self._send_page("text/html", page.encode())

    def _padded_json(self, project, body, host):
        """The page's JSON with the padding files spliced in (`files` is its last member)."""
        padding = self.state.padding
        if not padding.count(project):
            return json.dumps(body).encode()
        body["versions"] = padding.versions(project) + body["versions"]
        text = json.dumps(body)
        assert text.endswith("]}")
        listing = padding.listing(project, "json", host, self.state.args.metadata)
        return (text[:-2] + (", " if body["files"] else "") + listing + "]}").encode()

    def _send_page(self, ctype, body):
        """Pages carry an ETag and honour If-None-Match, as PyPI's do."""
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.state.count("304")
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _has_metadata(self, f):
        return self.state.args.metadata and f["filename"].endswith(".whl")

    def _metadata(self, wheel):
        import zipfile
        with zipfile.ZipFile(os.path.join(self.state.args.corpus, wheel)) as zf:
            name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            return zf.read(name) + (b"Summary-Note: upstream's own copy\n" if self.state.faults.metadata_differs else b"")

    def _metadata_sha(self, wheel):
        return hashlib.sha256(self._metadata(wheel)).hexdigest()

    def _file(self, filename):
        if filename.endswith(".whl.metadata") and self.state.args.metadata:
            if "/" in filename or not os.path.isfile(os.path.join(self.state.args.corpus, filename[:-len(".metadata")])):
                return self._send(404, "text/plain", b"no such file\n")  # a listed-only (padding) wheel
            return self._send(200, "application/octet-stream", self._metadata(filename[:-len(".metadata")]))
        path = os.path.join(self.state.args.corpus, filename)
        if "/" in filename or not os.path.isfile(path):
            return self._send(404, "text/plain", b"no such file\n")
        with open(path, "rb") as f:
            data = f.read()
        if filename in self.state.args.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]  # same length, wrong hash
        faults = self.state.faults
        if faults.overrun:
            # Declares half, sends half, then the other half on the same kept-alive
            # connection, where the next request's response should be.
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data) // 2))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            time.sleep(faults.overrun / 1000)
            self.wfile.write(data[len(data) // 2:])
            self.wfile.flush()
            return
        if faults.chunked:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 65536):
                piece = data[i:i + 65536]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        status, data = self._range(data)
        if status == 416:
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", self._content_range)
        self.end_headers()
        self.state.count(f"/files/{filename}", self.state.bytes, len(data))
        if status == 200:
            self.state.count(f"/files/{filename}", self.state.whole)
        if faults.truncate or faults.stall:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            if faults.stall:
                time.sleep(faults.stall)
            self.close_connection = True
            return
        rate = self.state.args.rate_kbps * 1024
        chunk = 64 * 1024
        for i in range(0, len(data), chunk):
            self.wfile.write(data[i:i + chunk])
            if rate:
                time.sleep(chunk / rate)

    def _range(self, data):
        """(status, body) for the request's Range header: one `bytes=` range (RFC 9110 14.1.2)."""
        header = self.headers.get("Range")
        if not header or self.state.faults.ignore_range or not header.startswith("bytes=") or "," in header:
            return 200, data
        first, _, last = header[6:].strip().partition("-")
        try:
            if first == "":
                n = int(last)
                first, last = max(0, len(data) - n), len(data) - 1
                if n == 0:
                    raise IndexError
            else:
                first, last = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
            if first >= len(data) or first > last:
                raise IndexError
        except ValueError:
            return 200, data
        except IndexError:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return 416, b""
        self._content_range = f"bytes {first}-{last}/{len(data)}"
        return 206, data[first:last + 1]

    def _send(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", required=True)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (containers: the bridge's gateway)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mode", choices=["json", "html"], default="json")
    p.add_argument("--corrupt", action="append", default=[])
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--rate-kbps", type=int, default=0, help="per-connection bandwidth cap")
    p.add_argument("--relative", action="store_true", help="relative file URLs in JSON pages too")
    p.add_argument("--no-metadata", dest="metadata", action="store_false",
                   help="advertise no PEP 658 metadata (by default wheels have it, as on PyPI)")
    p.add_argument("--pad-files", type=int, default=0, help="list this many more files on every page (real-size pages)")
    p.add_argument("--pad-table", help='JSON {"project": files}: padding per project; unknown names become listing-only projects')
    args = p.parse_args()
    Handler.state = State(args)
    # The default backlog (5) overflows when a client opens many connections at once
    # (a prefetch asks for 16 pages together): connections then get reset.
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(f"READY {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
