#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# haserf agent --snapshot / --rejoin against real serf agents, with serf's semantics:
# killed (no leave), a restart with no join list rejoins the members it knew and does not get
# the user events it saw before again; after a graceful leave a restart stays alone, unless
# --rejoin (serf's -rejoin ignores the leave: checked on a real serf agent too). Our reader
# also takes a snapshot file a real serf agent wrote.
# Usage: agent_snapshot.sh HASERF SOURCE_DIR
# Addresses: 127.0.33.1 - 127.0.33.5 (loopback only; the unit tests use 127.0.33.21-29).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

SNAP=$TMP/h.snap

# start_h LABEL [args...]: haserf agent "h" on 127.0.33.3 with --snapshot $SNAP; each run logs
# to $TMP/LABEL.log (stderr) and $TMP/LABEL.events (stdout).
start_h() {
  local label=$1
  shift
  "$HASERF" agent --bind 127.0.33.3:7946 --node h --snapshot "$SNAP" "$@" \
    >"$TMP/$label.events" 2>"$TMP/$label.log" </dev/null &
  PID_OF[$label]=$!
  ALL_PIDS+=("$!")
  if ! poll 20 grep -q "listening on" "$TMP/$label.log"; then
    fail "haserf agent h ($label) starts" "$(tail -n 5 "$TMP/$label.log")"
    return 1
  fi
}
# The last record of our snapshot, clock lines aside.
last_record() { grep -v '^clock: ' "$SNAP" | tail -n 1; }
# stays_status IP NODE STATUS SECONDS: NODE keeps STATUS the whole time.
stays_status() {
  local end=$(($(date +%s) + $4))
  while [ "$(date +%s)" -lt "$end" ]; do
    [ "$(serf_status "$1" "$2")" = "$3" ] || return 1
    sleep 0.5
  done
}

start_serf s1 127.0.33.1 -snapshot "$TMP/s1.snap" || { stop_all; finish; exit; }
start_serf s2 127.0.33.2 -join 127.0.33.1 || { stop_all; finish; exit; }
start_h run1 --join 127.0.33.1 || { stop_all; finish; exit; }
wait_for "h joins the serf cluster" 20 is_status 127.0.33.1 h alive
wait_for "the snapshot records the members alive, in serf's format" 10 \
  bash -c "grep -qx 'alive: s1 127.0.33.1:7946' '$SNAP' && grep -qx 'alive: s2 127.0.33.2:7946' '$SNAP'"
wait_for "... and the member clock" 5 grep -q '^clock: [0-9]*$' "$SNAP"
rpc 127.0.33.1 event deploy v1 >/dev/null
wait_for "h gets the user event" 10 has_event "$TMP/run1.events" '.event == "user" and .payload == "v1"'
wait_for "... and records its LTime (event-clock)" 5 grep -q '^event-clock: [0-9]*$' "$SNAP"

# Killed: no leave, serf marks h failed.
kill9_proc run1
wait_for "h killed with SIGKILL: serf sees it failed" 40 is_status 127.0.33.1 h failed
start_h run2 --rejoin || { stop_all; finish; exit; }
wait_for "restarted with no join list: h rejoins from its snapshot" 20 is_status 127.0.33.1 h alive
wait_for "it logs how many previous members answered" 5 \
  grep -Eq "snapshot: rejoined [12] of 2 previous members" "$TMP/run2.log"
sleep 2
[ "$(ev_count "$TMP/run2.events" '.event == "user"')" = 0 ] &&
  pass "the event seen before the crash is not delivered again (event clock restored)" ||
  fail "the event seen before the crash is not delivered again (event clock restored)" \
    "$(grep '"user"' "$TMP/run2.events")"
rpc 127.0.33.1 event deploy v2 >/dev/null
wait_for "a new event is delivered" 10 has_event "$TMP/run2.events" '.event == "user" and .payload == "v2"'
grep -q "(skipped)" "$TMP/run2.log" && fail "our own snapshot replays without a warning" "$(grep skipped "$TMP/run2.log")" ||
  pass "our own snapshot replays without a warning"

