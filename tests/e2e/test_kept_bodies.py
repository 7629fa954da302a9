"""Rendered page bodies kept on disk (data/rendered/): after a clean restart a big page is
sent from its stored body, without reading or rendering the page (/+status counts renders
and bodies served from disk), byte for byte what was sent before; a body is never served
for another state of the page (offline vs online, a file cached since, a crash)."""
import gzip
import json
import os
import subprocess
import urllib.parse

import pytest

import corpus as corpus_module
from conftest import BINARY
from harness import FakeUpstream, http_get

FILES = 3_000  # past PageRenderJob.slicedAbove: rendered a slice per loop iteration
JSON = "application/vnd.pypi.simple.v1+json"
HTML = "application/vnd.pypi.simple.v1+html"
VARIANTS = [(JSON, "gzip"), (JSON, "identity"), (HTML, "gzip"), (HTML, "identity")]


def status(wh):
    code, _, body = http_get(f"{wh.url}/+status", timeout=30)
    assert code == 200
    return json.loads(body)["result"]["memory"]


PROJECT = "alpha"  # a corpus project (its files download), its page padded to `files` entries


def get_page(wh, accept, encoding, project=PROJECT, headers=None):
    # One host name on both sides of a restart (the port changes): pages link files absolutely on it.
    code, head, body = http_get(f"{wh.index_url}{project}/", {"Accept": accept, "Accept-Encoding": encoding,
                                                              "Host": "wheelhouse.test", **(headers or {})},
                                timeout=120)
    return code, head, body


def listed(body, encoding):
    data = gzip.decompress(body) if encoding == "gzip" else body
    return [f["filename"] for f in json.loads(data)["files"]]


@pytest.fixture
def start_upstream(tmp_path):
    """The corpus's upstream with PROJECT's page padded to `files` entries; stopped after the test."""
    started = []

    def start(files=FILES):
        corpus = tmp_path / "corpus"
        index = corpus_module.build(str(corpus))
        table = tmp_path / f"pad-{files}.json"
        table.write_text(json.dumps({PROJECT: files - len(index[PROJECT])}))
        started.append(FakeUpstream(str(corpus), str(tmp_path / f"upstream-{files}.log"), "--pad-table", str(table)))
        return started[-1]
    yield start
    for up in started:
        up.stop()


def assert_restart_sends_kept_body(start_wheelhouse, up, data, expected):
    """A server started on `data` sends the gzip JSON page from its kept body: nothing rendered."""
    wh = start_wheelhouse(up.url, data)
    code, _, body = get_page(wh, JSON, "gzip")
    assert code == 200 and body == expected
    memory = status(wh)
    assert memory["page-renders"] == 0 and memory["rendered-bodies-served"] == 1


def test_after_a_clean_restart_big_pages_are_sent_from_their_stored_bodies(tmp_path, start_upstream, start_wheelhouse):
    up = start_upstream()
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)
    before = {}
    for accept, encoding in VARIANTS:
        code, head, body = get_page(wh, accept, encoding)
        assert code == 200
        before[(accept, encoding)] = (head["ETag"], body)
    assert status(wh)["rendered-bodies-written"] == len(VARIANTS)
    wh.stop()

    wh = start_wheelhouse(up.url, data)
    for accept, encoding in VARIANTS:
        code, head, body = get_page(wh, accept, encoding)
        assert code == 200 and head["X-Cache"] == "HIT"
        assert (head["ETag"], body) == before[(accept, encoding)], f"{accept} {encoding}: other bytes than before the restart"
        # Conditional requests name the same body.
        code, _, _ = get_page(wh, accept, encoding, headers={"If-None-Match": head["ETag"]})
        assert code == 304
    memory = status(wh)
    assert memory["page-renders"] == 0, "nothing rendered after the restart"
    assert memory["rendered-bodies-served"] == len(VARIANTS)
    assert len(listed(before[(JSON, "gzip")][1], "gzip")) == FILES
    assert up.counts().get(f"/simple/{PROJECT}/") == 1, "served from disk, upstream not asked again"


