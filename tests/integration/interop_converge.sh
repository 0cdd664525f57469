#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interop: 10 real serf agents plus our agent converge on the same 11 alive members.
# Usage: interop_converge.sh HASERF SOURCE_DIR
# Addresses: 127.0.0.73 - 127.0.0.83 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

start_serf c-serf01 127.0.0.73 -tag idx=1 || { stop_all; finish; exit; }
for i in $(seq 2 10); do
  start_serf_bg "c-serf$(printf %02d "$i")" "127.0.0.$((72 + i))" -tag "idx=$i" -join 127.0.0.73:7946
done
for i in $(seq 2 10); do
  poll 30 rpc "127.0.0.$((72 + i))" members ||
    fail "serf agent c-serf$(printf %02d "$i") starts" "$(tail -n 5 "$TMP/c-serf$(printf %02d "$i").log")"
done
# Ours joins a serf agent that is not the seed: it must learn everyone from push/pull + gossip.
start_haserf_agent c-ours 127.0.0.83 --tag role=lb --join 127.0.0.78:7946 || { stop_all; finish; exit; }
EV=$TMP/c-ours.events

for ip in 127.0.0.73 127.0.0.77 127.0.0.82; do
  wait_for "serf agent on $ip sees 11 alive members" 45 is_alive_count "$ip" 11
done
for ip in 127.0.0.73 127.0.0.82; do
  is_status "$ip" c-ours alive && pass "serf agent on $ip sees us alive" || fail "serf agent on $ip sees us alive"
done
joined() { [ "$(jq -r 'select(.event == "member-join") | .member.name' "$EV" | sort -u | grep -c '^c-serf')" -eq 10 ]; }
wait_for "our events: member-join for all 10 serf agents" 45 joined
N=$(jq -r 'select(.event == "member-join" and (.member.name | startswith("c-serf"))) | .member.name' "$EV" | sort | uniq -d)
[ -z "$N" ] && pass "no duplicate member-join" || fail "no duplicate member-join" "$N"

run timeout 40 "$HASERF" members --join 127.0.0.83:7946 --bind 127.0.0.83:17946 --node c-probe1 --format json
expect_rc "haserf members via our agent exits 0" 0
[ "$(jq '[.members[] | select(.status == "alive")] | length' <<<"$OUT" 2>/dev/null)" = 11 ] &&
  pass "our agent's view (pushed to haserf members): 11 alive" ||
  fail "our agent's view (pushed to haserf members): 11 alive" "$OUT $ERR"
run timeout 40 "$HASERF" members --join 127.0.0.80:7946 --bind 127.0.0.80:17946 --node c-probe2 --format json
expect_rc "haserf members via a serf agent exits 0" 0
[ "$(jq '[.members[] | select(.status == "alive")] | length' <<<"$OUT" 2>/dev/null)" = 11 ] &&
  pass "haserf members --join a serf agent: 11 alive" ||
  fail "haserf members --join a serf agent: 11 alive" "$OUT $ERR"
IDX=$(jq -r '[.members[] | .tags.idx // empty] | map(tonumber) | sort | map(tostring) | join(",")' <<<"$OUT" 2>/dev/null)
[ "$IDX" = "1,2,3,4,5,6,7,8,9,10" ] && pass "all 10 serf agents' tags listed" || fail "all 10 serf agents' tags listed" "$IDX"

# Still converged (the probes left gracefully, nobody was marked failed).
wait_for "serf: the probes are left, 11 alive" 15 eval \
  'is_alive_count 127.0.0.75 11 && is_status 127.0.0.75 c-probe1 left && is_status 127.0.0.75 c-probe2 left'
[ "$(ev_count "$EV" '.event == "member-failed"')" -eq 0 ] && pass "no member-failed in our events" ||
  fail "no member-failed in our events" "$(jq -c 'select(.event == "member-failed")' "$EV")"
F=$(grep -l 'EventMemberFailed' "$TMP"/c-serf*.log 2>/dev/null)
[ -z "$F" ] && pass "no serf agent saw a failure" || fail "no serf agent saw a failure" "$(grep -h EventMemberFailed $F)"

serf_logs_clean
stop_all
finish
