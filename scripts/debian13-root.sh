#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A Debian 13 (trixie) root with HAProxy 3.0 (Lua 5.4) and serf 0.10.1, for running them on
# this Debian 12 host. Needs root and mmdebstrap (scripts/install-deps.sh installs it).
#
# Usage:
#   debian13-root.sh [DIR]         make the root in DIR unless it is already complete; prints DIR
#   debian13-root.sh run DIR [--bind PATH]... -- CMD [ARG...]
#                                  CMD chrooted into DIR, with /proc, /sys and every PATH
#                                  visible inside at the same path as on the host
#   debian13-root.sh path          the default DIR
#
# DIR defaults to $HASERF_CACHE/debian13 ($HASERF_CACHE: /var/cache/haserf): kept between runs
# and made again only when missing or incomplete (a root whose package list changed counts as
# incomplete). A root is made in DIR.new and renamed into place once complete, so an
# interrupted build never leaves a half root behind under DIR.
#
# `run` mounts nothing on the host: CMD runs in a private mount namespace (unshare -m) where
# the binds are made, so they vanish with the last process of CMD, even after kill -9 or a
# failure half-way through. CMD starts in the current folder when it is bound, else in /.
# The root shares the host's network, users and pid space:
# loopback addresses, sockets and pid files under bound paths are the host's. CMD is exec'd,
# so the pid of `debian13-root.sh run ...` started in the background becomes CMD's pid.
set -euo pipefail

# What runs inside: HAProxy 3.0 and serf 0.10.1, the Lua module's libraries, and what the
# glue's commands call (socat for master-cli reloads).
# Other roots from the same code (the package test's clean Debian 12): HASERF_ROOT_SUITE and
# HASERF_ROOT_PACKAGES name the suite and packages, and DIR must then be given.
SUITE=${HASERF_ROOT_SUITE:-trixie}
PACKAGES=${HASERF_ROOT_PACKAGES:-haproxy,serf,libuv1t64,zlib1g,libssl3t64,ca-certificates,socat}
MIRROR=${HASERF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
default_dir() { echo "${HASERF_CACHE:-/var/cache/haserf}/debian13"; }

die() { echo "debian13-root: $*" >&2; exit 1; }

make_root() {
  local dir=$1 stamp="packages=$PACKAGES"
  [ "$SUITE" = trixie ] || stamp="suite=$SUITE $stamp"
  if [ -f "$dir/.haserf-root" ] && [ "$(cat "$dir/.haserf-root")" = "$stamp" ]; then
    echo "$dir"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "making a root needs root (mmdebstrap, chroot)"
  command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (bash scripts/install-deps.sh)"
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir.new"
  echo "debian13-root: making $dir (mmdebstrap $SUITE: $PACKAGES)" >&2
  local log
  log=$(mktemp /tmp/debian13-root-XXXXXX.log)
  if ! timeout 900 mmdebstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$dir.new" "$MIRROR" \
    >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -rf "$dir.new" "$log"
    die "mmdebstrap failed (log above)"
  fi
  rm -f "$log"
  echo "$stamp" >"$dir.new/.haserf-root"
  rm -rf "$dir"
  mv "$dir.new" "$dir"
  echo "$dir"
}

run_in_root() {
  local dir=$1
  shift
  local binds=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --bind) binds+=("$(realpath -m "$2")"); shift 2 ;;
      --) shift; break ;;
      *) die "run: unexpected '$1' (run DIR [--bind PATH]... -- CMD [ARG...])" ;;
    esac
  done
  [ $# -gt 0 ] || die "run: no command"
  [ -f "$dir/.haserf-root" ] || die "$dir is not a root made by this script (debian13-root.sh $dir)"
  dir=$(realpath "$dir")
  # The mounts, made inside the new mount namespace only; each bound path is created inside
  # the root when missing (a folder or an empty file to mount over).
  local script='set -e
root=$1; shift
mount --make-rprivate /
mount --bind /proc "$root/proc"
mount --rbind /sys "$root/sys"
while [ "$1" != "--" ]; do
  p=$1; shift
  [ -e "$p" ] || continue
  if [ -d "$p" ]; then mkdir -p "$root$p"; else mkdir -p "$(dirname "$root$p")"; [ -e "$root$p" ] || : >"$root$p"; fi
  mount --bind "$p" "$root$p"
done
shift
exec chroot "$root" /bin/sh -c "cd \"\$0\" 2>/dev/null || cd /; exec \"\$@\"" "$PWD" "$@"'
  exec unshare --mount --propagation private -- /bin/sh -c "$script" sh "$dir" "${binds[@]}" -- "$@"
}

case "${1:-}" in
  -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
  path) default_dir ;;
  run)
    shift
    [ $# -ge 1 ] || die "run: no DIR"
    run_in_root "$@"
    ;;
  *) make_root "${1:-$(default_dir)}" ;;
esac
