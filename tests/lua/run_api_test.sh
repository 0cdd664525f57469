#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs api_test.lua with LUA (lua5.4) and the module from MODULE_DIR against a real serf agent.
# Usage: run_api_test.sh LUA MODULE_DIR SOURCE_DIR IP_PREFIX   (IP_PREFIX like 127.0.5)
set -u
LUA=$1
MODULE_DIR=$2
SRC=$3
NET=$4
TMP_DIR=$(mktemp -d /tmp/haserf-lua-XXXXXX)
SERF_PID=""
cleanup() {
  if [ -n "$SERF_PID" ]; then
    kill -TERM "$SERF_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$SERF_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERF_PID" 2>/dev/null
    wait "$SERF_PID" 2>/dev/null
  fi
  rm -rf "$TMP_DIR"
}
trap cleanup EXIT
cat >"$TMP_DIR/handler.sh" <<'H'
#!/bin/sh
echo "$SERF_USER_EVENT $(cat)" >> "$EVENTS_FILE"
H
chmod +x "$TMP_DIR/handler.sh"
export EVENTS_FILE=$TMP_DIR/serf-events.txt
serf agent -node serf-a -bind "$NET.1:7946" -rpc-addr "$NET.1:7373" -tag role=backend \
  -event-handler "user=$TMP_DIR/handler.sh" -event-handler "query:echo=cat" \
  >"$TMP_DIR/serf.log" 2>&1 &
SERF_PID=$!
for _ in $(seq 1 100); do serf members -rpc-addr "$NET.1:7373" >/dev/null 2>&1 && break; sleep 0.1; done
export SERF_RPC=$NET.1:7373 SERF_ADDR=$NET.1:7946 OUR_BIND=$NET.2:7946 TMP_DIR
export SERF_EVENTS_FILE=$EVENTS_FILE
# The test's own process is bounded too: a hang must not outlive ctest's timeout.
LUA_PATH="$SRC/lua/?.lua;;" LUA_CPATH="$MODULE_DIR/?.so" timeout -k 5 150 "$LUA" "$SRC/tests/lua/api_test.lua"
rc=$?
[ $rc -ne 0 ] && { echo "--- serf log (without RPC connects)"; grep -v "agent.ipc: Accepted client" "$TMP_DIR/serf.log" | tail -30; }
exit $rc
