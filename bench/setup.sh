#!/usr/bin/env bash
# Installs what the benchmark compares against: nginx and wrk from Debian's
# packages, devpi-server and devpi-client from PyPI into .venv-bench.
set -euo pipefail
mode=${1:-full}
missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$mode" = full ] && [ ! -x .venv-bench/bin/devpi-server ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install --disable-pip-version-check -q devpi-server devpi-client
fi
