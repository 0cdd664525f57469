#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make deb's packages for one Debian release, installed with apt into a clean root of that
# release as a user would (`apt install ./haserf*.deb`), then used: haserf --version,
# require "haserf" under the release's lua5.3 and lua5.4 (their own package.cpath, no path
# set), haproxy -c of a config that loads the installed glue, systemd-analyze verify of the
# units, the Debian copyright file of every package, and a purge that leaves nothing behind.
#
# Usage: deb_test.sh BUILD_DIR SOURCE_DIR [bookworm|trixie]. Needs root. Address: 127.0.38.1.
#   bookworm (install.deb, the default): built on this Debian 12 host (scripts/make-deb.sh),
#     installed into $HASERF_CACHE/debian12-clean (HAProxy 2.6).
#   trixie (install.deb.debian13): built inside a Debian 13 build root by `make deb`, from a
#     copy of the source tree (the files git knows, no build folders), installed into
#     $HASERF_CACHE/debian13-clean (HAProxy 3.0). Packages built on Debian 12 do not install
#     on 13 (libuv1 became libuv1t64, ...): dpkg-shlibdeps takes the dependencies from the
#     release the packages are built on.
# The roots are made once by scripts/debian13-root.sh (HASERF_ROOT_SUITE, HASERF_ROOT_PACKAGES)
# and kept in $HASERF_CACHE (/var/cache/haserf); each run works on copies inside $TMP (for the
# build root: an overlay, its writes in $TMP), which the EXIT trap deletes, failure or not.
# Commands run in a root through `debian13-root.sh run` (private mount namespace), the overlay
# is mounted in one too: no mount outlives its command.
BUILD=$1
SRC=$2
SUITE=${3:-bookworm}
. "$SRC/tests/cli/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "# skipped: needs root (chroot)"; exit 77; }
CACHE=${HASERF_CACHE:-/var/cache/haserf}
ROOT_SH=$SRC/scripts/debian13-root.sh
PACKAGES="haserf haserf-haproxy libhaserf0 libhaserf-dev"
case "$SUITE" in
  bookworm) RELEASE=12 HAPROXY=2.6 LIBUV=libuv1 ;;
  trixie) RELEASE=13 HAPROXY=3.0 LIBUV=libuv1t64 ;;
  *) echo "usage: deb_test.sh BUILD_DIR SOURCE_DIR [bookworm|trixie]" >&2; exit 2 ;;
esac
# Files put into a cached root for one command (below), removed whatever happens.
SCRATCH=
trap 'rm -rf "$TMP" ${SCRATCH:+"$SCRATCH"}' EXIT

# The source tree as git sees it: tracked files as they are now (edits included) and new
# files not ignored; no .git, no build folders. Without git: everything but those.
copy_source() {
  local from=$1 to=$2
  mkdir -p "$to"
  if git -C "$from" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$from" && git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do
        if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
      done | tar --null --no-recursion -T - -cf -) | tar -xf - -C "$to"
  else
    tar -C "$from" --exclude-vcs --exclude=./build --exclude='./build-*' --exclude=./out \
      -cf - . | tar -xf - -C "$to"
  fi
}
# What `haserf --version` reports (cmake/version_info.cmake's rule); the copy has no .git.
source_commit() {
  local c
  c=$(git -C "$1" rev-parse --short=10 HEAD 2>/dev/null) || { echo unknown; return; }
  git -C "$1" diff --quiet HEAD -- 2>/dev/null || c="$c-dirty"
  echo "$c"
}