def test_a_body_is_never_served_for_another_state_of_the_page(tmp_path, start_upstream, start_wheelhouse):
    up = start_upstream()
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)
    code, _, online = get_page(wh, JSON, "gzip")
    assert code == 200 and len(listed(online, "gzip")) == FILES
    wh.stop()

    # Offline the page lists only cached files (none yet): the online body does not apply.
    wh = start_wheelhouse(up.url, data, "--offline")
    code, _, offline = get_page(wh, JSON, "gzip")
    assert code == 200 and listed(offline, "gzip") == []
    assert status(wh)["page-renders"] == 1
    wh.stop()

    # Online again: the online body applies; a file cached now changes what offline lists.
    wh = start_wheelhouse(up.url, data)
    code, _, again = get_page(wh, JSON, "gzip")
    assert code == 200 and again == online and status(wh)["page-renders"] == 0
    entry = next(f for f in json.loads(gzip.decompress(online))["files"] if f["filename"] == "alpha-1.0.tar.gz")
    link = urllib.parse.urljoin(f"{wh.index_url}{PROJECT}/", entry["url"])  # absolute on wheelhouse.test
    code, _, _ = http_get(wh.url + urllib.parse.urlsplit(link).path, timeout=60)
    assert code == 200
    wh.stop()

    # The offline body stored before the file was cached is gone with that change.
    wh = start_wheelhouse(up.url, data, "--offline")
    code, _, offline = get_page(wh, JSON, "gzip")
    assert code == 200 and listed(offline, "gzip") == [entry["filename"]]
    assert status(wh)["page-renders"] == 1
    wh.stop()

    # (That small page stays in memory.) Online, the page says nothing new of a file once
    # it is cached (upstream's size and hash as before), so the online body still applies:
    # the same bytes, whether kept across the restarts or rendered again.
    wh = start_wheelhouse(up.url, data)
    code, _, body = get_page(wh, JSON, "gzip")
    assert code == 200 and body == online and status(wh)["page-renders"] <= 1
    wh.stop()
    assert_restart_sends_kept_body(start_wheelhouse, up, data, online)


def test_after_a_crash_or_a_changed_page_the_page_is_rendered_again(tmp_path, start_upstream, start_wheelhouse):
    up = start_upstream()
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)
    code, _, first = get_page(wh, JSON, "identity")
    assert code == 200
    wh.kill9()

    # After kill -9 no body is trusted (what changed since it was written is unknown).
    wh = start_wheelhouse(up.url, data)
    code, _, body = get_page(wh, JSON, "identity")
    assert code == 200 and body == first
    memory = status(wh)
    assert memory["page-renders"] == 1 and memory["rendered-bodies-served"] == 0
    wh.stop()

    # Upstream's page changes (one file more); a page that must be asked again (TTL 0) is
    # rendered from the new page, never sent from the body of the old one.
    up = start_upstream(FILES + 1)
    wh = start_wheelhouse(up.url, data, "--index-ttl", "0")
    code, _, body = get_page(wh, JSON, "identity")
    assert code == 200 and len(listed(body, "identity")) == FILES + 1
    assert status(wh)["rendered-bodies-served"] == 0


def test_a_page_rendered_while_it_is_still_being_saved_is_kept_once_saved(tmp_path, start_upstream, start_wheelhouse):
    # Over 10,000 files a fetched page is saved a slice per loop iteration; the first
    # request's rendering is done before the save is, and waits for it to be kept.
    up = start_upstream(12_000)
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)
    code, _, first = get_page(wh, JSON, "gzip")
    assert code == 200 and len(listed(first, "gzip")) == 12_000
    wh.stop()
    assert_restart_sends_kept_body(start_wheelhouse, up, data, first)


def test_bodies_for_several_hosts_are_found_whatever_order_the_hosts_come_in(tmp_path, start_upstream, start_wheelhouse):
    # A devstack sees `localhost:3141` and `edx.devstack.devpi:3141`; links are absolute on
    # each, and each body is named by its host, not by the order hosts came after a start.
    up = start_upstream()
    data = str(tmp_path / "data")
    hosts = ["localhost:3141", "edx.devstack.devpi:3141"]
    wh = start_wheelhouse(up.url, data)
    before = {host: get_page(wh, JSON, "gzip", headers={"Host": host})[2] for host in hosts}
    assert before[hosts[0]] != before[hosts[1]]
    wh.stop()
    wh = start_wheelhouse(up.url, data)
    for host in reversed(hosts):
        code, _, body = get_page(wh, JSON, "gzip", headers={"Host": host})
        assert code == 200 and body == before[host]
    memory = status(wh)
    assert memory["page-renders"] == 0 and memory["rendered-bodies-served"] == 2, memory


def test_prefetch_beside_a_running_server_leaves_its_kept_bodies_alone(tmp_path, start_upstream, start_wheelhouse):
    # prefetch --data-dir runs its own server in-process over the same directory: it keeps
    # no bodies (before, it deleted the running server's and marked a clean stop for it).
    up = start_upstream()
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)
    assert get_page(wh, JSON, "gzip")[0] == 200
    rendered = os.path.join(data, "rendered")
    kept = sorted(os.listdir(rendered))
    assert kept and ".clean-stop" not in kept
    result = subprocess.run([BINARY, "prefetch", "--data-dir", data, "--upstream", up.url, "alpha"],
                            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(os.listdir(rendered)) == kept
