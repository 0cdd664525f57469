#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make deb's packages, installed with apt into a clean Debian 12 root as a user would
# (`apt install ./haserf*.deb`), then used: haserf --version, require "haserf" under
# Debian's lua5.3 and lua5.4 (their own package.cpath, no path set), haproxy -c of a config
# that loads the installed glue, and a purge that leaves nothing behind.
# The clean root is made once (scripts/debian13-root.sh with HASERF_ROOT_SUITE=bookworm) and
# kept in $HASERF_CACHE/debian12-clean; each run works on a copy, deleted at the end.
# Usage: deb_test.sh BUILD_DIR SOURCE_DIR. Needs root. Addresses: 127.0.38.1.
BUILD=$1
SRC=$2
. "$SRC/tests/cli/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "# skipped: needs root (chroot)"; exit 77; }
CACHE=${HASERF_CACHE:-/var/cache/haserf}

run bash "$SRC/scripts/make-deb.sh" "$TMP/deb-build"
expect_rc "make deb (scripts/make-deb.sh) builds the packages" 0
DEBS=$(ls "$TMP"/deb-build/*.deb 2>/dev/null | sort)
for p in haserf haserf-haproxy libhaserf0 libhaserf-dev; do
  printf '%s\n' "$DEBS" | grep -q "/${p}_0.1.0_amd64.deb$" && pass "package $p built" ||
    fail "package $p built" "$DEBS"
done

run env HASERF_ROOT_SUITE=bookworm HASERF_ROOT_PACKAGES=ca-certificates,systemd \
  bash "$SRC/scripts/debian13-root.sh" "$CACHE/debian12-clean"
expect_rc "a clean Debian 12 root (cached)" 0 || { finish; exit; }
ROOT=$TMP/root
cp -a "$CACHE/debian12-clean" "$ROOT"
mkdir -p "$ROOT/debs"
cp $DEBS "$ROOT/debs/"
in_root() { bash "$SRC/scripts/debian13-root.sh" run "$ROOT" --bind /etc/resolv.conf -- "$@"; }

run in_root sh -c 'export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq /debs/*.deb lua5.3 lua5.4'
expect_rc "apt-get install ./haserf*.deb (with lua5.3, lua5.4)" 0
run in_root dpkg-query -W -f '${Package} ${Status}\n' haserf haserf-haproxy libhaserf0 libhaserf-dev haproxy
expect_lines "the four packages and haproxy (recommended) are installed" \
  "$(printf '%s\n' "$OUT" | grep 'install ok installed')" 5

run in_root dpkg -L haserf
expect_contains "the haserf package has the man pages" "$OUT" "/usr/share/man/man1/haserf-agent.1"
run in_root systemd-analyze verify --man=no /lib/systemd/system/haserf-agent.service \
  /lib/systemd/system/haserf-render@.service
expect_rc "systemd-analyze verify: both units" 0
[ -d "$ROOT/etc/haserf" ] && pass "/etc/haserf exists (empty: the agent unit waits for a config)" ||
  fail "/etc/haserf exists"
run in_root haserf --version
expect_contains "haserf --version in the root" "$OUT" "haserf 0.1.0 (commit "
for v in 5.3 5.4; do
  run in_root "lua$v" -e 'io.write(require("haserf").version_string())'
  expect_contains "require 'haserf' under Debian's lua$v, no path set" "$OUT" "0.1.0"
done

cat >"$ROOT/tmp/haproxy.cfg" <<'CFG'
global
    insecure-fork-wanted
    setenv HASERF_BIND "127.0.38.1:7946"
    lua-load /usr/share/haserf/haserf-haproxy.lua
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    bind 127.0.38.1:8080
    default_backend nodes
backend nodes
    server-template s 1-4 0.0.0.0:80 disabled
CFG
run in_root haproxy -c -f /tmp/haproxy.cfg
expect_rc "the root's HAProxy accepts the installed glue (haproxy -c)" 0

run in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq haserf haserf-haproxy libhaserf-dev libhaserf0 &&
  ls /usr/share/haserf /usr/lib/x86_64-linux-gnu/lua/5.3/haserf.so 2>&1'
expect_contains "apt-get purge removes every file" "$OUT" "No such file or directory"
rm -rf "$ROOT"
finish