mkdir -p "$TMP/debs"
if [ "$SUITE" = bookworm ]; then
  run bash "$SRC/scripts/make-deb.sh" "$TMP/deb-build"
  expect_rc "make deb (scripts/make-deb.sh) builds the packages" 0
  cp "$TMP"/deb-build/*.deb "$TMP/debs/" 2>/dev/null
  rm -rf "$TMP/deb-build"
else
  # The build root: what scripts/install-deps.sh installs for HASERF_DEPS=build (the list
  # below; dpkg-dev comes with build-essential), `file` (CPack's dpkg-shlibdeps step) and
  # ccache: compiles are cached in $CACHE/debian13-ccache (at most 1 GB) between runs, so a
  # warm run compiles only what changed since the last one (the whole build takes about
  # 7 CPU-minutes).
  BUILD_ROOT_PACKAGES=build-essential,cmake,pkg-config,patch,help2man,libuv1-dev,libboost-dev
  BUILD_ROOT_PACKAGES+=,liblua5.4-dev,liblua5.3-dev,libssl-dev,zlib1g-dev,libmsgpack-cxx-dev
  BUILD_ROOT_PACKAGES+=,nlohmann-json3-dev,ca-certificates,file,ccache
  # Commands in the build root get a clean environment (no CFLAGS, HASERF_CACHE, ... of the
  # host's); the Debian mirror is passed on.
  clean_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
    LANG=C.UTF-8 ${HASERF_DEBIAN_MIRROR:+HASERF_DEBIAN_MIRROR=$HASERF_DEBIAN_MIRROR})
  run env HASERF_ROOT_SUITE=trixie HASERF_ROOT_PACKAGES=$BUILD_ROOT_PACKAGES \
    bash "$ROOT_SH" "$CACHE/debian13-build"
  expect_rc "a Debian 13 build root (cached)" 0
  [ "$RC" -eq 0 ] || { finish; exit; }
  # Then scripts/install-deps.sh in it, as Dockerfile.ha's build stage does: any package its
  # build list gained since the root was made, and mstch's source from Debian 13's own source
  # package (fetched once, kept in the cached root's /var/cache/haserf/src). Quiet and quick
  # when all is there.
  SCRATCH=$(mktemp -d "$CACHE/debian13-build/tmp/haserf-deps.XXXXXX")
  cp "$SRC/scripts/install-deps.sh" "$SRC/scripts/fetch-mstch.sh" "$SCRATCH/"
  run bash "$ROOT_SH" run "$CACHE/debian13-build" --bind /etc/resolv.conf -- \
    "${clean_env[@]}" HASERF_DEPS=build bash "/tmp/${SCRATCH##*/}/install-deps.sh"
  expect_rc "scripts/install-deps.sh (HASERF_DEPS=build) in the build root: mstch's source" 0
  [ "$RC" -eq 0 ] || { finish; exit; }
  rm -rf "$SCRATCH"
  SCRATCH=
  # The build works in an overlay of the cached root (its writes land in $B/upper), mounted
  # in a private mount namespace that ends with the command: nothing to copy (the root is
  # 800 MB) and the cache stays as it was. Where overlayfs cannot be mounted, a copy.
  B=$TMP/build-root
  mkdir -p "$B/upper" "$B/work" "$B/merged"
  # with_overlay CMD...: CMD in a new private mount namespace where the overlay is mounted.
  with_overlay() {
    unshare --mount --propagation private -- sh -c 'mount -t overlay overlay -o "$1" "$2" &&
      shift 2 && exec "$@"' sh "lowerdir=$CACHE/debian13-build,upperdir=$B/upper,workdir=$B/work" \
      "$B/merged" "$@"
  }
  CCACHE=$CACHE/debian13-ccache
  mkdir -p "$CCACHE"
  binds=(--bind "$TMP/debs" --bind "$CCACHE")
  if with_overlay true 2>/dev/null; then
    copy_source "$SRC" "$B/upper/src"
    in_build_root() { with_overlay bash "$ROOT_SH" run "$B/merged" "${binds[@]}" -- "$@"; }
  else
    cp -a "$CACHE/debian13-build/." "$B/merged/"
    copy_source "$SRC" "$B/merged/src"
    in_build_root() { bash "$ROOT_SH" run "$B/merged" "${binds[@]}" -- "$@"; }
  fi
  run in_build_root "${clean_env[@]}" HASERF_COMMIT="$(source_commit "$SRC")" \
    CCACHE_DIR="$CCACHE" CCACHE_MAXSIZE=1G \
    CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache \
    sh -c 'make -C /src deb && cp /src/build-deb/*.deb "$0/"' "$TMP/debs"
  expect_rc "make deb in the Debian 13 build root (GCC 14, -Werror)" 0
  rm -rf "$B"
