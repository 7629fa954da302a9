#!/usr/bin/env bash
# Installs what the end-to-end tests drive, when missing:
#  - Debian: chromium (the web page is checked in a real headless browser) and
#    docker-compose (validates compose.yml; no Docker engine is needed for that);
#  - PyPI, into .venv-test: pytest, uv (a client under test), html5lib (HTML
#    validity), prometheus-client (parses /+metrics), dockerfile-parse, pyyaml.
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
