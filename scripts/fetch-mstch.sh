#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetches mstch's upstream source (the mustache engine haserf links) from Debian's own source
# package: Debian's libmstch-dev is a non-PIC static archive that cannot go into the Lua
# module's shared object, so CMake builds the same source with -fPIC (third_party/mstch/).
#
# usage: scripts/fetch-mstch.sh [DIR]    (default: ${HASERF_CACHE:-/var/cache/haserf}/src)
#
# apt-get runs with a private sources list (one deb-src line for this machine's Debian
# release) and private index and cache folders: the system's apt configuration is neither
# read nor changed. apt checks the download against the release's signed index; the
# tarball's SHA-256 is checked here as well (Debian 12 and 13 ship the same orig tarball).
# Idempotent: a verified tarball already in DIR is kept. Prints the tarball's path.
set -euo pipefail
dir=${1:-${HASERF_CACHE:-/var/cache/haserf}/src}
tarball=mstch_1.0.2.orig.tar.gz
sha256=811ed61400d4e9d4f9ae0f7679a2ffd590f0b3c06b16f2798e1f89ab917cba6c
mirror=${HASERF_DEBIAN_MIRROR:-http://deb.debian.org/debian}

verified() { [ -f "$1" ] && echo "$sha256  $1" | sha256sum -c --quiet >/dev/null 2>&1; }
if verified "$dir/$tarball"; then
  echo "$dir/$tarball"
  exit 0
fi
mkdir -p "$dir"
codename=bookworm
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release && { [ "${ID:-}" = debian ] && echo "${VERSION_CODENAME:-bookworm}" || echo bookworm; })
fi
work=$(mktemp -d "$dir/.fetch-mstch.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb-src $mirror $codename main" >"$work/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1
  -o APT::Sandbox::User="$(id -un)"
)
echo "fetch-mstch: apt-get source --tar-only mstch ($codename, $mirror)" >&2
apt-get "${apt_opts[@]}" update -qq >/dev/null 2>"$work/update.log" || {
  cat "$work/update.log" >&2; echo "fetch-mstch: apt-get update of the private list failed" >&2; exit 1; }
(cd "$work" && apt-get "${apt_opts[@]}" source --tar-only --download-only -qq mstch >/dev/null 2>"$work/source.log") || {
  cat "$work/source.log" >&2; echo "fetch-mstch: apt-get source mstch failed" >&2; exit 1; }
verified "$work/$tarball" || { echo "fetch-mstch: $tarball has an unexpected SHA-256" >&2; exit 1; }
mv -f "$work/$tarball" "$dir/$tarball"
echo "$dir/$tarball"
