#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian bookworm packages haserf needs to build, test and run its demo.
# Idempotent and quiet when everything is already there.
#
# HASERF_DEPS=demo (make demo): the build plus HAProxy, serf and the lab's tools; no browser,
# no image or root builders.
# HASERF_DEPS=build: only what compiling the library, CLI and Lua modules needs, with the
# tests off (cmake -DBUILD_TESTING=OFF); the same names exist in Debian 12 and 13, so this is
# what Dockerfile.ha's build stage (debian:trixie) runs. Default (HASERF_DEPS unset or
# "all"): everything for building, testing (Catch2 2.x: bookworm's catch2) and the demo.
set -euo pipefail

build_packages=(
  build-essential cmake pkg-config patch help2man file dpkg-dev
  libuv1-dev libboost-dev liblua5.4-dev liblua5.3-dev
  libssl-dev zlib1g-dev libmsgpack-cxx-dev nlohmann-json3-dev ca-certificates
)
case "${HASERF_DEPS:-all}" in
  build) packages=("${build_packages[@]}") ;;
  demo)
    # make demo: the build (tests configured too: catch2, small) and what the lab runs;
    # mmdebstrap only when the demo is to run HAProxy 3.0 from a Debian 13 root.
    packages=("${build_packages[@]}" catch2 haproxy serf curl jq socat)
    [ -n "${HASERF_HAPROXY_ROOT:-}" ] && packages+=(mmdebstrap)
    ;;
  all)
    packages=(
      build-essential cmake pkg-config patch help2man
      libuv1-dev libboost-dev liblua5.4-dev liblua5.3-dev lua5.4 lua5.3 catch2
      libssl-dev zlib1g-dev libmsgpack-cxx-dev nlohmann-json3-dev
      haproxy serf curl socat jq wrk chromium
      mmdebstrap buildah podman uidmap gdb python3-yaml man-db
      nftables
    )
    ;;
  *) echo "install-deps: HASERF_DEPS must be 'build', 'demo' or 'all', got '$HASERF_DEPS'" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# mstch, the mustache engine: Debian's source package, built by CMake with -fPIC
# (third_party/mstch). Fetched into the cache folder where CMake looks for it; a user who
# cannot write there gets it fetched into the build folder at configure time instead.
cache_src="${HASERF_CACHE:-/var/cache/haserf}/src"
if mkdir -p "$cache_src" 2>/dev/null && [ -w "$cache_src" ]; then
  bash "$(dirname "$0")/fetch-mstch.sh" "$cache_src" >/dev/null
fi
