#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# haserf agent whose stdout reader stalls: events queue up and are dropped (counted), the
# gossip loop keeps answering probes (nobody suspects the node), SIGTERM still leaves and
# exits 0 in time, and the drops are reported.
# Usage: agent_stdout_stall.sh HASERF SOURCE_DIR
# Addresses: 127.0.31.1 - 127.0.31.2 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

start_serf st-serf 127.0.31.1 || { stop_all; finish; exit; }
# stdout is a FIFO that this shell holds open for reading and never reads: once its 64 KiB
# buffer is full, every write to it would block.
mkfifo "$TMP/out.fifo"
exec 7<>"$TMP/out.fifo"
# Its own RPC address: the default (127.0.0.1:7373) may be taken by another test or a bench.
"$HASERF" agent --bind 127.0.31.2:7946 --node st-ours --join 127.0.31.1:7946 --rpc-addr 127.0.31.2:7373 \
  >"$TMP/out.fifo" 2>"$TMP/st-ours.log" </dev/null &
PID_OF[st-ours]=$!
ALL_PIDS+=("$!")
wait_for "the agent joins" 20 is_status 127.0.31.1 st-ours alive

# ~300 events of 400 bytes: far more than the FIFO holds.
PAYLOAD=$(head -c 400 /dev/zero | tr '\0' x)
for i in $(seq 1 300); do rpc 127.0.31.1 event "flood$i" "$PAYLOAD" >/dev/null 2>&1; done
pass "300 user events sent while nobody reads the agent's stdout"
sleep 6  # several probe rounds
is_status 127.0.31.1 st-ours alive && pass "still alive after the flood" ||
  fail "still alive after the flood" "$(serf_members 127.0.31.1)"
grep -qE 'Suspect st-ours|EventMemberFailed: st-ours' "$TMP/st-serf.log" &&
  fail "serf never suspected the stalled agent" "$(grep -E 'Suspect|Failed' "$TMP/st-serf.log")" ||
  pass "serf never suspected the stalled agent"

T0=$(date +%s)
stop_proc st-ours 20
[ "$STOP_RC" = 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit 0" "rc=$STOP_RC"
[ $(($(date +%s) - T0)) -le 15 ] && pass "SIGTERM: done within 15 s" || fail "SIGTERM: done within 15 s"
wait_for "serf sees the agent left" 20 is_status 127.0.31.1 st-ours left
expect_contains "the dropped events are reported" "$(cat "$TMP/st-ours.log")" "events not written to stdout"
exec 7<&-
# serf warns about its own event queue when 300 user events arrive faster than a loaded
# machine lets it handle them: serf's backlog, not something we sent wrong.
serf_logs_clean 'Event queue depth'
stop_all
finish
