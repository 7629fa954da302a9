#!/usr/bin/env bash
# `make image`: builds wheelhouse:latest from the release binary built on this host
# (needs no Swift image and no package fetch inside the build).
#   BASE_IMAGE  the Debian 12 image to run on. Default: debian:bookworm-slim when the
#               engine has it or can pull it, else a local one bootstrapped with no
#               registry at all (scripts/container-base.sh, cached).
#   IMAGE       the tag to build (default wheelhouse:latest).
# Only what changed is rebuilt: the base layers come from the engine's cache, and
# a new binary replaces one layer.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${IMAGE:-wheelhouse:latest}
binary=${WHEELHOUSE_BIN:-.build/release/wheelhouse}

[ -x "$binary" ] || { echo "build-image: no release binary at $binary (run: make release)" >&2; exit 1; }
docker info >/dev/null 2>&1 || {
  echo "build-image: no Docker engine answers (as root: apt-get install docker.io, then dockerd &)" >&2
  exit 1
}

base=${BASE_IMAGE:-}
if [ -z "$base" ]; then
  if docker image inspect debian:bookworm-slim >/dev/null 2>&1 \
     || timeout 120 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
    base=debian:bookworm-slim
  else
    echo "build-image: debian:bookworm-slim cannot be pulled; using a locally bootstrapped base" >&2
    base=$(scripts/container-base.sh)
  fi
fi

# The build context is a folder holding only the binary (see the Dockerfile's first
# stage). Debug sections are left out: they are a fifth of the file and only
# debuggers read them; the symbol table stays, so crash backtraces keep names.
context=$(mktemp -d /tmp/wheelhouse-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp "$binary" "$context/wheelhouse"
if command -v strip >/dev/null; then strip --strip-debug "$context/wheelhouse"; fi

echo "build-image: $image on $base" >&2
docker build -q --force-rm --build-arg BUILDER_IMAGE="$base" --build-arg BASE_IMAGE="$base" \
  -f Dockerfile -t "$image" "$context" >/dev/null
# Intermediate images are the layer cache; those older than a week belong to bases
# no longer used (container-base.sh makes a new one weekly): they go.
docker image prune -f --filter label=wheelhouse.stage --filter until=168h >/dev/null
docker image ls "$image" --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'
