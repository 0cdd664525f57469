#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interop: graceful leaves and failures between haserf and the real serf agent.
# Usage: interop_leave_fail.sh HASERF SOURCE_DIR
# Addresses: 127.0.0.63 - 127.0.0.67 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

start_serf l-serf1 127.0.0.63 || { stop_all; finish; exit; }
start_serf l-serf2 127.0.0.64 -join 127.0.0.63:7946
start_serf l-serf3 127.0.0.65 -join 127.0.0.63:7946
start_haserf_agent l-ours 127.0.0.66 --join 127.0.0.63:7946 || { stop_all; finish; exit; }
start_haserf_agent l-ours2 127.0.0.67 --join 127.0.0.64:7946 || { stop_all; finish; exit; }
EV=$TMP/l-ours.events
wait_for "serf sees 5 alive members" 20 is_alive_count 127.0.0.63 5
wait_for "we see l-serf2 and l-serf3 join" 20 eval \
  'has_event "$EV" ".event == \"member-join\" and .member.name == \"l-serf2\"" &&
   has_event "$EV" ".event == \"member-join\" and .member.name == \"l-serf3\""'

# serf leave of a serf agent: member-leave, status left, never failed.
run rpc 127.0.0.65 leave
expect_rc "serf leave (l-serf3) exits 0" 0
wait_for "our events: member-leave for l-serf3" 20 \
  has_event "$EV" '.event == "member-leave" and .member.name == "l-serf3" and .member.status == "left"'
poll 15 eval '! is_running l-serf3' && pass "l-serf3 exited after serf leave" || fail "l-serf3 exited after serf leave"
stop_proc l-serf3
[ "$(ev_count "$EV" '.member.name == "l-serf3" and .event == "member-failed"')" -eq 0 ] &&
  pass "no member-failed for the node that left" || fail "no member-failed for the node that left" "$(cat "$EV")"

# kill -9 of a serf agent: member-failed within memberlist's suspicion bounds.
kill9_proc l-serf2
wait_for "our events: member-failed for l-serf2 (kill -9)" 30 \
  has_event "$EV" '.event == "member-failed" and .member.name == "l-serf2" and .member.status == "failed"'
wait_for "serf agrees: l-serf2 failed" 30 is_status 127.0.0.63 l-serf2 failed
[ "$(ev_count "$EV" '.member.name == "l-serf2" and .event == "member-leave"')" -eq 0 ] &&
  pass "no member-leave for the killed node" || fail "no member-leave for the killed node" "$(cat "$EV")"

# serf force-leave of the failed node: member-leave; then the node comes back (same name and
# address, a fresh process): member-join again, and it is alive everywhere.
run rpc 127.0.0.63 force-leave l-serf2
expect_rc "serf force-leave l-serf2" 0
wait_for "our events: member-leave for the force-left node" 20 \
  has_event "$EV" '.event == "member-leave" and .member.name == "l-serf2" and .member.status == "left"'
mv "$TMP/l-serf2.log" "$TMP/l-serf2-run1.log"
start_serf l-serf2 127.0.0.64 -join 127.0.0.66:7946 &&
  pass "restarted l-serf2 joins through us" || fail "restarted l-serf2 joins through us"
wait_for "our events: member-join again for the restarted l-serf2" 20 eval \
  '[ "$(ev_count "$EV" ".event == \"member-join\" and .member.name == \"l-serf2\"")" -eq 2 ]'
wait_for "l-serf1 sees the restarted l-serf2 alive" 20 is_status 127.0.0.63 l-serf2 alive
wait_for "the restarted l-serf2 sees us alive" 20 is_status 127.0.0.64 l-ours alive

# Our graceful leave on SIGTERM: serf shows us left (never failed), and we exit 0 promptly.
PID=${PID_OF[l-ours]}
kill -TERM "$PID"
wait_for "after SIGTERM serf shows us left" 10 is_status 127.0.0.63 l-ours left
poll 15 eval '! _it_alive "$PID"' && pass "our agent exits within 15 s of SIGTERM" ||
  fail "our agent exits within 15 s of SIGTERM" "$(tail -n 5 "$TMP/l-ours.log")"
stop_proc l-ours 5
[ "$STOP_RC" -eq 0 ] && pass "our agent exits 0 after SIGTERM" || fail "our agent exits 0 after SIGTERM" "exit $STOP_RC"
grep -q 'EventMemberFailed: l-ours' "$TMP/l-serf1.log" &&
  fail "serf never marks us failed" "$(grep 'l-ours' "$TMP/l-serf1.log")" || pass "serf never marks us failed"
grep -q 'EventMemberLeave: l-ours ' "$TMP/l-serf1.log" && pass "serf logs EventMemberLeave for us" ||
  fail "serf logs EventMemberLeave for us" "$(grep 'l-ours' "$TMP/l-serf1.log")"
[ "$(tail -n 1 "$EV" | jq -r '.event + " " + .member.name' 2>/dev/null)" = "member-leave l-ours" ] &&
  pass "our last event is our own member-leave" || fail "our last event is our own member-leave" "$(tail -n 3 "$EV")"

# We come back under the same name (a fresh process, clocks and incarnation from zero): serf
# still holds our "left" state, so we must refute it and rejoin.
mv "$TMP/l-ours.events" "$TMP/l-ours-run1.events"
mv "$TMP/l-ours.log" "$TMP/l-ours-run1.log"
start_haserf_agent l-ours 127.0.0.66 --join 127.0.0.63:7946 || true
EV=$TMP/l-ours.events
wait_for "restarted: serf shows us alive again" 20 is_status 127.0.0.63 l-ours alive
wait_for "restarted: the other serf agent agrees" 20 is_status 127.0.0.64 l-ours alive
sleep 3
is_status 127.0.0.63 l-ours alive && pass "restarted: still alive 3 s later" ||
  fail "restarted: still alive 3 s later" "$(serf_members 127.0.0.63)"
stop_proc l-ours 15
[ "$STOP_RC" -eq 0 ] && pass "restarted: SIGTERM, exit 0" || fail "restarted: SIGTERM, exit 0" "exit $STOP_RC"
wait_for "restarted: serf shows us left again" 10 is_status 127.0.0.63 l-ours left

# SIGINT does the same (the second agent, joined through l-serf2 which has since died).
PID=${PID_OF[l-ours2]}
kill -INT "$PID"
wait_for "after SIGINT serf shows l-ours2 left" 10 is_status 127.0.0.63 l-ours2 left
poll 15 eval '! _it_alive "$PID"' && pass "l-ours2 exits within 15 s of SIGINT" ||
  fail "l-ours2 exits within 15 s of SIGINT" "$(tail -n 5 "$TMP/l-ours2.log")"
stop_proc l-ours2 5
[ "$STOP_RC" -eq 0 ] && pass "l-ours2 exits 0 after SIGINT" || fail "l-ours2 exits 0 after SIGINT" "exit $STOP_RC"
wait_for "only the two serf agents are still alive" 10 is_alive_count 127.0.0.63 2

serf_logs_clean 'l-serf2-run1|127\.0\.0\.64|Refuting a suspect message \(from: l-serf2\)'
stop_all
finish
