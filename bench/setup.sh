#!/usr/bin/env bash
# Installs what the benchmark compares against: nginx and wrk from Debian's
# packages; into .venv-bench from PyPI: the clients (pip 26.3, uv) for the
# real-size scenario, and devpi-server and devpi-client (full runs).
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
[ -x .venv-bench/bin/python ] || python3 -m venv .venv-bench
if [ ! -x .venv-bench/bin/uv ] || ! .venv-bench/bin/python -m pip --version | grep -q "^pip 26.3 "; then
  .venv-bench/bin/pip install --disable-pip-version-check -q "pip==26.3" "uv==0.13.9"
fi
if [ "$mode" = full ] && [ ! -x .venv-bench/bin/devpi-server ]; then
  .venv-bench/bin/pip install --disable-pip-version-check -q devpi-server devpi-client
fi
