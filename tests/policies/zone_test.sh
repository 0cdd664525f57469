#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Zone affinity (examples/policies/zone-affinity.{lua,cfg}) with real HAProxy, real serf
# agents and the lab's web apps: X-Zone picks a member of that zone (its server-template slot);
# no header or an unknown zone -> this HAProxy's zone "a"; no member in either -> the fetch
# returns "" and HAProxy's normal balancing serves every alive member (no 5xx); a live tag
# change moves the routing.
# Usage: zone_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.8.1, 127.0.8.11-14 (loopback only).
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-280}
. "$SRC/tests/policies/lib.sh"

start_policy 127.0.8.1 zone-affinity || { stop_all; finish; exit; }
start_backend z1 127.0.8.11 127.0.8.1 -tag zone=a
start_backend z2 127.0.8.12 127.0.8.1 -tag zone=b
start_backend z3 127.0.8.13 127.0.8.1 -tag zone=b
start_backend z4 127.0.8.14 127.0.8.1
wait_for "z1..z4 are alive and hold a slot" 25 eval \
  'backend_ready z1 127.0.8.11 && backend_ready z2 127.0.8.12 && backend_ready z3 127.0.8.13 && backend_ready z4 127.0.8.14'

# The fetch sees the slots a tick after the glue set them: wait until zone b is fully routed.
wait_for "X-Zone: b reaches exactly z2 and z3 (zone b)" 15 eval '[ "$(names 30 / -H "X-Zone: b")" = "z2 z3" ]'
T=$(tally 40 / -H "X-Zone: b")
[ "$(count_of z2 "$T")" -ge 5 ] && [ "$(count_of z3 "$T")" -ge 5 ] &&
  pass "zone b's traffic is spread over both of its members" || fail "zone b's traffic is spread over both of its members" "$T"

N=$(names 20 / -H "X-Zone: a")
[ "$N" = z1 ] && pass "X-Zone: a reaches only z1 (20 requests)" || fail "X-Zone: a reaches only z1" "$N"
S1=$(slot_of 127.0.8.11)
R=$(ask / -H "X-Zone: a")
[ "$R" = z1 ] && [ "$(resp_header x-haserf-slot)" = "$S1" ] &&
  pass "the fetch returned z1's slot ($S1)" || fail "the fetch returned z1's slot ($S1)" "$R / $(resp_header x-haserf-slot)"

N=$(names 20 /)
[ "$N" = z1 ] && pass "no X-Zone header: the local zone (a) -> only z1" || fail "no X-Zone header: the local zone (a) -> only z1" "$N"
N=$(names 20 / -H "X-Zone: nowhere")
[ "$N" = z1 ] && pass "an unknown zone falls back to the local zone -> only z1" || fail "an unknown zone falls back to the local zone" "$N"

# Zone a empties: neither the header's zone nor the local zone has a member -> "" -> roundrobin.
run rpc 127.0.8.11 leave
expect_rc "serf leave on z1" 0
stop_proc z1
wait_for "z1 is no longer routed to" 20 eval '! names 12 / -H "X-Zone: a" | grep -qw z1'
T=$(tally 30 / -H "X-Zone: a")
N=$(printf '%s\n' "$T" | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')
[ "$N" = "z2 z3 z4" ] && pass "no member in zone a: normal balancing serves every alive member, no 5xx" ||
  fail "no member in zone a: normal balancing serves every alive member, no 5xx" "$T"
ask / -H "X-Zone: a" >/dev/null
[ -z "$(resp_header x-haserf-slot)" ] && pass "... and the fetch returned nothing" ||
  fail "... and the fetch returned nothing" "x-haserf-slot: $(resp_header x-haserf-slot)"

# A live tag change: z4 moves into zone a.
run rpc 127.0.8.14 tags -set zone=a
expect_rc "serf tags -set zone=a on z4" 0
wait_for "after z4 takes zone=a, X-Zone: a reaches only z4" 20 eval '[ "$(names 20 / -H "X-Zone: a")" = z4 ]'
N=$(names 20 / -H "X-Zone: b")
[ "$N" = "z2 z3" ] && pass "zone b is unchanged" || fail "zone b is unchanged" "$N"

no_policy_errors
stop_ha
stop_all
finish
