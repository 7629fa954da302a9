"""Processes the end-to-end tests run: the fake upstream, wheelhouse, pip.

Every server listens on 127.0.0.1 with a port it picked itself (port 0) and
reports it on a log line; the harness waits for that line (bounded in time),
and stops each process by its PID.
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
WAIT_SECONDS = 20


def wait_for_line(path, pattern, proc, timeout=WAIT_SECONDS):
    """Polls a log file until a line matches; fails if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                for line in f:
                    m = rx.search(line)
                    if m:
                        return m
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before ready:\n{open(path).read()}")
        time.sleep(0.02)
    raise TimeoutError(f"no line matching {pattern!r} in {path} within {timeout}s")


class Server:
    def __init__(self, args, log_path, ready_pattern, env=None):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL)
        self.port = int(wait_for_line(log_path, ready_pattern, self.proc).group(1))

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()

    def kill9(self):
        self.stop(signal.SIGKILL)

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class FakeUpstream(Server):
    def __init__(self, corpus, log_path, *extra):
        super().__init__([sys.executable, os.path.join(HERE, "fake_upstream.py"), "--corpus", corpus, *extra],
                         log_path, r"READY (\d+)")
        self.url = f"http://127.0.0.1:{self.port}/simple/"

    def counts(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stats", timeout=10) as r:
            return json.load(r)["counts"]

    def file_requests(self):
        """Requests for distribution files (not their PEP 658 .metadata)."""
        return sum(n for path, n in self.counts().items() if path.startswith("/files/") and not path.endswith(".metadata"))


class Wheelhouse(Server):
    def __init__(self, binary, data_dir, upstream_url, log_path, *extra):
        super().__init__([binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", data_dir,
                          "--upstream", upstream_url, *extra], log_path, r"event=listening .*port=(\d+)")
        self.data_dir = os.path.abspath(data_dir)
        self.url = f"http://127.0.0.1:{self.port}"
        self.index_url = f"{self.url}/root/pypi/+simple/"


def fd_count(pid, ignore_peer_ports=(), ignore_under=None):
    """Open fds of a process, not counting sockets connected to `ignore_peer_ports`
    (libcurl keeps upstream connections alive for reuse) nor files under
    `ignore_under` (wheelhouse keeps hot cached files open, a bounded set): neither is a leak."""
    ignored = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) in ignore_peer_ports:
                    ignored.add(fields[9])
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m and m.group(1) in ignored:
            continue
        if ignore_under and link.startswith(ignore_under):
            continue
        count += 1
    return count


def wait_until(predicate, timeout=10, interval=0.02):
    """Polls `predicate` until true or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def file_url(base, entry):
    """wheelhouse's +f URL for a corpus entry."""
    h = entry["sha256"]
    return f"{base}/root/pypi/+f/{h[:3]}/{h[3:16]}/{entry['filename']}"


def raw_get(port, path, timeout=30, read_delay=0.0, max_bytes=None):
    """A GET on a plain socket: (status line, headers bytes, body bytes, seconds).
    Reads until the server closes or Content-Length is reached; `read_delay` makes a slow reader."""
    import socket
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536 if read_delay else 1 << 20)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = bytearray()
        head_end = -1
        length = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk  # bytearray: amortised, not quadratic
            if head_end < 0 and b"\r\n\r\n" in data:
                head_end = data.index(b"\r\n\r\n") + 4
                m = re.search(rb"Content-Length: (\d+)", bytes(data[:head_end]))
                length = int(m.group(1)) if m else -1
            if length is not None and length >= 0 and len(data) - head_end >= length:
                break
            if max_bytes and len(data) >= max_bytes:
                break
            if read_delay:
                time.sleep(read_delay)
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    return status, head, body, time.monotonic() - started


def raw_request(port, request, timeout=10):
    """Sends raw bytes, returns everything the server sends until it closes."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def http_get(url, headers=None, timeout=30, method="GET"):
    """(status, headers, body) without raising on 4xx/5xx, and without following redirects."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Venv:
    def __init__(self, path):
        self.path = path
        subprocess.run([sys.executable, "-m", "venv", path], check=True, timeout=120)
        self.python = os.path.join(path, "bin", "python")

    def pip(self, *args, timeout=180):
        env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
                   PIP_NO_INPUT="1")
        env.pop("PIP_INDEX_URL", None)
        started = time.monotonic()
        result = subprocess.run([self.python, "-m", "pip", *args], capture_output=True, text=True,
                                timeout=timeout, env=env)
        result.seconds = time.monotonic() - started
        return result

    def installed(self):
        out = subprocess.run([self.python, "-m", "pip", "list", "--format=json"], capture_output=True,
                             text=True, timeout=60, check=True).stdout
        return {re.sub(r"[-_.]+", "-", p["name"]).lower(): p["version"] for p in json.loads(out)}


def run_with_peak_rss(args, timeout=600):
    """Runs a program to its end: (exit status, output, peak RSS in KiB). The peak is the
    program's own VmHWM, sampled until it exits (getrusage of a child would count the
    pytest process it was forked from, before exec)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stdout.read(65536), b"")))
    reader.start()
    peak = 0
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                peak = max([peak] + [int(line.split()[1]) for line in f if line.startswith("VmHWM:")])
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.01)
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)
    reader.join(timeout=60)
    return proc.returncode, b"".join(chunks).decode(), peak
