#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# haserf agent --event-handler, against serf agent -event-handler as the oracle: filters,
# serf's environment and stdin, coalesced member events, query responses from a handler's
# output, a slow handler that does not stall gossip, bounded shutdown.
# Usage: agent_handlers.sh HASERF SOURCE_DIR
# Addresses: 127.0.17.1 - 127.0.17.4 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

# One script for both agents: what it was told, then stdin, then a separator.
cat >"$TMP/log.sh" <<'SH'
#!/bin/sh
{ echo "EVENT=$SERF_EVENT SELF=$SERF_SELF_NAME ROLE=$SERF_SELF_ROLE ZONE=$SERF_TAG_ZONE MYTAG=$SERF_TAG_MY_TAG USER=$SERF_USER_EVENT LTIME=$SERF_USER_LTIME QUERY=$SERF_QUERY_NAME"
  cat; echo "--"; } >>"$1"
SH
chmod +x "$TMP/log.sh"
OURS=$TMP/ours-handler.log
SERFS=$TMP/serf-handler.log

start_serf h-serf1 127.0.17.1 -tag role=web -tag weight=5 \
  -event-handler "user:deploy=$TMP/log.sh $SERFS" -event-handler "query:whoami=cat >/dev/null; echo serf here" ||
  { stop_all; finish; exit; }
start_haserf_agent h-ours 127.0.17.2 --join 127.0.17.1:7946 --tag role=lb --tag zone=z1 \
  --tag my-tag=x \
  --event-handler "member-join,member-leave,member-failed=$TMP/log.sh $OURS" \
  --event-handler "user:deploy=$TMP/log.sh $OURS" \
  --event-handler "user:slow=sleep 6" \
  --event-handler "query:whoami=echo \"hello from \$SERF_SELF_NAME: \$(cat)\"" \
  --event-handler "query:fail=echo no; exit 3" || { stop_all; finish; exit; }

# (a) member-join, coalesced: one run with both members (serf's 1 s quiet / 3 s at most).
wait_for "member-join handler ran" 10 grep -q "EVENT=member-join" "$OURS"
sleep 1
[ "$(grep -c "EVENT=member-join" "$OURS")" = 1 ] && pass "the two joins were coalesced into one run" ||
  fail "the two joins were coalesced into one run" "$(cat "$OURS")"
expect_contains "env: self name, role, tags (my-tag -> SERF_TAG_MY_TAG)" "$(cat "$OURS")" \
  "EVENT=member-join SELF=h-ours ROLE=lb ZONE=z1 MYTAG=x"
expect_contains "stdin: serf's line for h-serf1 (NAME ADDR ROLE TAGS, tab-separated)" "$(cat "$OURS")" \
  "$(printf 'h-serf1\t127.0.17.1\tweb\trole=web,weight=5')"
expect_contains "stdin: our own line" "$(cat "$OURS")" "$(printf 'h-ours\t127.0.17.2\tlb\tmy-tag=x,role=lb,zone=z1')"

# (b) user events: the filter, the environment and stdin, compared with serf's own run.
run rpc 127.0.17.1 event deploy v2
run rpc 127.0.17.1 event other v3
wait_for "user:deploy handler ran here and in serf" 10 \
  eval 'grep -q "EVENT=user" "$OURS" && grep -q "EVENT=user" "$SERFS"'
OUR_RUN=$(sed -n '/EVENT=user/,/^--$/p' "$OURS" | sed 's/SELF=[^ ]* ROLE=[^ ]* ZONE=[^ ]* MYTAG=[^ ]* //')
SERF_RUN=$(sed -n '/EVENT=user/,/^--$/p' "$SERFS" | sed 's/SELF=[^ ]* ROLE=[^ ]* ZONE=[^ ]* MYTAG=[^ ]* //')
[ -n "$OUR_RUN" ] && [ "$OUR_RUN" = "$SERF_RUN" ] && pass "user event: same environment and stdin as serf's handler" ||
  fail "user event: same environment and stdin as serf's handler" "ours: $OUR_RUN / serf: $SERF_RUN"
sleep 2
grep -q "USER=other" "$OURS" && fail "user:deploy does not run for 'other'" || pass "user:deploy does not run for 'other'"

# (c) queries: a handler's output is our response; a failing handler sends none.
run rpc 127.0.17.1 query -format=json -timeout 3s whoami ping
expect_rc "serf query whoami exits 0" 0
[ "$(jq -r '.Responses["h-ours"]' <<<"$OUT" 2>/dev/null)" = "hello from h-ours: ping" ] &&
  pass "serf query shows haserf's response (the handler's output)" ||
  fail "serf query shows haserf's response (the handler's output)" "$OUT"
[ "$(jq -r '.Responses["h-serf1"]' <<<"$OUT" 2>/dev/null)" = "serf here" ] &&
  pass "and serf's own" || fail "and serf's own" "$OUT"
