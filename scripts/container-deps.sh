#!/usr/bin/env bash
# Installs what the container test drives, when missing (Debian; needs root):
# the Docker engine and client (docker.io), Debian's docker-compose 1.29, and
# debootstrap (base images are bootstrapped here: no registry is needed).
set -euo pipefail
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "the container test needs ${missing[*]} (as root on Debian: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
