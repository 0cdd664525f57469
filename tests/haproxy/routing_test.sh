#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# HAProxy + glue + real serf agents: membership drives the server-template slots.
# join -> routed; tag change -> weight; serf leave -> drained then not routed; kill -9 ->
# not routed (within memberlist's suspicion bounds).
# Usage: routing_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.3.0/24 (loopback only).
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-170}
. "$SRC/tests/haproxy/lib.sh"

start_ha 127.0.3.1 || { stop_all; finish; exit; }
wait_for "the HAProxy member is up (members.json lists it alive)" 15 eval \
  'curl -sf "http://127.0.3.1:8404/haserf/members.json" | jq -e ".members[] | select(.name == \"haproxy\" and .status == \"alive\")"'

start_backend r1 127.0.3.11 127.0.3.1
start_backend r2 127.0.3.12 127.0.3.1
wait_for "r1 and r2 joined: traffic reaches exactly r1 and r2" 20 routes_exactly "r1 r2"
H=$(hits 12)
[ "$(printf '%s\n' "$H" | awk '$1 == "r1" {print $2}')" -ge 3 ] &&
  [ "$(printf '%s\n' "$H" | awk '$1 == "r2" {print $2}')" -ge 3 ] &&
  pass "roundrobin spreads traffic over both" || fail "roundrobin spreads traffic over both" "$H"
S1=$(slot_of 127.0.3.11)
[ -n "$S1" ] && [ "$(slot_field "$S1" srv_port)" = 3000 ] &&
  pass "r1 has a slot ($S1) with port 3000 from its tag" || fail "r1 has a slot with port 3000" "$(admin show servers state nodes)"

start_backend r3 127.0.3.13 127.0.3.1
wait_for "a third backend joining live is routed to" 20 routes_exactly "r1 r2 r3"
S3=$(slot_of 127.0.3.13)

# Tag change -> weight change.
run rpc 127.0.3.11 tags -set weight=7
expect_rc "serf tags -set weight=7 on r1" 0
wait_for "weight of $S1 becomes 7" 20 eval '[ "$(admin get weight nodes/$S1 | cut -d" " -f1)" = 7 ]'
run rpc 127.0.3.11 tags -delete weight
wait_for "weight of $S1 back to the default (1) once the tag is removed" 20 \
  eval '[ "$(admin get weight nodes/$S1 | cut -d" " -f1)" = 1 ]'

# Graceful leave: drain (HAProxy logs it when the leave intent is seen) then maintenance.
run rpc 127.0.3.12 leave
expect_rc "serf leave on r2" 0
S2=$(admin "show servers state nodes" | awk '$5 == "127.0.3.12" {print $4; exit}')
wait_for "r2's slot ($S2) goes to maintenance after the leave" 20 \
  eval '[ $(( $(slot_field "$S2" srv_admin_state) % 2 )) = 1 ]'
wait_for "r2 is no longer routed to" 10 routes_exactly "r1 r3"
grep -q "member r2 \(leaving\|left\): draining" "$HA/haproxy.log" &&
  pass "r2 was drained before it was put in maintenance" || fail "r2 was drained before it was put in maintenance"
grep -q "nodes/$S2: member r2 \(leaving\|left\), drained: slot freed" "$HA/haproxy.log" &&
  pass "the glue logs r2's slot as freed once drained" || fail "the glue logs r2's slot as freed once drained"
stop_proc r2

# kill -9: failed after suspicion -> maintenance, not routed.
kill9_proc r3
wait_for "r3 (kill -9) is no longer routed to (suspicion bounds)" 40 routes_exactly "r1"
wait_for "r3's slot ($S3) is in maintenance" 5 eval '[ $(( $(slot_field "$S3" srv_admin_state) % 2 )) = 1 ]'
# A new member reuses a freed slot.
start_backend r4 127.0.3.14 127.0.3.1
wait_for "r4 joins and reuses a free slot" 20 routes_exactly "r1 r4"
S4=$(slot_of 127.0.3.14)
case " $S2 $S3 " in *" $S4 "*) pass "r4 took a freed slot ($S4)" ;; *) fail "r4 took a freed slot" "got $S4, freed $S2 $S3" ;; esac
[ "$(slot_of 127.0.3.11)" = "$S1" ] && pass "r1 kept its slot throughout" || fail "r1 kept its slot throughout"

M=$(curl -s --max-time 3 "http://127.0.3.1:8404/haserf/metrics")
expect_contains "no Lua error caught in the glue" "$M" "haserf_glue_errors_total 0"
stop_ha
stop_all
finish
