#!/usr/bin/env bash
# Makes a Debian 12 base image with no registry at all: `debootstrap --variant=minbase`,
# slimmed as debian:bookworm-slim is (no docs, man pages or locales; apt keeps no
# package cache), imported as local/bookworm-slim:<key>. Prints the image name.
#
# Cached, so CI bootstraps at most once a week per machine:
#   1. the docker tag is reused when the engine still has it (keeps layer caches valid);
#   2. else the root filesystem tarball in $WHEELHOUSE_CACHE_DIR (outside any clone);
#   3. else debootstrap (~2-3 minutes) writes that tarball.
# The key is the ISO week (Debian's updates arrive weekly) plus a hash of the
# recipe (the debootstrap call and slim()): a changed recipe or a new week makes a new base.
set -euo pipefail
cache_dir=${WHEELHOUSE_CACHE_DIR:-/var/cache/wheelhouse-ci}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { echo "container-base: $*" >&2; }

slim() {
  local root=$1
  # What debian:bookworm-slim's build (debuerreotype) excludes, for this and later installs.
  cat > "$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  cat > "$root/etc/apt/apt.conf.d/docker-slim" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
APT::Install-Recommends "false";
EOF
  cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/*
  rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/*
  # The engine provides these per container; the host's copies must not leak into the image.
  rm -f "$root"/etc/hostname "$root"/etc/resolv.conf "$root"/etc/machine-id
}

recipe=$({ echo "debootstrap --variant=minbase bookworm $mirror"; declare -f slim; } | sha256sum | cut -c1-12)
key="$(date -u +%G-w%V)-$recipe"
image="local/bookworm-slim:$key"
tarball="$cache_dir/bookworm-slim-$key.tar.gz"
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

rootfs=""
cleanup() {
  [ -n "$rootfs" ] && [ -d "$rootfs" ] || return 0
  # debootstrap mounts /proc and /sys inside the target: unmount those first,
  # and never let rm cross into another file system.
  findmnt -rn -o TARGET | grep "^$rootfs/" | sort -r | xargs -r umount -l || true
  rm -rf --one-file-system "$rootfs" "$rootfs.log"
}
trap cleanup EXIT

bootstrap() {
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  rootfs=$(mktemp -d /tmp/wheelhouse-rootfs.XXXXXX)
  local root=$rootfs
  log "debootstrap --variant=minbase bookworm (a few minutes, once per week)"
  debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; exit 1; }
  slim "$root"
  mkdir -p "$cache_dir"
  tar -C "$root" --numeric-owner -czf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  cleanup
  # Older keys are never used again.
  find "$cache_dir" -maxdepth 1 -name 'bookworm-slim-*.tar.gz' ! -name "$(basename "$tarball")" -delete
}

[ -s "$tarball" ] || bootstrap
log "importing $tarball as $image"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  --change 'LABEL wheelhouse.stage=base' \
  "$tarball" "$image" >/dev/null
# Older keys' tags go; build-image.sh prunes their images once a week old.
docker image ls local/bookworm-slim --format '{{.Repository}}:{{.Tag}}' | grep -vxF "$image" \
  | xargs -r docker image rm >/dev/null 2>&1 || true
echo "$image"
