"""How long a warm install takes when the upstream hangs (accepts connections, never
answers: a captive portal, a half-up VPN). Issue 11's figure, for any binary:

    .venv-test/bin/python bench/hung_upstream.py [--binary PATH] [--client pip-latest|uv|pip-24.0 ...]
                                                 [--page-timeout 10] [--projects 20]

Builds a corpus of N small projects that depend on each other in a chain, installs them
all cold through wheelhouse (--index-ttl 0, so every page is expired afterwards), makes
the upstream hang, and times the same install into a fresh target with no client cache.
Every wait is bounded: the warm install is given up after --give-up seconds.
"""
import argparse
import os
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import corpus as corpus_module  # noqa: E402
from clients import client_version, install, installed  # noqa: E402
from harness import FakeUpstream, Wheelhouse  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "wheelhouse"))
    p.add_argument("--client", default="pip-latest")
    p.add_argument("--projects", type=int, default=20)
    p.add_argument("--page-timeout", default="10")
    p.add_argument("--give-up", type=int, default=900)
    args = p.parse_args()
    names = [f"chain{i:02d}" for i in range(args.projects)]
    # chain00 needs chain01, which needs chain02 ...: the resolver meets every page in turn.
    corpus_module.PROJECTS[:] = [(n, "1.0", [names[i + 1]] if i + 1 < len(names) else [], None, None, 20_000)
                                 for i, n in enumerate(names)]
    with tempfile.TemporaryDirectory() as tmp:
        corpus_module.build(os.path.join(tmp, "corpus"))
        up = FakeUpstream(os.path.join(tmp, "corpus"), os.path.join(tmp, "upstream.log"))
        wh = Wheelhouse(args.binary, os.path.join(tmp, "data"), up.url, os.path.join(tmp, "wheelhouse.log"),
                        "--index-ttl", "0", "--page-timeout", args.page_timeout)
        try:
            cold = install(args.client, wh.index_url, os.path.join(tmp, "cold"), names[0], timeout=args.give_up)
            assert cold.returncode == 0, cold.stdout + cold.stderr
            urllib.request.urlopen(f"http://127.0.0.1:{up.port}/_control?hang=3600", timeout=10).read()
            warm = install(args.client, wh.index_url, os.path.join(tmp, "warm"), names[0], timeout=args.give_up)
            ok = warm.returncode == 0 and len(installed(os.path.join(tmp, "warm"))) == len(names)
            print(f"binary={args.binary} client={client_version(args.client)} projects={len(names)} "
                  f"page_timeout={args.page_timeout}s cold={cold.seconds:.1f}s "
                  f"warm_upstream_hung={warm.seconds:.1f}s result={'installed' if ok else 'FAILED'}")
            if not ok:
                print((warm.stdout + warm.stderr)[-1500:])
        finally:
            wh.stop()
            up.stop()


if __name__ == "__main__":
    main()
