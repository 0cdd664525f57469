#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Local stand-ins for the base images Dockerfile.ha starts from, docker.io/library/debian:trixie
# and docker.io/library/debian:trixie-slim, for machines that reach the Debian archive but no
# container registry (CI here). Each is a minbase Debian 13 made by mmdebstrap and imported
# into the local container storage with `podman import`, so that
# `buildah bud --pull=never -f Dockerfile.ha .` finds them. Needs root, mmdebstrap and podman
# (scripts/install-deps.sh installs them).
#
# Usage:
#   base-images.sh            make the images that `podman image exists` says are missing
#   base-images.sh --force    make them again (replaces the tags)
#   base-images.sh --list     print the image names, one a line
#
# Made once, then kept in the container storage between runs (about 45 s each; the tarball
# passes through $HASERF_CACHE, about 100 MB, and is removed). Like the official images: no
# package lists, `policy-rc.d` refusing service starts (a package's postinst must not start its
# daemon during a build), PATH and CMD ["bash"]. The slim one also leaves out documentation,
# man pages and locales, as debian:*-slim does.
set -euo pipefail

SUITE=trixie
IMAGES=("docker.io/library/debian:$SUITE" "docker.io/library/debian:$SUITE-slim")
MIRROR=${HASERF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${HASERF_CACHE:-/var/cache/haserf}

die() { echo "base-images: $*" >&2; exit 1; }

force=0
case "${1:-}" in
  -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
  --list) printf '%s\n' "${IMAGES[@]}"; exit 0 ;;
  --force) force=1 ;;
  "") ;;
  *) die "unknown argument '$1' (--help)" ;;
esac

missing=()
for img in "${IMAGES[@]}"; do
  if [ "$force" -eq 1 ] || ! podman image exists "$img"; then missing+=("$img"); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

[ "$(id -u)" -eq 0 ] || die "making base images needs root (mmdebstrap, podman import)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (bash scripts/install-deps.sh)"
command -v podman >/dev/null || die "podman is missing (bash scripts/install-deps.sh)"

# Two runs at once (two test runs, a test and a user) would make the same image twice: the
# second waits for the first, then finds the images there.
mkdir -p "$CACHE"
exec 9>"$CACHE/base-images.lock"
flock -w 1200 9 || die "another base-images.sh holds $CACHE/base-images.lock"
tarball=  # the one being made; removed on any exit, a failed one included
trap 'rm -f "$tarball"' EXIT

# Service starts refused, as in the official images (debuerreotype's policy-rc.d).
hook_policy='printf "#!/bin/sh\nexit 101\n" >"$1/usr/sbin/policy-rc.d" && chmod 755 "$1/usr/sbin/policy-rc.d"'
# The container runtime provides these; the build host's must not end up in the image.
hook_host='rm -f "$1/etc/hostname" "$1/etc/resolv.conf"'
# What debian:*-slim leaves out (dpkg path filters, kept in the image for later installs).
slim_opts=(
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
)

for img in "${missing[@]}"; do
  # Made meanwhile by the holder of the lock.
  [ "$force" -eq 0 ] && podman image exists "$img" && continue
  opts=()
  case "$img" in *-slim) opts=("${slim_opts[@]}") ;; esac
  old=$(podman image inspect --format '{{.Id}}' "$img" 2>/dev/null || true)
  echo "base-images: making $img (mmdebstrap --variant=minbase $SUITE, $MIRROR)" >&2
  log=$(mktemp /tmp/base-images-XXXXXX.log)
  tarball=$(mktemp "$CACHE/base-image-XXXXXX.tar")
  # The tarball goes to a file first. Piped straight into `tar --delete`, it failed one CI run
  # in many: tar stops reading at the end-of-archive blocks, mmdebstrap was still writing the
  # zero padding after them, got SIGPIPE and gave up. Device nodes are left out (a runtime
  # mounts its own /dev), as in the official images.
  # mmdebstrap's own policy-rc.d handling (a temporary one, then the original put back)
  # would remove ours: skipped (minbase installs no service).
  if ! { timeout 900 mmdebstrap --variant=minbase --format=tar "${opts[@]}" \
      --skip=chroot/policy-rc.d --customize-hook="$hook_policy" --customize-hook="$hook_host" \
      "$SUITE" "$tarball" "$MIRROR" 2>"$log" &&
    tar --delete --wildcards -f "$tarball" './dev/?*' 2>>"$log" &&
    podman import --quiet \
      --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD=["bash"]' \
      --change "LABEL=org.haserf.base-image=mmdebstrap-minbase-$SUITE" \
      --message "scripts/base-images.sh: mmdebstrap --variant=minbase $SUITE" \
      "$tarball" "$img" >>"$log" 2>&1; }; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    die "making $img failed (log above)"
  fi
  rm -f "$log" "$tarball"
  # --force: the image the tag named before, now untagged, goes (kept if a container uses it).
  new=$(podman image inspect --format '{{.Id}}' "$img")
  if [ -n "$old" ] && [ "$old" != "$new" ]; then podman rmi "$old" >/dev/null 2>&1 || true; fi
  echo "base-images: $img ready" >&2
done
