#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Dockerfile.ha example config stays valid: `haproxy -c` with the module and glue paths
# of this build (no Docker engine needed; the host's HAProxy and Lua 5.3 module, the image has
# HAProxy 3.0 and Lua 5.4: tests/docker/image_test.sh runs that). The paths the config, the
# Dockerfile's CMD and the entrypoint name agree. Usage: docker_config_test.sh BUILD_DIR SOURCE_DIR
BUILD=$1
SRC=$2
. "$SRC/tests/cli/lib.sh"
for cfg in haproxy.cfg; do
  sed -e "s|lua-load /usr/local/share/haserf/haserf-haproxy.lua|lua-prepend-path $BUILD/bindings/lua5.3/?.so cpath\n    lua-load $SRC/lua/haserf-haproxy.lua|" \
      -e "s|/usr/local/etc/haproxy/haproxy.cfg.mustache|$SRC/examples/docker/haproxy.cfg.mustache|" \
      -e "s|/var/lib/haserf/haproxy.cfg$|$TMP/out.cfg|" \
    "$SRC/examples/docker/$cfg" >"$TMP/$cfg"
  run env HASERF_BIND=127.0.0.98:7946 haproxy -c -f "$TMP/$cfg"
  expect_rc "examples/docker/$cfg passes haproxy -c" 0
  # LISTEN_ADDR moves the frontend and the stats page (the image binds every address without it).
  run env HASERF_BIND=127.0.0.98:7946 LISTEN_ADDR=127.0.0.98 haproxy -c -f "$TMP/$cfg"
  expect_rc "examples/docker/$cfg passes haproxy -c with LISTEN_ADDR set" 0
done
# The template renders to the same config (slot count 8, version line aside).
"$BUILD/cli/haserf" render -t "$SRC/examples/docker/haproxy.cfg.mustache" -m "$SRC/examples/members.json" \
  --var slots_nodes=8 2>/dev/null | grep -v '^# HAProxy config\|^# outgrows' >"$TMP/rendered"
grep -v '^# HAProxy config\|^# outgrows' "$SRC/examples/docker/haproxy.cfg" >"$TMP/initial"
cmp -s "$TMP/rendered" "$TMP/initial" && pass "initial config equals the template rendered with 8 slots" ||
  fail "initial config equals the template rendered with 8 slots" "$(diff "$TMP/rendered" "$TMP/initial")"
grep -q 'docker build -f Dockerfile.ha' "$SRC/Dockerfile.ha" && pass "Dockerfile.ha documents its build" ||
  fail "Dockerfile.ha documents its build"

# One set of paths: HAProxy runs (-f) the file renders write (HASERF_OUT), its master CLI (-S)
# is the reload path (HASERF_RELOAD), and the entrypoint copies the initial config there.
knob() { awk -v k="$1" '$1 ~ /^(pre)?setenv$/ && $2 == k {print $3}' "$SRC/examples/docker/haproxy.cfg"; }
CMD_LINE=$(grep '^CMD ' "$SRC/Dockerfile.ha")
OUT=$(knob HASERF_OUT)
SOCK=$(knob HASERF_RELOAD)
SOCK=${SOCK#master-cli:}
expect_contains "Dockerfile.ha's CMD runs HASERF_OUT ($OUT)" "$CMD_LINE" "\"-f\", \"$OUT\""
expect_contains "Dockerfile.ha's CMD opens the master CLI of HASERF_RELOAD ($SOCK)" "$CMD_LINE" "\"-S\", \"$SOCK\""
expect_contains "the entrypoint writes the initial config to HASERF_OUT" \
  "$(cat "$SRC/examples/docker/entrypoint.sh")" "runtime=$OUT"
for p in "$OUT" "$SOCK" "$(knob HASERF_PEERS_FILE)"; do
  case "$p" in /var/lib/haserf/*) pass "$p is in the image's writable /var/lib/haserf" ;;
    *) fail "$p is in the image's writable /var/lib/haserf" ;; esac
done
finish
