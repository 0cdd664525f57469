#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Consistent hashing of X-User (examples/policies/chash.{lua,cfg}) with real HAProxy, real serf
# agents and the lab's web apps: the same key always reaches the same member; a join moves keys
# only to the new member (about 1/N of them); a leave moves only the leaving member's keys; the
# no-slot variant (/direct, set-dst) agrees with the slot variant; without X-User the fetch
# returns "" and HAProxy's normal balancing serves (no 5xx).
# Usage: chash_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.8.3, 127.0.8.31-34 (loopback only).
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-280}
. "$SRC/tests/policies/lib.sh"

KEYS=$(seq -f 'user%g' 1 80)
# keymap PATH: "KEY NAME" for every key, one request each.
keymap() {
  local k
  for k in $KEYS; do echo "$k $(ask "${1:-/}" -H "X-User: $k")"; done
}
# moved OLD NEW: "KEY OLDNAME NEWNAME" for the keys whose member changed (same key order).
moved() { paste -d' ' <(echo "$1") <(awk '{print $2}' <<<"$2") | awk '$2 != $3'; }
members_in() { awk '{print $2}' <<<"$1" | sort -u | tr '\n' ' ' | sed 's/ $//'; }

start_policy 127.0.8.3 chash || { stop_all; finish; exit; }
start_backend c1 127.0.8.31 127.0.8.3
start_backend c2 127.0.8.32 127.0.8.3
start_backend c3 127.0.8.33 127.0.8.3
wait_for "c1..c3 are alive and hold a slot" 25 eval \
  'backend_ready c1 127.0.8.31 && backend_ready c2 127.0.8.32 && backend_ready c3 127.0.8.33'
wait_for "without X-User: normal balancing over c1, c2, c3" 15 eval '[ "$(names 12 /)" = "c1 c2 c3" ]'
ask / >/dev/null
[ -z "$(resp_header x-haserf-slot)" ] && pass "without X-User the fetch returns nothing" ||
  fail "without X-User the fetch returns nothing" "x-haserf-slot: $(resp_header x-haserf-slot)"
wait_for "the ring spans c1, c2 and c3" 15 eval '[ "$(members_in "$(keymap)")" = "c1 c2 c3" ]'

A=$(keymap)
printf '%s\n' "$A" | grep -q ' HTTP' && fail "every keyed request is answered" "$(grep ' HTTP' <<<"$A" | head -n 3)" ||
  pass "every keyed request is answered"
echo "# 80 keys over 3 members: $(awk '{print $2}' <<<"$A" | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
ok=1
for k in user1 user2 user3; do
  N=$(names 20 / -H "X-User: $k")
  [ "$N" = "$(awk -v k=$k '$1 == k {print $2}' <<<"$A")" ] || { ok=0; echo "# $k -> $N"; }
done
[ $ok = 1 ] && pass "the same key reaches the same member across 20 requests (3 keys)" ||
  fail "the same key reaches the same member across 20 requests"
[ "$(keymap)" = "$A" ] && pass "the whole key map is stable" || fail "the whole key map is stable"
[ "$(keymap /direct)" = "$A" ] && pass "the no-slot variant (/direct, set-dst) maps every key the same" ||
  fail "the no-slot variant (/direct, set-dst) maps every key the same" "$(diff <(echo "$A") <(keymap /direct) | head)"
ask /direct -H "X-User: user1" >/dev/null
[ -z "$(resp_header x-haserf-slot)" ] && pass "/direct did not go through the slots" || fail "/direct did not go through the slots"

# A join: keys move only to the new member, and most keys stay.
start_backend c4 127.0.8.34 127.0.8.3
wait_for "c4 is alive and holds a slot" 20 backend_ready c4 127.0.8.34
wait_for "the ring includes c4" 15 eval '[ "$(members_in "$(keymap)")" = "c1 c2 c3 c4" ]'
B=$(keymap)
MOVED=$(moved "$A" "$B")
NMOVED=$(grep -c . <<<"$MOVED")
echo "# after c4 joined: $NMOVED of 80 keys moved (expected about 20)"
[ -z "$(awk '$3 != "c4"' <<<"$MOVED")" ] && pass "after a join, keys move only to the new member" ||
  fail "after a join, keys move only to the new member" "$(awk '$3 != "c4"' <<<"$MOVED" | head)"
[ "$NMOVED" -ge 1 ] && [ "$NMOVED" -le 40 ] && pass "after a join, most keys keep their member ($((80 - NMOVED))/80)" ||
  fail "after a join, most keys keep their member" "$NMOVED moved"
[ "$(keymap /direct)" = "$B" ] && pass "the no-slot variant agrees after the join" || fail "the no-slot variant agrees after the join"

# A leave: c2's keys move, the others stay.
ON_C2=$(awk '$2 == "c2"' <<<"$B" | grep -c .)
run rpc 127.0.8.32 leave
expect_rc "serf leave on c2" 0
stop_proc c2
wait_for "c2 is out of the ring" 20 eval '[ "$(members_in "$(keymap)")" = "c1 c3 c4" ]'
C=$(keymap)
MOVED=$(moved "$B" "$C")
[ -z "$(awk '$2 != "c2"' <<<"$MOVED")" ] && pass "after a leave, only the leaving member's keys move" ||
  fail "after a leave, only the leaving member's keys move" "$(awk '$2 != "c2"' <<<"$MOVED" | head)"
[ "$(grep -c . <<<"$MOVED")" = "$ON_C2" ] && pass "after a leave, all $ON_C2 keys of c2 moved to other members" ||
  fail "after a leave, all keys of c2 moved" "$MOVED"
N=$(names 12 /)
[ "$N" = "c1 c3 c4" ] && pass "without X-User: normal balancing over the alive members" || fail "without X-User: normal balancing" "$N"

no_policy_errors
stop_ha
stop_all
finish
