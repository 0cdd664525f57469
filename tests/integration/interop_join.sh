#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interop: joins between haserf and the real serf agent, both directions, and the one-shot
# `haserf members`. Usage: interop_join.sh HASERF SOURCE_DIR
# Addresses: 127.0.0.51 - 127.0.0.59 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

# (a) our agent joins a serf agent.
start_serf j-serf1 127.0.0.51 -tag role=web -tag weight=10 || { stop_all; finish; exit; }
start_haserf_agent j-ours1 127.0.0.52 --tag role=lb --tag zone=z1 --join 127.0.0.51:7946 ||
  { stop_all; finish; exit; }
EV1=$TMP/j-ours1.events

wait_for "(a) serf members shows our node alive" 20 is_status 127.0.0.51 j-ours1 alive
[ "$(serf_tag 127.0.0.51 j-ours1 role)" = "lb" ] && [ "$(serf_tag 127.0.0.51 j-ours1 zone)" = "z1" ] &&
  pass "(a) serf sees our tags role=lb zone=z1" ||
  fail "(a) serf sees our tags role=lb zone=z1" "$(serf_members 127.0.0.51)"
ADDR=$(serf_members 127.0.0.51 | jq -r '.members[] | select(.name == "j-ours1") | .addr')
[ "$ADDR" = "127.0.0.52:7946" ] && pass "(a) serf sees our address 127.0.0.52:7946" ||
  fail "(a) serf sees our address 127.0.0.52:7946" "addr=$ADDR"
wait_for "(a) our events: member-join for j-serf1" 20 \
  has_event "$EV1" '.event == "member-join" and .member.name == "j-serf1"'
J=$(jq -c 'select(.event == "member-join" and .member.name == "j-serf1") | .member' "$EV1" 2>/dev/null | head -n 1)
[ "$(jq -r '.tags.role + "," + .tags.weight' <<<"$J" 2>/dev/null)" = "web,10" ] &&
  pass "(a) member-join carries serf's tags role=web weight=10" ||
  fail "(a) member-join carries serf's tags role=web weight=10" "$J"
[ "$(jq -r '.status + " " + .addr' <<<"$J" 2>/dev/null)" = "alive 127.0.0.51:7946" ] &&
  pass "(a) member-join: status alive, addr 127.0.0.51:7946" ||
  fail "(a) member-join: status alive, addr 127.0.0.51:7946" "$J"
[ "$(ev_count "$EV1" '.event == "member-join" and .member.name == "j-serf1"')" -eq 1 ] &&
  pass "(a) exactly one member-join for j-serf1" ||
  fail "(a) exactly one member-join for j-serf1" "$(cat "$EV1")"
# Still alive after a few probe rounds (our acks reach serf; nobody suspects us).
sleep 4
is_status 127.0.0.51 j-ours1 alive && pass "(a) still alive after 4 s of probing" ||
  fail "(a) still alive after 4 s of probing" "$(serf_members 127.0.0.51)"
grep -qE 'Suspect j-ours1|Marking j-ours1 as failed' "$TMP/j-serf1.log" &&
  fail "(a) serf never suspects our node" "$(grep -E 'Suspect|failed' "$TMP/j-serf1.log")" ||
  pass "(a) serf never suspects our node"

# (b) serf agents join us: at start (-join) and through RPC (`serf join`).
start_haserf_agent j-ours2 127.0.0.53 --tag role=lb || { stop_all; finish; exit; }
EV2=$TMP/j-ours2.events
start_serf j-serf2 127.0.0.54 -tag role=db -join 127.0.0.53:7946 &&
  pass "(b) serf agent -join OUR_IP:7946 succeeds" || fail "(b) serf agent -join OUR_IP:7946 succeeds"
wait_for "(b) j-serf2 sees us alive" 20 is_status 127.0.0.54 j-ours2 alive
wait_for "(b) we see j-serf2 join" 20 \
  has_event "$EV2" '.event == "member-join" and .member.name == "j-serf2" and .member.tags.role == "db"'
start_serf j-serf3 127.0.0.55
run rpc 127.0.0.55 join 127.0.0.53:7946
expect_rc "(b) serf join -rpc-addr ... OUR_IP:7946 exits 0" 0
expect_contains "(b) serf join reports one node joined" "$OUT" "Successfully joined cluster by contacting 1 nodes"
wait_for "(b) j-serf3 sees us alive" 20 is_status 127.0.0.55 j-ours2 alive
wait_for "(b) j-serf3 learns j-serf2 (from our push/pull or gossip)" 20 is_status 127.0.0.55 j-serf2 alive
wait_for "(b) j-serf2 learns j-serf3 through us" 20 is_status 127.0.0.54 j-serf3 alive
wait_for "(b) we see j-serf3 join" 20 has_event "$EV2" '.event == "member-join" and .member.name == "j-serf3"'
stop_proc j-serf2
stop_proc j-serf3
stop_proc j-ours2
stop_proc j-ours1
stop_proc j-serf1

