"""What clients see of project pages: negotiation, redirects, rewritten links."""
import hashlib
import json
import re

from harness import http_get

JSON = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = f"{JSON}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"


def test_json_for_pip_and_html_by_default(start_upstream, start_wheelhouse, corpus):
    wh = start_wheelhouse(start_upstream().url)
    status, headers, body = http_get(f"{wh.url}/root/pypi/+simple/gamma/", {"Accept": PIP_ACCEPT})
    assert status == 200
    assert headers["Content-Type"] == JSON and headers["Vary"] == "Accept, Accept-Encoding" and headers["X-Cache"] == "MISS"
    page = json.loads(body)
    files = {f["filename"]: f for f in page["files"]}
    expected = {f["filename"]: f for f in corpus[1]["gamma"]}
    assert set(files) == set(expected)
    wheel = files["gamma-1.1-py3-none-any.whl"]
    sha = expected["gamma-1.1-py3-none-any.whl"]["sha256"]
    assert wheel["yanked"] == "broken release"
    assert wheel["hashes"] == {"sha256": sha}
    assert wheel["url"] == f"{wh.url}/root/pypi/files/{sha[:3]}/{sha[3:16]}/gamma-1.1-py3-none-any.whl"

    status, headers, body = http_get(f"{wh.url}/simple/gamma/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and headers["X-Cache"] == "HIT"
    assert f'href="{wh.url}/root/pypi/files/{sha[:3]}/{sha[3:16]}/gamma-1.1-py3-none-any.whl#sha256={sha}"'.encode() in body
    assert b'data-yanked="broken release"' in body


def test_requires_python_is_escaped_in_html(start_upstream, start_wheelhouse):
    wh = start_wheelhouse(start_upstream().url)
    status, _, body = http_get(f"{wh.url}/root/pypi/+simple/zeta/", {"Accept": "text/html"})
    assert status == 200
    assert b'data-requires-python="&gt;=3.99"' in body


def test_redirects_to_normalized_name_with_slash(start_upstream, start_wheelhouse):
    wh = start_wheelhouse(start_upstream().url)
    status, headers, _ = http_get(f"{wh.url}/root/pypi/+simple/Epsilon_Pkg/")
    assert status == 301 and headers["Location"] == "/root/pypi/+simple/epsilon-pkg/"
    status, headers, _ = http_get(f"{wh.url}/simple/epsilon-pkg")
    assert status == 301 and headers["Location"] == "/simple/epsilon-pkg/"


def test_unknown_project_and_unacceptable_format(start_upstream, start_wheelhouse):
    wh = start_wheelhouse(start_upstream().url)
    status, _, body = http_get(f"{wh.url}/root/pypi/+simple/no-such-project/")
    assert status == 404 and b"not found upstream" in body
    status, _, _ = http_get(f"{wh.url}/root/pypi/+simple/alpha/", {"Accept": "image/png"})
    assert status == 406


def test_percent_encoded_file_path_and_head(start_upstream, start_wheelhouse, corpus):
    wh = start_wheelhouse(start_upstream().url)
    http_get(f"{wh.url}/root/pypi/+simple/theta/")
    entry = next(f for f in corpus[1]["theta"] if f["filename"].endswith(".whl"))
    sha = entry["sha256"]
    status, headers, body = http_get(f"{wh.url}/root/pypi/%2Bf/{sha[:3]}/{sha[3:16]}/{entry['filename']}")
    assert status == 200 and len(body) == entry["size"] and headers["X-Cache"] == "MISS"
    status, headers, body = http_get(f"{wh.url}/root/pypi/+f/{sha[:3]}/{sha[3:16]}/{entry['filename']}")
    assert status == 200 and headers["X-Cache"] == "HIT" and len(body) == entry["size"]


def test_file_url_resolves_after_restart_without_page_request(start_upstream, start_wheelhouse, corpus, tmp_path):
    """A lock file's +f URL works even when no page was requested since start-up."""
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    entry = next(f for f in corpus[1]["iota"] if f["filename"].endswith(".whl"))
    sha = entry["sha256"]
    status, _, body = http_get(f"{wh.url}/root/pypi/+f/{sha[:3]}/{sha[3:16]}/{entry['filename']}")
    assert status == 200 and len(body) == entry["size"]
    assert up.counts().get("/simple/iota/") == 1


def test_repeated_slashes_redirect_and_pip_installs(start_upstream, start_wheelhouse, tmp_path):
    """pipenv asks for `+simple//six/`: the collapsed path answers (via a redirect, since page
    links are relative to the page's URL)."""
    wh = start_wheelhouse(start_upstream().url)
    status, headers, _ = http_get(f"{wh.url}/root/pypi/+simple//gamma/")
    assert status in (301, 302, 308) and headers["Location"] == "/root/pypi/+simple/gamma/"
    status, headers, _ = http_get(f"{wh.url}//etc/passwd")
    assert status in (301, 302, 308) and headers["Location"] == "/etc/passwd", "never a protocol-relative Location"
    assert http_get(f"{wh.url}/etc/passwd")[0] == 404
    from clients import install
    result = install("pip-latest", wh.index_url + "/", str(tmp_path / "t"), "gamma")
    assert result.returncode == 0, result.stderr
    assert "+simple//gamma/" in wh.read_log(), "pip did ask with the double slash"


def test_links_are_absolute_on_the_clients_host_and_need_no_quoting(start_upstream, start_wheelhouse, corpus):
    """pip runs urljoin on every link that is not an absolute http(s) URL, and re-quotes a
    path with a `+` character by character: links are absolute, under /root/pypi/files/."""
    wh = start_wheelhouse(start_upstream().url)
    sha = next(f["sha256"] for f in corpus[1]["gamma"] if f["filename"] == "gamma-1.1-py3-none-any.whl")
    tail = f"/root/pypi/files/{sha[:3]}/{sha[3:16]}/gamma-1.1-py3-none-any.whl"

    def link(host=None, path="/root/pypi/+simple/gamma/", **headers):
        if host is not None:
            headers["Host"] = host
        status, _, body = http_get(f"{wh.url}{path}", {"Accept": JSON, **headers})
        assert status == 200
        return next(f["url"] for f in json.loads(body)["files"] if f["filename"] == "gamma-1.1-py3-none-any.whl")

    url = link()
    assert url == f"{wh.url}{tail}" and re.fullmatch(r"[A-Za-z0-9_.~/:-]+", url)
    status, _, body = http_get(url)
    assert status == 200 and hashlib.sha256(body).hexdigest() == sha
    # Each host gets its own links, whichever asked first; the alias path links the same place.
    assert link("devpi:3141") == f"http://devpi:3141{tail}"
    assert link("devpi:3141", path="/simple/gamma/") == f"http://devpi:3141{tail}"
    assert link() == f"{wh.url}{tail}"
    assert link("pypi.corp", **{"X-Forwarded-Proto": "https"}) == f"https://pypi.corp{tail}"
    # A Host that is not plainly a host name never reaches a link.
    assert link("evil.example/x?") == f"../..{tail.removeprefix('/root/pypi')}"
    assert link("evil.example/x?", path="/simple/gamma/") == f"../..{tail}"
    # Front ends: devpi's X-Outside-URL (a path prefix too), X-Forwarded-Host; a proxy that
    # names no outside host (nginx's default Host is its upstream's name) gets relative links.
    assert link("backend", **{"X-Outside-URL": "http://localhost:8080", "X-Real-IP": "10.0.0.9"}) == f"http://localhost:8080{tail}"
    assert link("backend", **{"X-Outside-URL": "https://pypi.corp/devpi/"}) == f"https://pypi.corp/devpi{tail}"
    assert link("backend", **{"X-Forwarded-Host": "pypi.corp:8443", "X-Forwarded-Proto": "https"}) == f"https://pypi.corp:8443{tail}"
    assert link("backend", **{"X-Forwarded-For": "10.0.0.9"}) == f"../..{tail.removeprefix('/root/pypi')}"


def test_links_stay_relative_with_relative_links_option(start_upstream, start_wheelhouse, corpus):
    wh = start_wheelhouse(start_upstream().url, None, "--relative-links")
    status, _, body = http_get(f"{wh.url}/root/pypi/+simple/gamma/", {"Accept": JSON})
    sha = next(f["sha256"] for f in corpus[1]["gamma"] if f["filename"] == "gamma-1.1-py3-none-any.whl")
    urls = {f["filename"]: f["url"] for f in json.loads(body)["files"]}
    assert urls["gamma-1.1-py3-none-any.whl"] == f"../../files/{sha[:3]}/{sha[3:16]}/gamma-1.1-py3-none-any.whl"
    status, _, body = http_get(f"{wh.url}/root/pypi/files/{sha[:3]}/{sha[3:16]}/gamma-1.1-py3-none-any.whl")
    assert status == 200 and hashlib.sha256(body).hexdigest() == sha
