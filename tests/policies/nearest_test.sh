#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Nearest by estimated round trip time (examples/policies/nearest.{lua,cfg}) with real HAProxy,
# real serf agents and the lab's web apps: the fetch picks among the members whose network
# coordinates it knows (a serf agent with coordinates disabled is never picked by it), says
# which estimate it went by, and returns "" (normal balancing over every slot) when no member
# is within the bound. On loopback every estimate is well under a millisecond: which of the
# near members wins is up to the estimates; that the choice only ever falls on members with a
# coordinate, and the fallbacks, are what this checks.
# Usage: nearest_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.8.4, 127.0.8.41-43.
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-280}
. "$SRC/tests/policies/lib.sh"

start_policy 127.0.8.4 nearest || { stop_all; finish; exit; }
start_backend n1 127.0.8.41 127.0.8.4
start_backend n2 127.0.8.42 127.0.8.4
# n3's member is a haserf agent whose acks carry no coordinate (serf 0.9.4's agent ignores
# its own disable_coordinates key); haserf honours serf's config key.
echo '{"disable_coordinates": true}' >"$TMP/nocoord.json"
start_web n3 127.0.8.43
"$BUILD/cli/haserf" agent --config-file "$TMP/nocoord.json" --bind 127.0.8.43:7946 --node n3 \
  --rpc-addr 127.0.8.43:7373 --retry-join 127.0.8.4:7946 --retry-interval 1s \
  --tag role=backend --tag port=3000 >"$TMP/n3.events" 2>"$TMP/n3.log" </dev/null &
PID_OF[n3]=$!
ALL_PIDS+=("$!")
wait_for "n1..n3 are alive and hold a slot" 25 eval \
  'backend_ready n1 127.0.8.41 && backend_ready n2 127.0.8.42 && backend_ready n3 127.0.8.43'

picked() { ask / >/dev/null && [ -n "$(resp_header x-haserf-slot)" ]; }
wait_for "once probes taught HAProxy's member the coordinates, the fetch picks a slot" 30 picked
RTT=$(resp_header x-haserf-rtt-ms)
awk -v r="$RTT" 'BEGIN { exit !(r > 0 && r < 50) }' && pass "the pick's estimated rtt is sane ($RTT ms)" ||
  fail "the pick's estimated rtt is sane" "x-haserf-rtt-ms: $RTT"
# Each thread's Lua state re-reads the estimates at most every second
# (HASERF_NEAREST_REFRESH_MS): a thread that read them before the first coordinate came still
# has none for up to a second, and its requests get HAProxy's own balancing (n3 included).
sleep 1.2
T=$(tally 40 /)
echo "# 40 requests, one of the 2 nearest: $(echo $T)"
[ "$(count_of n3 "$T")" = 0 ] && pass "a member without a coordinate (n3) is never picked" ||
  fail "a member without a coordinate (n3) is never picked" "$T"
[ "$(printf '%s\n' "$T" | grep -c '^HTTP')" = 0 ] && pass "no error answer in 40 requests" ||
  fail "no error answer in 40 requests" "$T"
T=$(tally 10 /one)
[ "$(count_of n3 "$T")" = 0 ] && [ "$(printf '%s\n' "$T" | grep -c '^HTTP')" = 0 ] &&
  pass "/one (K=1): served, never by n3" || fail "/one (K=1): served, never by n3" "$T"

# No member within 0.001 ms: the fetch returns "" and every slot serves, n3 included.
wait_for "/bounded: normal balancing over every slot, n3 included" 15 eval '[ "$(names 30 /bounded)" = "n1 n2 n3" ]'
ask /bounded >/dev/null
[ -z "$(resp_header x-haserf-slot)" ] && pass "... the fetch returned nothing" ||
  fail "... the fetch returned nothing" "x-haserf-slot: $(resp_header x-haserf-slot)"

# The nearest member leaving: the others take over.
run rpc 127.0.8.41 leave
expect_rc "serf leave on n1" 0
stop_proc n1
wait_for "after n1 left, / reaches only n2 (n3 has no coordinate)" 20 eval '[ "$(names 20 /)" = n2 ]'

no_policy_errors
stop_ha
stop_all
finish
