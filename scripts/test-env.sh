#!/usr/bin/env bash
# Creates .venv-test with what the end-to-end tests drive: pytest, and uv as a
# client. Installed from PyPI once; later runs reuse the venv.
set -euo pipefail
venv=${1:-.venv-test}
if [ ! -x "$venv/bin/pytest" ] || [ ! -x "$venv/bin/uv" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check -q pytest uv
fi
