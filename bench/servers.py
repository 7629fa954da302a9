"""The servers a benchmark run compares, each started on 127.0.0.1 with its
own port and data, stopped by PID, and measured through /proc."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from harness import FakeUpstream, Server, Wheelhouse, wait_for_line  # noqa: E402


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                r.read()
                return
        except Exception:
            time.sleep(0.05)
    raise TimeoutError(f"{url} not answering after {timeout}s")


def descendants(pid):
    """pid and all its descendants (nginx workers, devpi helpers)."""
    pids = [pid]
    for p in pids:
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                pids += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return pids


def usage(pid):
    """(peak RSS in KiB summed over the process tree, CPU seconds)."""
    rss, ticks = 0, 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                m = re.search(r"VmHWM:\s+(\d+)", f.read())
                rss += int(m.group(1)) if m else 0
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return rss, ticks / os.sysconf("SC_CLK_TCK")


class WheelhouseUnderTest:
    name = "wheelhouse"

    def __init__(self, binary, upstream, workdir):
        self.data = os.path.join(workdir, "wheelhouse-data")
        self.server = Wheelhouse(binary, self.data, upstream.url, os.path.join(workdir, "wheelhouse.log"),
                                 "--log-level", "warning")
        self.base = self.server.url
        self.index_url = self.server.index_url
        self.pid = self.server.pid

    def page_url(self, project):
        return f"{self.base}/root/pypi/+simple/{project}/"

    def stop(self):
        self.server.stop()


NGINX_COMMON = """
worker_processes 1;
user root;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_temp_path @DIR@/body;
  proxy_temp_path @DIR@/proxy_temp;
  fastcgi_temp_path @DIR@/fastcgi; uwsgi_temp_path @DIR@/uwsgi; scgi_temp_path @DIR@/scgi;
  @HTTP@
}
"""


class Nginx:
    def __init__(self, name, workdir, http_block):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_COMMON.replace("@HTTP@", http_block).replace("@DIR@", self.dir)
                    .replace("@PORT@", str(self.port)))
        self.log = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", self.dir], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.base = f"http://127.0.0.1:{self.port}"
        self._wait()

    def _wait(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.base + "/__ready", timeout=2)
                return
            except urllib.error.HTTPError:
                return  # any HTTP answer means it is up
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError(open(os.path.join(self.dir, "error.log")).read())
                time.sleep(0.05)
        raise TimeoutError("nginx did not start")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class NginxStatic(Nginx):
    """The reference: nginx serving the same files (and pre-rendered pages) from disk."""

    def __init__(self, workdir, corpus_dir, pages_dir):
        super().__init__("nginx-static", workdir, f"""
  types {{ application/octet-stream whl gz; application/vnd.pypi.simple.v1+json json; text/html html; }}
  server {{
    listen 127.0.0.1:@PORT@;
    location /files/ {{ alias {corpus_dir}/; }}
    location /pages/ {{ alias {pages_dir}/; }}
  }}""")

    def file_url(self, filename):
        return f"{self.base}/files/{filename}"


class NginxStaticPages(Nginx):
    """The reference for warm: nginx serving upstream's pages (pre-gzipped) and the files from disk."""

    def __init__(self, work, pages_dir, corpus_dir):
        super().__init__("nginx-static-realsize", work, f"""
  types {{ application/octet-stream whl; }}
  server {{
    listen 127.0.0.1:@PORT@;
    location /simple/ {{ alias {pages_dir}/; index index.json; default_type application/vnd.pypi.simple.v1+json;
                         gzip_static on; }}
    location /files/ {{ alias {corpus_dir}/; }}
  }}""")
        self.index_url = f"{self.base}/simple/"


class NginxProxy(Nginx):
    """nginx as a caching proxy in front of the upstream (a common DIY PyPI cache)."""

    def __init__(self, workdir, upstream):
        super().__init__("nginx-proxy", workdir, f"""
  proxy_cache_path @DIR@/cache levels=1:2 keys_zone=pypi:10m max_size=20g inactive=1y use_temp_path=off;
  server {{
    listen 127.0.0.1:@PORT@;
    location / {{
      proxy_pass http://127.0.0.1:{upstream.port};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache pypi;
      proxy_cache_key $uri$http_accept;
      proxy_cache_valid 200 30m;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 600s;
      proxy_cache_lock_age 600s;
      add_header X-Cache $upstream_cache_status;
    }}
  }}""")
        self.index_url = f"{self.base}/simple/"

    def page_url(self, project):
        return f"{self.base}/simple/{project}/"


class Devpi:
    """devpi-server mirroring the upstream, installed from PyPI into a venv."""
    name = "devpi"

    def __init__(self, venv, workdir, upstream):
        self.dir = os.path.join(workdir, "devpi")
        self.port = free_port()
        server_dir = os.path.join(self.dir, "server")
        client_dir = os.path.join(self.dir, "client")
        bin_ = os.path.join(venv, "bin")
        subprocess.run([f"{bin_}/devpi-init", "--serverdir", server_dir, "--no-root-pypi"], check=True,
                       capture_output=True, timeout=300)
        self.server = Server([f"{bin_}/devpi-server", "--serverdir", server_dir, "--host", "127.0.0.1",
                              "--port", str(self.port)], os.path.join(self.dir, "server.log"),
                             r"(?:Serving on|serving at url|Listening on) .*?:(\d+)")
        self.pid = self.server.pid
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(self.base + "/+api")
        client = [f"{bin_}/devpi", "--clientdir", client_dir]
        for args in (["use", self.base], ["login", "root", "--password", ""],
                     ["index", "-c", "root/pypi", "type=mirror", f"mirror_url={upstream.url}"]):
            subprocess.run(client + args, check=True, capture_output=True, timeout=120)
        self.index_url = f"{self.base}/root/pypi/+simple/"

    def page_url(self, project):
        return f"{self.base}/root/pypi/+simple/{project}/"

    def stop(self):
        self.server.stop()
