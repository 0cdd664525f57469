#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interop: nothing haserf forwards can crash a Go peer. Every datagram that crashes or poisons
# serf 0.9.4 (docs/go-traps.md; tests/tools/trap_sender.cpp) is sent to a haserf agent whose
# peers are real serf agents: haserf drops and counts each one, forwards none, and every serf
# agent survives and keeps a healthy view. A control proves the traps are real: one of them,
# sent straight to a lone serf agent, kills it.
# Usage: interop_traps.sh HASERF SOURCE_DIR TRAP_SENDER
# Addresses: 127.0.11.1 - 127.0.11.9 (loopback only).
HASERF=$1
SRC=$2
SENDER=$3
. "$SRC/tests/integration/lib.sh"

# Every user event a serf agent runs its handler for, one "NAME" line each.
HANDLER=$TMP/handler.sh
# The handler reads its stdin (the payload): serf logs an error if it exits before serf wrote it.
printf '#!/bin/sh\ncat >/dev/null\necho "$SERF_USER_EVENT" >> "%s/$SERF_SELF_NAME.user-events"\n' "$TMP" >"$HANDLER"
chmod +x "$HANDLER"

start_serf s1 127.0.11.1 -event-handler "user=$HANDLER" || { stop_all; finish; exit; }
start_serf s2 127.0.11.2 -event-handler "user=$HANDLER" -join 127.0.11.1:7946
start_serf s3 127.0.11.3 -event-handler "user=$HANDLER" -join 127.0.11.1:7946
start_haserf_agent h1 127.0.11.4 --join 127.0.11.1:7946 || { stop_all; finish; exit; }
for ip in 127.0.11.1 127.0.11.2 127.0.11.3; do
  wait_for "serf on $ip sees 4 alive members" 20 is_alive_count "$ip" 4
done

# The control event goes through haserf to every serf agent: the forwarding path works.
run "$SENDER" 127.0.11.4:7946 event trap-control-1 ok 7
expect_rc "control event sent to haserf" 0
for s in s1 s2 s3; do
  wait_for "$s ran its handler for the control event (relayed by haserf)" 20 \
    grep -qx trap-control-1 "$TMP/$s.user-events"
done

TRAPS=$("$SENDER" list)
for t in $TRAPS; do
  run "$SENDER" 127.0.11.4:7946 "$t"
  expect_rc "trap $t sent to haserf" 0
done
# A second control after the traps: haserf still relays.
run "$SENDER" 127.0.11.4:7946 event trap-control-2 ok 8
for s in s1 s2 s3; do
  wait_for "$s got the second control event: haserf still works" 20 \
    grep -qx trap-control-2 "$TMP/$s.user-events"
done
# Gossip, probes and a push/pull round go by (the local profile would be faster; serf's LAN
# default is what users run).
sleep 6
for s in s1 s2 s3; do
  is_running "$s" && pass "serf agent $s survived every trap" ||
    fail "serf agent $s survived every trap" "$(grep -A5 panic "$TMP/$s.log" | head -n 8)"
done
is_running h1 && pass "haserf survived every trap" || fail "haserf survived every trap"
for ip in 127.0.11.1 127.0.11.2 127.0.11.3; do
  N=$(serf_alive_count "$ip")
  [ "$N" = 4 ] && pass "serf on $ip still sees 4 alive members" ||
    fail "serf on $ip still sees 4 alive members" "$(serf_members "$ip")"
  M=$(serf_members "$ip" | jq -r '.members[].name' | sort | tr '\n' ' ')
  [ "$M" = "h1 s1 s2 s3 " ] && pass "serf on $ip learned no trap node" ||
    fail "serf on $ip learned no trap node" "$M"
done
bad=$(cat "$TMP"/s?.user-events 2>/dev/null | grep -v '^trap-control-' | head -n 3)
[ -z "$bad" ] && pass "no trap event reached a serf handler" || fail "no trap event reached a serf handler" "$bad"
# Poisoning shows in serf's own logs: merges refused, clocks or incarnations gone wild.
serf_logs_clean 'Failed to send|Failed to receive|EOF'

stop_proc h1
grep -q "unsafe for Go peers" "$TMP/h1.log" && pass "haserf reports its unsafe drops at exit" ||
  fail "haserf reports its unsafe drops at exit" "$(tail -n 3 "$TMP/h1.log")"
UNSAFE=$(sed -n 's/.* \([0-9][0-9]*\) unsafe for Go peers.*/\1/p' "$TMP/h1.log" | tail -n 1)
[ "${UNSAFE:-0}" -ge 12 ] && pass "haserf counted $UNSAFE unsafe messages" ||
  fail "haserf counted at least 12 unsafe messages" "${UNSAFE:-none}: $(tail -n 2 "$TMP/h1.log")"

# Control: the trap is real. Straight to a lone serf agent, an empty query filter kills it.
start_serf victim 127.0.11.9 || { stop_all; finish; exit; }
run "$SENDER" 127.0.11.9:7946 query-empty-filter
poll 10 bash -c "! kill -0 ${PID_OF[victim]} 2>/dev/null" && pass "control: the same trap sent straight to serf 0.9.4 kills it" ||
  fail "control: the same trap sent straight to serf 0.9.4 kills it" "$(tail -n 3 "$TMP/victim.log")"
grep -q "panic" "$TMP/victim.log" && pass "control: serf panicked" || fail "control: serf panicked"
unset "PID_OF[victim]"
stop_all
finish
