#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# haserf agent --retry-join: seeds down at start are joined once they come up; --retry-max
# gives up with exit 1; flags are checked.
# Usage: agent_retry_join.sh HASERF SOURCE_DIR
# Addresses: 127.0.15.1 - 127.0.15.4 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

# The seed is down when the agent starts; it comes up 3 s later.
start_haserf_agent rj-ours 127.0.15.2 --retry-join 127.0.15.1:7946 --retry-interval 1s ||
  { stop_all; finish; exit; }
sleep 3
grep -q "retry-join: attempt 1 failed" "$TMP/rj-ours.log" && pass "a failed attempt is logged, with the next one" ||
  fail "a failed attempt is logged, with the next one" "$(cat "$TMP/rj-ours.log")"
start_serf rj-serf 127.0.15.1 || { stop_all; finish; exit; }
wait_for "once the seed is up, the agent joins it" 15 is_status 127.0.15.1 rj-ours alive
wait_for "the successful attempt is logged" 5 grep -q "retry-join: attempt [0-9]* joined 1" "$TMP/rj-ours.log"
N=$(grep -c "retry-join: attempt" "$TMP/rj-ours.log")
sleep 3
[ "$(grep -c "retry-join: attempt" "$TMP/rj-ours.log")" = "$N" ] && pass "no attempt after the join" ||
  fail "no attempt after the join" "$(grep retry-join "$TMP/rj-ours.log")"
stop_proc rj-ours

# --retry-max: gives up and exits 1.
T0=$(date +%s)
run timeout 20 "$HASERF" agent --bind 127.0.15.3:7946 --node rj-max --retry-join 127.0.15.4:7946 \
  --retry-interval 500ms --retry-max 3 --rpc-addr off
expect_rc "--retry-max 3: exit 1 once the 3 attempts failed" 1
[ $(($(date +%s) - T0)) -le 6 ] && pass "--retry-max 3 at 500ms: gives up within 6 s" || fail "--retry-max 3 at 500ms: gives up within 6 s"
expect_contains "--retry-max: says it gives up" "$ERR" "attempt 3 of 3 failed"

# Usage errors.
run timeout 5 "$HASERF" agent --bind 127.0.15.3:7946 --retry-max 3
expect_rc "--retry-max without --retry-join: usage error" 2
run timeout 5 "$HASERF" agent --bind 127.0.15.3:7946 --retry-join 127.0.15.4 --retry-interval soon
expect_rc "--retry-interval soon: usage error" 2
run timeout 5 "$HASERF" agent --bind 127.0.15.3:7946 --retry-join 127.0.15.4:notaport
expect_rc "a malformed --retry-join address: usage error (exit 2)" 2
expect_contains "the error names the address" "$ERR" "join address '127.0.15.4:notaport'"
serf_logs_clean 'Failed to join|rj-max'
stop_all
finish