run rpc 127.0.17.1 query -format=json -timeout 2s fail
[ "$(jq -r '.Acks | index("h-ours") != null' <<<"$OUT" 2>/dev/null)" = true ] &&
  pass "query fail: acked by haserf" || fail "query fail: acked by haserf" "$OUT"
[ "$(jq -r '.Responses["h-ours"] // "none"' <<<"$OUT" 2>/dev/null)" = none ] &&
  pass "query fail: no response from a handler that exits 3" || fail "query fail: no response" "$OUT"
wait_for "the failing handler is logged with its exit code" 5 grep -q "handler 'echo no; exit 3' for query:fail: exit 3" "$TMP/h-ours.log"

# haserf query shows the same answers as serf query.
run timeout 30 "$HASERF" query --join 127.0.17.1:7946 --bind 127.0.17.4:7946 --node h-asker \
  --query-timeout 3s --format json whoami ping
expect_rc "haserf query exits 0" 0
[ "$(jq -r '.Responses["h-ours"] + "|" + .Responses["h-serf1"]' <<<"$OUT" 2>/dev/null)" = "hello from h-ours: ping
|serf here" ] &&
  pass "haserf query: both responses, as serf query shows them" || fail "haserf query: both responses" "$OUT $ERR"
[ "$(jq -r '.Acks | sort | join(",")' <<<"$OUT" 2>/dev/null)" = "h-ours,h-serf1" ] &&
  pass "haserf query: acks from both members (not from itself)" || fail "haserf query: acks from both members" "$OUT"
run timeout 30 "$HASERF" query --join 127.0.17.1:7946 --bind 127.0.17.4:7946 --node h-asker2 \
  --query-timeout 2s --node-filter h-serf1 whoami x
expect_contains "haserf query --node-filter: only h-serf1 answers" "$OUT" "Response from 'h-serf1': serf here"
case "$OUT" in *"h-ours"*) fail "haserf query --node-filter: h-ours stays silent" "$OUT" ;;
  *) pass "haserf query --node-filter: h-ours stays silent" ;; esac
expect_contains "haserf query: serf's text lines" "$OUT" "Total Responses: 1"

# (d) a slow handler: gossip goes on, other events queue behind it.
run rpc 127.0.17.1 event slow x
start_serf h-serf2 127.0.17.3 -join 127.0.17.1:7946
sleep 3
is_status 127.0.17.1 h-ours alive && pass "while a handler sleeps, the member stays alive" ||
  fail "while a handler sleeps, the member stays alive" "$(serf_members 127.0.17.1)"
wait_for "h-serf2's join runs after the slow handler" 15 grep -q "$(printf 'h-serf2\t127.0.17.3')" "$OURS"
rpc 127.0.17.3 leave >/dev/null 2>&1  # a graceful leave (TERM alone is a failure for serf)
stop_proc h-serf2
wait_for "member-leave handler ran for h-serf2" 15 eval 'sed -n "/EVENT=member-leave/,/^--$/p" "$OURS" | grep -q h-serf2'
grep -qE 'Suspect h-ours|EventMemberFailed: h-ours' "$TMP/h-serf1.log" &&
  fail "serf never suspected haserf" || pass "serf never suspected haserf"

# (e) shutdown with a handler still running: bounded, summary on stderr.
run rpc 127.0.17.1 event slow y
sleep 1
T0=$(date +%s)
stop_proc h-ours 20
[ "$STOP_RC" = 0 ] && pass "SIGTERM during a slow handler: exit 0" || fail "SIGTERM during a slow handler: exit 0" "rc=$STOP_RC"
[ $(($(date +%s) - T0)) -le 12 ] && pass "SIGTERM during a slow handler: done within 12 s" ||
  fail "SIGTERM during a slow handler: done within 12 s"
expect_contains "a summary of the handler runs" "$(cat "$TMP/h-ours.log")" "event handlers:"
# Exactly the handler's command ("sleep 6", "sh -c sleep 6"), not another test's "sleep 610".
pgrep -f '(^| )sleep 6$' >/dev/null && fail "no handler process left behind" "$(pgrep -af '(^| )sleep 6$')" ||
  pass "no handler process left behind"

# (f) usage errors.
run timeout 5 "$HASERF" agent --bind 127.0.17.4:7946 --event-handler "member-joined=true"
expect_rc "an unknown event type: usage error" 2
expect_contains "the error lists the event types" "$ERR" "unknown event type 'member-joined'"
run timeout 5 "$HASERF" agent --bind 127.0.17.4:7946 --event-handler "user:x="
expect_rc "an empty script: usage error" 2
# serf's RPC server logs a client (the serf CLI) that hung up on a query stream.
serf_logs_clean 'agent.ipc: Failed to stream'
stop_all
finish
