#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interop: tags and tag updates between haserf and the real serf agent.
# Usage: interop_tags.sh HASERF SOURCE_DIR
# Addresses: 127.0.0.60 - 127.0.0.62 (loopback only).
#
# Ours to theirs live: `haserf agent --tags-file F` re-reads F on SIGHUP and gossips the change.
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

start_serf t-serf 127.0.0.61 -tag role=web -tag weight=10 || { stop_all; finish; exit; }
TAGS_FILE=$TMP/t-ours.tags
printf '# no extra tags yet\n' >"$TAGS_FILE"
start_haserf_agent t-ours 127.0.0.62 --tag role=lb --tag dc=east --tag "note=a b=c" \
  --tags-file "$TAGS_FILE" --join 127.0.0.61:7946 || { stop_all; finish; exit; }
EV=$TMP/t-ours.events

# Ours to theirs: initial tags.
wait_for "serf sees our node alive" 20 is_status 127.0.0.61 t-ours alive
T=$(serf_members 127.0.0.61 | jq -c '.members[] | select(.name == "t-ours") | .tags')
[ "$T" = '{"dc":"east","note":"a b=c","role":"lb"}' ] && pass "serf sees exactly our --tag values" ||
  fail "serf sees exactly our --tag values" "$T"

# Theirs to ours: initial tags, then updates through `serf tags`.
wait_for "member-join for t-serf with its tags" 20 \
  has_event "$EV" '.event == "member-join" and .member.name == "t-serf" and .member.tags == {"role":"web","weight":"10"}'

run rpc 127.0.0.61 tags -set weight=50
expect_rc "serf tags -set weight=50" 0
wait_for "member-update for t-serf with weight=50" 20 \
  has_event "$EV" '.event == "member-update" and .member.name == "t-serf" and .member.tags.weight == "50" and .member.tags.role == "web"'
U=$(jq -c 'select(.event == "member-update" and .member.name == "t-serf" and .member.tags.weight == "50") | .member' "$EV" | head -n 1)
[ "$(jq -r .status <<<"$U")" = alive ] && pass "member-update: still alive" || fail "member-update: still alive" "$U"
[ "$(ev_count "$EV" '.event == "member-update" and .member.name == "t-serf" and .member.tags.weight == "50"')" -eq 1 ] &&
  pass "one member-update for one tag change" ||
  fail "one member-update for one tag change" "$(cat "$EV")"

run rpc 127.0.0.61 tags -set weight=0 -set new=1 -delete role
expect_rc "serf tags -set weight=0 -set new=1 -delete role" 0
wait_for "member-update reflects set + delete" 20 \
  has_event "$EV" '.event == "member-update" and .member.name == "t-serf" and .member.tags == {"new":"1","weight":"0"}'

# A serf agent that joins through us learns both nodes' current tags from our push/pull.
start_serf t-serf2 127.0.0.60 -join 127.0.0.62:7946
wait_for "a serf agent joining through us sees t-serf's updated tags" 20 \
  eval '[ "$(serf_members 127.0.0.60 | jq -c ".members[] | select(.name == \"t-serf\") | .tags")" = "{\"new\":\"1\",\"weight\":\"0\"}" ]'
[ "$(serf_members 127.0.0.60 | jq -c '.members[] | select(.name == "t-ours") | .tags')" = '{"dc":"east","note":"a b=c","role":"lb"}' ] &&
  pass "... and our tags" || fail "... and our tags" "$(serf_members 127.0.0.60)"
run timeout 40 "$HASERF" members --join 127.0.0.62:7946 --bind 127.0.0.62:17946 --node t-probe --format json
expect_rc "haserf members through our agent exits 0" 0
[ "$(jq -c '.members[] | select(.name == "t-serf") | .tags' <<<"$OUT" 2>/dev/null)" = '{"new":"1","weight":"0"}' ] &&
  pass "our agent serves the updated serf tags in push/pull" ||
  fail "our agent serves the updated serf tags in push/pull" "$OUT $ERR"
[ "$(jq -c '.members[] | select(.name == "t-ours") | .tags' <<<"$OUT" 2>/dev/null)" = '{"dc":"east","note":"a b=c","role":"lb"}' ] &&
  pass "our agent serves its own tags in push/pull" ||
  fail "our agent serves its own tags in push/pull" "$OUT"
is_status 127.0.0.61 t-ours alive && pass "our node still alive at serf" || fail "our node still alive at serf"

# Our live tag change: the file overrides --tag values; serf sees an update.
printf 'dc=west\nweight=5   # a comment\n' >"$TAGS_FILE"
kill -HUP "${PID_OF[t-ours]}"
wait_for "serf sees our live tag change (SIGHUP + --tags-file)" 20 \
  eval '[ "$(serf_members 127.0.0.61 | jq -c ".members[] | select(.name == \"t-ours\") | .tags")" = "{\"dc\":\"west\",\"note\":\"a b=c\",\"role\":\"lb\",\"weight\":\"5\"}" ]'
grep -q "SIGHUP: tags now from" "$TMP/t-ours.log" && pass "the tag change is logged" || fail "the tag change is logged"
printf 'broken line\n' >"$TAGS_FILE"
kill -HUP "${PID_OF[t-ours]}"
wait_for "a malformed tags file is refused with FILE:LINE" 10 grep -q "t-ours.tags:1: expected KEY=VALUE; tags unchanged" "$TMP/t-ours.log"
is_running t-ours && pass "our agent survives a bad tags file" || fail "our agent survives a bad tags file"
is_status 127.0.0.61 t-ours alive && pass "our node still alive after tag changes" || fail "our node still alive after tag changes"

serf_logs_clean
stop_all
finish