fi
DEBS=$(ls "$TMP"/debs/*.deb 2>/dev/null | sort)
for p in $PACKAGES; do
  printf '%s\n' "$DEBS" | grep -q "/${p}_0.1.0_amd64.deb$" && pass "package $p built" ||
    fail "package $p built" "$DEBS"
done
[ "$(printf '%s' "$DEBS" | grep -c '')" -eq 4 ] || { finish; exit; }
run dpkg-deb -f "$TMP/debs/haserf-haproxy_0.1.0_amd64.deb" Description
expect_contains "haserf-haproxy's description, as written in cmake/packaging.cmake" "$OUT" \
  ' The Lua module (require "haserf", for Lua 5.3 and 5.4) and the glue HAProxy loads with'
run dpkg-deb -f "$TMP/debs/haserf-haproxy_0.1.0_amd64.deb" Depends
printf '%s\n' "$OUT" | grep -Eq "(^|, )$LIBUV( |,|$)" &&
  pass "haserf-haproxy depends on Debian $RELEASE's $LIBUV (dpkg-shlibdeps)" ||
  fail "haserf-haproxy depends on Debian $RELEASE's $LIBUV (dpkg-shlibdeps)" "Depends: $OUT"

run env HASERF_ROOT_SUITE="$SUITE" HASERF_ROOT_PACKAGES=ca-certificates,systemd \
  bash "$ROOT_SH" "$CACHE/debian$RELEASE-clean"
expect_rc "a clean Debian $RELEASE root (cached)" 0
[ "$RC" -eq 0 ] || { finish; exit; }
ROOT=$TMP/root
cp -a "$CACHE/debian$RELEASE-clean" "$ROOT"
mkdir -p "$ROOT/debs"
cp $DEBS "$ROOT/debs/"
in_root() { bash "$ROOT_SH" run "$ROOT" --bind /etc/resolv.conf -- "$@"; }
run in_root cat /etc/debian_version
expect_contains "the clean root is Debian $RELEASE" "$OUT" "$RELEASE."

run in_root sh -c 'export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq /debs/*.deb lua5.3 lua5.4'
expect_rc "apt-get install ./haserf*.deb (with lua5.3, lua5.4)" 0
run in_root dpkg-query -W -f '${Package} ${Status}\n' $PACKAGES haproxy
expect_lines "the four packages and haproxy (recommended) are installed" \
  "$(printf '%s\n' "$OUT" | grep 'install ok installed')" 5

run in_root dpkg -L haserf
expect_contains "the haserf package has the man pages" "$OUT" "/usr/share/man/man1/haserf-agent.1"
# /usr/share/doc/PACKAGE/copyright (Debian policy 12.5) in the machine-readable format, made
# from LICENSE: the same terms, word for word.
license_words() { sed '1,/^Copyright /d' "$SRC/LICENSE" | grep -v '^[[:space:]]*$'; }
copyright_words() { awk '/^License: MIT$/ { f = 1; next } f && /^$/ { exit } f' "$1" |
  sed 's/^ //' | grep -v '^\.$'; }
holder=$(sed -n 's/^Copyright ([cC]) //p' "$SRC/LICENSE")
DEP5=https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
for p in $PACKAGES; do
  c=$ROOT/usr/share/doc/$p/copyright
  run in_root dpkg -S "/usr/share/doc/$p/copyright"
  if [ "$RC" -eq 0 ] && [ "$OUT" = "$p: /usr/share/doc/$p/copyright" ] && [ -f "$c" ]; then
    pass "$p ships /usr/share/doc/$p/copyright"
  else
    fail "$p ships /usr/share/doc/$p/copyright" "dpkg -S: $OUT $ERR"
    continue
  fi
  [ "$(head -n 1 "$c")" = "Format: $DEP5" ] &&
    grep -qx 'Upstream-Name: haserf' "$c" && grep -qx 'Files: \*' "$c" &&
    grep -qxF "Copyright: $holder" "$c" && [ "$(license_words)" = "$(copyright_words "$c")" ] &&
    pass "$p's copyright: DEP-5, Files: *, Copyright: $holder, License: MIT with LICENSE's text" ||
    fail "$p's copyright: DEP-5, Files: *, Copyright: $holder, License: MIT with LICENSE's text" \
      "$(head -n 12 "$c")"
done
run in_root systemd-analyze verify --man=no /lib/systemd/system/haserf-agent.service \
  /lib/systemd/system/haserf-render@.service
expect_rc "systemd-analyze verify: both units" 0
[ -d "$ROOT/etc/haserf" ] && pass "/etc/haserf exists (empty: the agent unit waits for a config)" ||
  fail "/etc/haserf exists"
run in_root haserf --version
expect_contains "haserf --version in the root" "$OUT" "haserf 0.1.0 (commit "
for v in 5.3 5.4; do
  run in_root "lua$v" -e 'io.write(require("haserf").version_string())'
  expect_contains "require 'haserf' under Debian $RELEASE's lua$v, no path set" "$OUT" "0.1.0"
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
run in_root haproxy -v
expect_contains "the root's HAProxy is $HAPROXY" "$OUT" "version $HAPROXY."
run in_root haproxy -c -f /tmp/haproxy.cfg
expect_rc "HAProxy $HAPROXY accepts the installed glue (haproxy -c)" 0

# Purge: no file of the four packages is left, nor their folders (/etc/haserf included).
run in_root dpkg -L $PACKAGES
INSTALLED=$(printf '%s\n' "$OUT" | grep '^/')
run in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $PACKAGES"
expect_rc "apt-get purge of the four packages" 0
left=
while IFS= read -r f; do
  [ -n "$f" ] || continue
  if { [ -e "$ROOT$f" ] || [ -L "$ROOT$f" ]; } && ! [ -d "$ROOT$f" ]; then left="$left $f"; fi
done <<<"$INSTALLED"
for d in /usr/share/haserf /etc/haserf /usr/lib/x86_64-linux-gnu/cmake/haserf \
  /usr/share/doc/haserf /usr/share/doc/haserf-haproxy /usr/share/doc/libhaserf0 \
  /usr/share/doc/libhaserf-dev; do
  [ -e "$ROOT$d" ] && left="$left $d"
done
[ -n "$INSTALLED" ] && [ -z "$left" ] &&
  pass "apt-get purge removes every file ($(printf '%s\n' "$INSTALLED" | grep -c '') paths)" ||
  fail "apt-get purge removes every file" "left:$left"
rm -rf "$ROOT"
finish
