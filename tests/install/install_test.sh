#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What `cmake --install` delivers, used the way a user would: the CLI (--version), the C
# library through pkg-config and through find_package(haserf) (examples/c, built and run),
# both Lua modules under their own Lua, and `haproxy -c` of a config that loads the installed
# glue. Installs into a temporary prefix (nothing outside it).
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
# Addresses: 127.0.37.1 - 127.0.37.3 (loopback only).
BUILD=$1
SRC=$2
HASERF=$BUILD/cli/haserf
. "$SRC/tests/cli/lib.sh"

P=$TMP/prefix
run cmake --install "$BUILD" --prefix "$P"
expect_rc "cmake --install into a prefix" 0
LIBDIR=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$BUILD/CMakeCache.txt")
LIBDIR=${LIBDIR:-lib}
for f in bin/haserf "$LIBDIR/libhaserf.so" include/haserf.h "$LIBDIR/pkgconfig/haserf.pc" \
  "$LIBDIR/cmake/haserf/haserfConfig.cmake" "$LIBDIR/cmake/haserf/haserfConfigVersion.cmake" \
  "$LIBDIR/cmake/haserf/haserfTargets.cmake" "$LIBDIR/lua/5.3/haserf.so" "$LIBDIR/lua/5.4/haserf.so" \
  share/haserf/haserf-haproxy.lua share/haserf/haserf/glue.lua share/doc/haserf/LICENSE \
  share/man/man1/haserf.1 share/man/man1/haserf-agent.1 share/man/man1/haserf-render.1; do
  [ -e "$P/$f" ] && pass "installed: $f" || fail "installed: $f" "$(cd "$P" && find . -type f | sort)"
done

run "$P/bin/haserf" --version
expect_rc "haserf --version: exit 0" 0
expect_contains "--version names the version" "$OUT" "haserf 0.1.0 (commit "
expect_contains "--version names the serf protocol range" "$OUT" "serf protocol 5 (understands back to 2"

run man -l "$P/share/man/man1/haserf-members.1"
expect_contains "man haserf-members: the synopsis from --help" "$OUT" "haserf members [--rpc-addr IP:PORT]"

# C through pkg-config.
export PKG_CONFIG_PATH=$P/$LIBDIR/pkgconfig
run pkg-config --modversion haserf
expect_contains "pkg-config knows haserf" "$OUT" "0.1.0"
# shellcheck disable=SC2046
run cc -Wall -Wextra -Werror "$SRC/examples/c/members.c" $(pkg-config --cflags --libs haserf) \
  -Wl,-rpath,"$P/$LIBDIR" -o "$TMP/members-pc"
expect_rc "examples/c/members.c builds with pkg-config's flags" 0
run timeout 20 "$TMP/members-pc" 127.0.37.1:7946
expect_rc "the pkg-config build runs" 0
expect_contains "it lists itself with its tag" "$OUT" '"role": "example"'
expect_contains "it reports the library version" "$OUT" "library 0.1.0"

# C through CMake's package.
run cmake -S "$SRC/examples/c" -B "$TMP/cmake-example" -DCMAKE_PREFIX_PATH="$P" \
  -DCMAKE_BUILD_RPATH="$P/$LIBDIR"
expect_rc "find_package(haserf) configures examples/c" 0
run cmake --build "$TMP/cmake-example"
expect_rc "examples/c builds with haserf::haserf" 0
run timeout 20 "$TMP/cmake-example/members" 127.0.37.2:7946
expect_contains "the CMake build runs" "$OUT" "library 0.1.0"

# Lua: each Lua finds its own module under the prefix.
for v in 5.3 5.4; do
  command -v "lua$v" >/dev/null || { fail "lua$v is installed"; continue; }
  run "lua$v" -e "package.cpath = '$P/$LIBDIR/lua/$v/?.so;' .. package.cpath
    local h = require 'haserf'; io.write(h.version_string())"
  expect_contains "require 'haserf' under lua$v from the prefix" "$OUT" "0.1.0"
done

# HAProxy: the installed glue and module pass haproxy -c.
LUA_V=$(haproxy -vv 2>/dev/null | sed -n 's/.*Lua version : Lua \([0-9]\.[0-9]\).*/\1/p')
cat >"$TMP/haproxy.cfg" <<CFG
global
    insecure-fork-wanted
    setenv HASERF_BIND "127.0.37.3:7946"
    lua-prepend-path "$P/$LIBDIR/lua/${LUA_V:-5.3}/?.so" cpath
    lua-load "$P/share/haserf/haserf-haproxy.lua"
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    bind 127.0.37.3:8080
    default_backend nodes
backend nodes
    server-template s 1-4 0.0.0.0:80 disabled
CFG
run haproxy -c -f "$TMP/haproxy.cfg"
expect_rc "haproxy -c with the installed glue (Lua ${LUA_V:-?})" 0
finish