# (c) haserf members against a 3-agent serf cluster.
start_serf j-c1 127.0.0.56 -tag role=web || { stop_all; finish; exit; }
start_serf j-c2 127.0.0.57 -tag role=web -join 127.0.0.56:7946
start_serf j-c3 127.0.0.58 -tag role=db -join 127.0.0.56:7946
wait_for "(c) the serf cluster has 3 alive members" 20 is_alive_count 127.0.0.57 3

run timeout 40 "$HASERF" members --join 127.0.0.56:7946 --bind 127.0.0.56:17946 --node j-tmp-json --format json
expect_rc "(c) haserf members --format json exits 0" 0
NAMES=$(jq -r '[.members[].name] | sort | join(",")' <<<"$OUT" 2>/dev/null)
[ "$NAMES" = "j-c1,j-c2,j-c3" ] && pass "(c) json lists exactly the 3 serf members" ||
  fail "(c) json lists exactly the 3 serf members" "names='$NAMES' out=$OUT err=$ERR"
[ "$(jq -r '[.members[] | select(.status == "alive")] | length' <<<"$OUT" 2>/dev/null)" = 3 ] &&
  pass "(c) json: all 3 alive" || fail "(c) json: all 3 alive" "$OUT"
[ "$(jq -r '.members[] | select(.name == "j-c3") | .addr + " " + (.port|tostring) + " " + .tags.role' <<<"$OUT" 2>/dev/null)" = "127.0.0.58:7946 7946 db" ] &&
  pass "(c) json: addr, port and tags of j-c3" || fail "(c) json: addr, port and tags of j-c3" "$OUT"
[ "$(jq -r '.members[] | select(.name == "j-c1") | .protocol | "\(.min) \(.max) \(.version)"' <<<"$OUT" 2>/dev/null)" = "2 5 5" ] &&
  pass "(c) json: protocol {min 2, max 5, version 5} like serf's" ||
  fail "(c) json: protocol {min 2, max 5, version 5} like serf's" "$OUT"
# Same shape as serf's own JSON (keys of a member).
SERF_KEYS=$(serf_members 127.0.0.56 | jq -c '.members[0] | keys' 2>/dev/null)
OUR_KEYS=$(jq -c '.members[0] | keys' <<<"$OUT" 2>/dev/null)
[ -n "$SERF_KEYS" ] && [ "$SERF_KEYS" = "$OUR_KEYS" ] && pass "(c) json: same member keys as serf members -format=json" ||
  fail "(c) json: same member keys as serf members -format=json" "serf=$SERF_KEYS ours=$OUR_KEYS"
wait_for "(c) serf shows the temporary member as left" 15 is_status 127.0.0.57 j-tmp-json left
grep -q 'EventMemberFailed: j-tmp-json' "$TMP"/j-c*.log &&
  fail "(c) no serf agent saw the temporary member fail" "$(grep -h 'j-tmp-json' "$TMP"/j-c*.log)" ||
  pass "(c) no serf agent saw the temporary member fail"

run timeout 40 "$HASERF" members --join 127.0.0.56:7946 --node j-tmp-text
expect_rc "(c) haserf members (text) exits 0" 0
expect_lines "(c) text: 3 lines" "$OUT" 3
for n in j-c1 j-c2 j-c3; do
  printf '%s\n' "$OUT" | grep -qE "^$n +127\.0\.0\.5[678]:7946 +alive" && pass "(c) text: $n alive" ||
    fail "(c) text: $n alive" "$OUT"
done
printf '%s\n' "$OUT" | grep -qE '^j-c3 .*role=db' && pass "(c) text: j-c3 tags" || fail "(c) text: j-c3 tags" "$OUT"
wait_for "(c) serf shows the text-mode member as left" 15 is_status 127.0.0.58 j-tmp-text left
wait_for "(c) serf cluster still 3 alive" 5 is_alive_count 127.0.0.56 3

# (d) nothing listening on the seed.
run timeout 40 "$HASERF" members --join 127.0.0.59:7946 --bind 127.0.0.59:17946 --node j-tmp-none
expect_rc "(d) unreachable seed: exit 1" 1
expect_lines "(d) unreachable seed: one line on stderr" "$ERR" 1
expect_contains "(d) the line names the seed" "$ERR" "127.0.0.59:7946"
case "$ERR" in *--bind*) fail "(d) the error is about the seed, not --bind" "$ERR" ;;
  *) pass "(d) the error is about the seed, not --bind" ;; esac
[ -z "$OUT" ] && pass "(d) nothing on stdout" || fail "(d) nothing on stdout" "$OUT"

serf_logs_clean
stop_all
finish
