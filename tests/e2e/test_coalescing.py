"""Many clients, one transfer: every client of a cold file shares one upstream fetch."""
import concurrent.futures
import hashlib
import json
import os
import time

from harness import file_url, raw_get, wait_until

RESULTS = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "e2e-figures.json")


def test_twenty_clients_one_slow_share_one_transfer(start_upstream, start_wheelhouse, corpus, fd_baseline, tmp_path):
    big = corpus[1]["bigpkg"][0]
    up = start_upstream("--rate-kbps", "10000")  # ~10 MB/s: the 20 MB wheel takes ~2 s upstream
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)
    fd_baseline(wh, up)
    path = file_url("", big)

    def client(i):
        # Client 0 reads slowly (64 kB per 20 ms: about 3 MB/s); the others as fast as they can.
        status, head, body, seconds = raw_get(wh.port, path, timeout=120, read_delay=0.02 if i == 0 else 0)
        return i, status, hashlib.sha256(body).hexdigest(), len(body), seconds

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(client, range(20)))

    for i, status, digest, size, _ in results:
        assert status == b"HTTP/1.1 200 OK", (i, status)
        assert size == big["size"] and digest == big["sha256"], f"client {i} got wrong bytes"
    assert up.counts()[f"/files/{big['filename']}"] == 1, "the upstream served the file exactly once"

    # Once the transfer is done, the file is in the cache and the temp file is gone.
    assert wait_until(lambda: os.listdir(os.path.join(data, "tmp")) == [], timeout=10)

    # A single client alone, for comparison (fresh cache, same upstream rate).
    wh2 = start_wheelhouse(up.url, str(tmp_path / "data2"))
    _, _, body, single = raw_get(wh2.port, path, timeout=120)
    assert hashlib.sha256(body).hexdigest() == big["sha256"]

    fast = sorted(r[4] for r in results if r[0] != 0)
    figures = {"clients": 20, "upstream_fetches": 1, "single_client_s": round(single, 2),
               "fast_clients_median_s": round(fast[len(fast) // 2], 2), "fast_clients_max_s": round(fast[-1], 2),
               "slow_client_s": round(results[0][4], 2), "file_mb": round(big["size"] / 1e6, 1),
               "peak_rss_kb": peak_rss(wh.pid)}
    with open(RESULTS, "w") as f:
        json.dump(figures, f)
    print("coalescing figures:", figures)


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_concurrent_requests_for_an_expired_page_share_one_refresh(start_upstream, start_wheelhouse, fd_baseline):
    up = start_upstream("--latency-ms", "300")
    wh = start_wheelhouse(up.url, None, "--index-ttl", "0")
    fd_baseline(wh, up)
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda _: raw_get(wh.port, "/root/pypi/+simple/alpha/")[0], range(10)))
    assert statuses == [b"HTTP/1.1 200 OK"] * 10
    assert up.counts()["/simple/alpha/"] == 1


def test_expired_page_is_revalidated_with_etag(start_upstream, start_wheelhouse):
    up = start_upstream()
    wh = start_wheelhouse(up.url, None, "--index-ttl", "0")
    status, head, _, _ = raw_get(wh.port, "/root/pypi/+simple/beta/")
    assert status == b"HTTP/1.1 200 OK" and b"X-Cache: MISS" in head
    status, head, _, _ = raw_get(wh.port, "/root/pypi/+simple/beta/")
    assert status == b"HTTP/1.1 200 OK" and b"X-Cache: HIT" in head
    counts = up.counts()
    assert counts["/simple/beta/"] == 2 and counts.get("304") == 1, counts
