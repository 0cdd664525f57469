#!/usr/bin/env bash
# The Dockerfile.ha example config stays valid: `haproxy -c` with the module and glue paths
# of this build (no Docker engine needed). Usage: docker_config_test.sh BUILD_DIR SOURCE_DIR
BUILD=$1
SRC=$2
. "$SRC/tests/cli/lib.sh"
for cfg in haproxy.cfg; do
  sed -e "s|lua-load /usr/local/share/haserf/haserf-haproxy.lua|lua-prepend-path $BUILD/bindings/lua5.3/?.so cpath\n    lua-load $SRC/lua/haserf-haproxy.lua|" \
      -e "s|/usr/local/etc/haproxy/haproxy.cfg.mustache|$SRC/examples/docker/haproxy.cfg.mustache|" \
      -e "s|/usr/local/etc/haproxy/haproxy.cfg$|$TMP/out.cfg|" \
    "$SRC/examples/docker/$cfg" >"$TMP/$cfg"
  run env HASERF_BIND=127.0.0.98:7946 haproxy -c -f "$TMP/$cfg"
  expect_rc "examples/docker/$cfg passes haproxy -c" 0
done
# The template renders to the same config (slot count 8, version line aside).
"$BUILD/cli/haserf" render -t "$SRC/examples/docker/haproxy.cfg.mustache" -m "$SRC/examples/members.json" \
  --var slots_nodes=8 2>/dev/null | grep -v '^# HAProxy config\|^# outgrows' >"$TMP/rendered"
grep -v '^# HAProxy config\|^# outgrows' "$SRC/examples/docker/haproxy.cfg" >"$TMP/initial"
cmp -s "$TMP/rendered" "$TMP/initial" && pass "initial config equals the template rendered with 8 slots" ||
  fail "initial config equals the template rendered with 8 slots" "$(diff "$TMP/rendered" "$TMP/initial")"
grep -q 'docker build -f Dockerfile.ha' "$SRC/Dockerfile.ha" && pass "Dockerfile.ha documents its build" ||
  fail "Dockerfile.ha documents its build"
finish