# A real serf agent's snapshot (written while it runs): replayed and rejoined by haserf.
cp "$TMP/s1.snap" "$TMP/from-serf.snap"
"$HASERF" agent --bind 127.0.33.5:7946 --node hs --snapshot "$TMP/from-serf.snap" \
  >"$TMP/hs.events" 2>"$TMP/hs.log" </dev/null &
PID_OF[hs]=$!
ALL_PIDS+=("$!")
wait_for "a haserf agent given serf's own snapshot file rejoins its members" 20 is_status 127.0.33.1 hs alive
wait_for "... logging the rejoin" 5 grep -Eq "snapshot: rejoined [1-9][0-9]* of [0-9]+ previous members" "$TMP/hs.log"
grep -q "(skipped)" "$TMP/hs.log" && fail "serf's file has no line our reader refuses" "$(grep skipped "$TMP/hs.log")" ||
  pass "serf's file has no line our reader refuses"
stop_proc hs

# Graceful leave (SIGTERM): the snapshot ends with a leave; a restart does not rejoin.
stop_proc run2
[ "$STOP_RC" = 0 ] && pass "SIGTERM: h leaves and exits 0" || fail "SIGTERM: h leaves and exits 0" "exit $STOP_RC"
wait_for "serf sees h left" 15 is_status 127.0.33.1 h left
[ "$(last_record)" = leave ] && pass "the snapshot's last record is 'leave'" ||
  fail "the snapshot's last record is 'leave'" "$(tail -n 5 "$SNAP")"
start_h run3 || { stop_all; finish; exit; }
wait_for "restarted after a graceful leave: it says it does not rejoin" 5 \
  grep -q "left the cluster gracefully: no rejoin" "$TMP/run3.log"
stays_status 127.0.33.1 h left 5 && pass "... and stays out of the cluster" ||
  fail "... and stays out of the cluster" "status $(serf_status 127.0.33.1 h)"
stop_proc run3

# serf's -rejoin ignores the leave (RejoinAfterLeave): same for ours...
start_h run4 --rejoin || { stop_all; finish; exit; }
wait_for "with --rejoin, the previous leave is ignored and h rejoins" 20 is_status 127.0.33.1 h alive
grep -q "ignoring the previous leave" "$TMP/run4.log" && pass "... which it logs" ||
  fail "... which it logs" "$(grep snapshot "$TMP/run4.log")"
stop_proc run4
wait_for "h left again" 15 is_status 127.0.33.1 h left

# ...as on a real serf agent (the reference for both behaviours).
start_serf s3 127.0.33.4 -snapshot "$TMP/s3.snap" -join 127.0.33.1 || { stop_all; finish; exit; }
wait_for "serf s3 joins" 15 is_status 127.0.33.1 s3 alive
rpc 127.0.33.4 leave >/dev/null 2>&1
wait_for "serf s3 leaves gracefully" 15 is_status 127.0.33.1 s3 left
stop_proc s3
start_serf s3 127.0.33.4 -snapshot "$TMP/s3.snap" || { stop_all; finish; exit; }
stays_status 127.0.33.1 s3 left 5 && pass "serf: after a leave, a restart with -snapshot stays out" ||
  fail "serf: after a leave, a restart with -snapshot stays out" "status $(serf_status 127.0.33.1 s3)"
stop_proc s3
start_serf s3 127.0.33.4 -snapshot "$TMP/s3.snap" -rejoin || { stop_all; finish; exit; }
wait_for "serf: with -rejoin it rejoins after the leave" 20 is_status 127.0.33.1 s3 alive

# Only about the member killed with SIGKILL (h, 127.0.33.3), or s3 refuting its own leave.
serf_logs_clean '127\.0\.33\.3:|[ (]h[ ,)]|Refuting a dead message \(from: s3\)'
stop_all
finish
