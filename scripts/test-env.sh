#!/usr/bin/env bash
# Installs what the end-to-end tests drive, when missing:
#  - Debian: chromium (the web page is checked in a real headless browser) and
#    docker-compose (validates compose.yml; no Docker engine is needed for that);
#  - PyPI, into .venv-test: pytest, uv (a client under test), html5lib (HTML
#    validity), prometheus-client (parses /+metrics), dockerfile-parse, pyyaml;
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
packages=(pytest uv html5lib prometheus-client dockerfile-parse pyyaml)
stamp="$venv/.installed-$(echo "${packages[*]}" | tr ' ' '-')"
if [ ! -f "$stamp" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check -q "${packages[@]}"
  touch "$stamp"
fi
corpus_wheels=(setuptools==75.3.0 setuptools==68.2.2 wheel==0.45.1)
corpus_stamp="$venv/corpus-wheels/.downloaded-$(echo "${corpus_wheels[*]}" | tr ' ' '-')"
if [ ! -f "$corpus_stamp" ]; then
  for wheel in "${corpus_wheels[@]}"; do  # one at a time: two setuptools versions in one call conflict
    "$venv/bin/pip" download --disable-pip-version-check -q --no-deps --only-binary=:all: -d "$venv/corpus-wheels" "$wheel"
  done
  touch "$corpus_stamp"
fi
