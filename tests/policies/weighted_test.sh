#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Weighted random over the `weight` tag without slots (examples/policies/weighted.{lua,cfg}):
# set-dst/set-dst-port to the picked member through `server any 0.0.0.0:0`, with real HAProxy,
# real serf agents and the lab's web apps. weight=0 never receives traffic, no tag = weight 1,
# a heavier member receives more; live tag changes apply; when no member matches (/beta with no
# track=beta member) the fetch returns "" and the slot backend's normal balancing serves.
# Usage: weighted_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.8.2, 127.0.8.21-24 (loopback only).
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-280}
. "$SRC/tests/policies/lib.sh"

start_policy 127.0.8.2 weighted || { stop_all; finish; exit; }
start_backend w1 127.0.8.21 127.0.8.2 -tag weight=3
start_backend w2 127.0.8.22 127.0.8.2 -tag weight=1
start_backend w3 127.0.8.23 127.0.8.2 -tag weight=0
start_backend w4 127.0.8.24 127.0.8.2
wait_for "w1..w4 are alive and hold a slot" 25 eval \
  'backend_ready w1 127.0.8.21 && backend_ready w2 127.0.8.22 && backend_ready w3 127.0.8.23 && backend_ready w4 127.0.8.24'
wait_for "traffic reaches w1, w2 and w4" 15 eval '[ "$(names 60 /)" = "w1 w2 w4" ]'

R=$(ask /)
[ "$(resp_header x-haserf-backend)" = direct ] && pass "the request went through backend direct (set-dst)" ||
  fail "the request went through backend direct (set-dst)" "$R; x-haserf-backend: $(resp_header x-haserf-backend)"
# 200 draws with weights 3:1:0:1 (expected 120/40/0/40). The order checks below fail by chance
# with a probability far below 1e-9.
T=$(tally 200 /)
echo "# 200 requests, weights w1=3 w2=1 w3=0 w4=(none): $(echo $T)"
[ "$(count_of w3 "$T")" = 0 ] && pass "weight=0 (w3) never receives traffic" || fail "weight=0 (w3) never receives traffic" "$T"
[ "$(printf '%s\n' "$T" | grep -c '^HTTP')" = 0 ] && pass "no error answer in 200 requests" ||
  fail "no error answer in 200 requests" "$T"
[ "$(count_of w1 "$T")" -gt "$(count_of w2 "$T")" ] && [ "$(count_of w1 "$T")" -gt "$(count_of w4 "$T")" ] &&
  pass "weight=3 (w1) receives more than weight=1 (w2) and no tag (w4)" || fail "weight=3 (w1) receives more than w2 and w4" "$T"
[ "$(count_of w4 "$T")" -ge 10 ] && pass "no weight tag (w4) counts as weight 1" || fail "no weight tag (w4) counts as weight 1" "$T"

# Live tag changes.
run rpc 127.0.8.23 tags -set weight=2
expect_rc "serf tags -set weight=2 on w3" 0
wait_for "w3 receives traffic once its weight is 2" 20 eval 'names 60 / | grep -qw w3'
run rpc 127.0.8.21 tags -set weight=0
expect_rc "serf tags -set weight=0 on w1" 0
wait_for "w1 no longer receives traffic once its weight is 0" 20 eval '[ "$(names 60 /)" = "w2 w3 w4" ]'

# No member matches: /beta selects role=backend;track=beta and nobody has that tag.
T=$(tally 20 /beta)
N=$(printf '%s\n' "$T" | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')
case " $N " in
  *HTTP*) fail "no member matches: the fallback serves every request (no 5xx)" "$T" ;;
  *) [ -n "$N" ] && pass "no member matches: the fallback serves every request (no 5xx): $N" ||
       fail "no member matches: the fallback serves every request" "$T" ;;
esac
ask /beta >/dev/null
[ "$(resp_header x-haserf-backend)" = nodes ] && pass "... through backend nodes (the fetch returned nothing)" ||
  fail "... through backend nodes (the fetch returned nothing)" "x-haserf-backend: $(resp_header x-haserf-backend)"
run rpc 127.0.8.22 tags -set track=beta
expect_rc "serf tags -set track=beta on w2" 0
wait_for "/beta reaches only w2 once it is tagged track=beta" 20 eval '[ "$(names 20 /beta)" = w2 ]'
ask /beta >/dev/null
[ "$(resp_header x-haserf-backend)" = direct ] && pass "... through backend direct" ||
  fail "... through backend direct" "x-haserf-backend: $(resp_header x-haserf-backend)"

# A member leaving is no longer picked.
run rpc 127.0.8.24 leave
expect_rc "serf leave on w4" 0
stop_proc w4
wait_for "w4 is no longer picked after its leave" 20 eval '[ "$(names 60 /)" = "w2 w3" ]'

no_policy_errors
stop_ha
stop_all
finish
