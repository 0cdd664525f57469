#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# serf's RPC protocol both ways: the real `serf` CLI against `haserf agent --rpc-addr` (members
# and its filters, info, event, query, monitor, tags, join, keys, force-leave, auth, leave), and
# `haserf members/event/query` against a real serf agent's RPC; garbage on the RPC port.
# Usage: interop_rpc.sh HASERF SOURCE_DIR
# Addresses: 127.0.35.1 - 127.0.35.9 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

KEY1=$(head -c 32 /dev/urandom | base64)
KEY2=$(head -c 32 /dev/urandom | base64)
H=127.0.35.2  # the haserf agent (RPC on $H:7373)

# An encrypted cluster: s1 answers `query:ping` with its own handler.
start_serf s1 127.0.35.1 -encrypt "$KEY1" -tag role=db -event-handler 'query:ping=cat >/dev/null; echo pong' ||
  { stop_all; finish; exit; }
start_haserf_agent h1 $H --encrypt "$KEY1" --tag role=web --join 127.0.35.1 ||
  { stop_all; finish; exit; }
wait_for "the haserf agent's RPC answers serf members" 10 is_status $H s1 alive

run rpc $H members
expect_rc "serf members -rpc-addr haserf: exit 0" 0
expect_contains "serf members lists the serf agent" "$OUT" "s1  127.0.35.1:7946  alive  role=db"
expect_contains "serf members lists the haserf agent itself" "$OUT" "h1  127.0.35.2:7946  alive  role=web"
run rpc $H members -format=json -tag role=web
[ "$(printf '%s' "$OUT" | jq -r '[.members[].name] | join(",")')" = "h1" ] &&
  pass "serf members -tag role=web: only h1" || fail "serf members -tag role=web: only h1" "$OUT"
run rpc $H members -status 'ali.*' -name 's.*'
expect_lines "serf members -status/-name: anchored regexps, one match" "$OUT" 1
run rpc $H members -detailed
expect_contains "serf members -detailed: protocol versions" "$OUT" "Protocol Version: 5"
run rpc $H info
expect_contains "serf info: the agent's name" "$OUT" "name = h1"
expect_contains "serf info: encryption on" "$OUT" "encrypted = true"

# Events and queries sent through the haserf agent.
# The monitor must outlive the three 3 s queries below, also on a loaded machine; it is
# stopped right after its checks (and bounded by the timeout if the test dies first).
timeout 60 serf monitor -rpc-addr $H:7373 >"$TMP/monitor.out" 2>&1 &
MONITOR_PID=$!
sleep 1
run rpc $H event deploy v42
expect_rc "serf event through haserf: exit 0" 0
wait_for "the serf agent received the event" 10 grep -q "user-event: deploy" "$TMP/s1.log"
run rpc $H query -timeout 3s ping
expect_contains "serf query through haserf: ack from the serf agent" "$OUT" "Ack from 's1'"
expect_contains "serf query through haserf: ack from haserf itself" "$OUT" "Ack from 'h1'"
expect_contains "serf query through haserf: the serf agent's response" "$OUT" "Response from 's1': pong"
run rpc $H query -timeout 3s -relay-factor 2 ping
expect_contains "serf query -relay-factor 2 through haserf: one response per node" "$OUT" "Total Responses: 1"
run rpc 127.0.35.1 query -timeout 3s -relay-factor 2 ping
expect_contains "serf query -relay-factor 2 from serf: haserf's ack (and relays) counted once" "$OUT" "Total Acks: 2"
run rpc 127.0.35.1 event from-serf hi
wait_for "serf monitor on haserf streams the serf agent's event" 10 grep -q '"from-serf"' "$TMP/monitor.out"
expect_contains "serf monitor: the event's payload" "$(cat "$TMP/monitor.out")" 'Payload: []byte{0x68, 0x69}'
kill "$MONITOR_PID" 2>/dev/null
wait "$MONITOR_PID" 2>/dev/null

# Tags and join through RPC.
run rpc $H tags -set zone=a -delete role
expect_rc "serf tags through haserf: exit 0" 0
has_tag() { [ "$(serf_tag "$1" "$2" "$3")" = "$4" ]; }
wait_for "the serf agent sees the new tag" 10 has_tag 127.0.35.1 h1 zone a
[ -z "$(serf_tag 127.0.35.1 h1 role)" ] && pass "the deleted tag is gone" || fail "the deleted tag is gone"
start_serf s3 127.0.35.3 -encrypt "$KEY1" || { stop_all; finish; exit; }
run rpc $H join 127.0.35.3
expect_contains "serf join through haserf" "$OUT" "Successfully joined cluster by contacting 1 nodes"
run rpc $H join 127.0.35.9
expect_rc "serf join to nobody through haserf: exit 1" 1
wait_for "the joined serf agent is a member" 10 is_status 127.0.35.3 h1 alive
# s1 learns of s3 by gossip, later than s3's join; the checks below count s1's members.
wait_for "s1 learns of the joined serf agent" 20 is_status 127.0.35.1 s3 alive

# A full key rotation driven through the haserf agent's RPC.
run rpc $H keys -install "$KEY2"
expect_contains "serf keys -install through haserf" "$OUT" "Successfully installed key"
run rpc $H keys -use "$KEY2"
expect_contains "serf keys -use through haserf" "$OUT" "Successfully changed primary key"
run rpc $H keys -remove "$KEY1"
expect_contains "serf keys -remove through haserf" "$OUT" "Successfully removed key"
run rpc $H keys -list
expect_contains "serf keys -list through haserf: the new key on all 3" "$OUT" "$KEY2  [3/3]"
run rpc $H keys -remove "$KEY2"
expect_rc "serf keys -remove of the primary: exit 1" 1
is_alive_count 127.0.35.1 3 && pass "nobody was lost during the rotation" || fail "nobody was lost during the rotation" "$(rpc 127.0.35.1 members)"

# haserf's commands against the real serf agent's RPC: no short-lived member.
BEFORE=$(rpc 127.0.35.1 members | grep -c '')
JOINS=$(ev_count "$TMP/h1.events" '.event == "member-join"')
run "$HASERF" members --rpc-addr 127.0.35.1:7373
expect_rc "haserf members --rpc-addr serf: exit 0" 0
expect_contains "haserf members via serf's RPC" "$OUT" "h1"
run "$HASERF" members --rpc-addr 127.0.35.1:7373 --format json --status alive
[ "$(printf '%s' "$OUT" | jq '.members | length')" = 3 ] && pass "haserf members --format json --status alive: 3" ||
  fail "haserf members --format json --status alive: 3" "$OUT"
run "$HASERF" event --rpc-addr 127.0.35.1:7373 from-haserf-cli x
expect_rc "haserf event --rpc-addr serf: exit 0" 0
wait_for "the event reached the haserf agent" 10 has_event "$TMP/h1.events" '.event == "user" and .name == "from-haserf-cli"'
run "$HASERF" query --rpc-addr 127.0.35.1:7373 --query-timeout 2s ping
expect_contains "haserf query --rpc-addr serf: the response" "$OUT" "Response from 's1': pong"
expect_contains "haserf query --rpc-addr serf: acks" "$OUT" "Ack from 'h1'"
KEY3=$(head -c 32 /dev/urandom | base64)
run "$HASERF" keys --rpc-addr 127.0.35.1:7373 --install "$KEY3"
expect_contains "haserf keys --install via serf's RPC" "$OUT" "Successfully installed key"
run "$HASERF" keys --rpc-addr $H:7373 --list
expect_contains "haserf keys --list via haserf's RPC: the installed key on all 3" "$OUT" "$KEY3  [3/3]"
run "$HASERF" keys --rpc-addr $H:7373 --remove "$KEY3"
expect_contains "haserf keys --remove via haserf's RPC" "$OUT" "Successfully removed key"
run "$HASERF" keys --rpc-addr 127.0.35.1:7373 --remove "$KEY2"
expect_rc "haserf keys --remove of the primary via serf's RPC: exit 1" 1
expect_contains "haserf keys: the refusal on stderr" "$ERR" "Error removing key"
HASERF_RPC_ADDR=$H:7373 run "$HASERF" members
expect_contains "haserf members via HASERF_RPC_ADDR" "$OUT" "s3"
[ "$(rpc 127.0.35.1 members | grep -c '')" = "$BEFORE" ] && pass "no short-lived member joined for these" ||
  fail "no short-lived member joined for these" "$(rpc 127.0.35.1 members)"
[ "$(ev_count "$TMP/h1.events" '.event == "member-join"')" = "$JOINS" ] && pass "the haserf agent saw no transient joins" ||
  fail "the haserf agent saw no transient joins" "$(cat "$TMP/h1.events")"
run "$HASERF" members --rpc-addr 127.0.35.8:7373 --timeout 2
expect_rc "haserf members without an agent: exit 1" 1
expect_contains "... and says where it looked" "$ERR" "127.0.35.8:7373"

# Garbage and a hostile size on the RPC port: the connection is closed, the agent lives on.
head -c 3000 /dev/urandom | timeout 3 bash -c "cat > /dev/tcp/$H/7373" 2>/dev/null
printf '\x82\xa7Command\xdb\x7f\xff\xff\xff' | timeout 3 bash -c "cat > /dev/tcp/$H/7373" 2>/dev/null
sleep 0.5
is_running h1 && rpc $H members >/dev/null && pass "garbage on the RPC port: the agent still answers" ||
  fail "garbage on the RPC port: the agent still answers"

# force-leave of a failed node.
kill -9 "${PID_OF[s3]}"
wait_for "the killed serf agent is failed" 20 is_status $H s3 failed
run rpc $H force-leave s3
expect_rc "serf force-leave through haserf: exit 0" 0
wait_for "force-leave: s3 left on the serf agent too" 10 is_status 127.0.35.1 s3 left

# Auth: a second haserf agent with --rpc-auth.
start_haserf_agent h2 127.0.35.4 --encrypt "$KEY2" --rpc-auth s3cret --join 127.0.35.1 ||
  { stop_all; finish; exit; }
run rpc 127.0.35.4 members
expect_rc "--rpc-auth: serf members without the key fails" 1
expect_contains "... with serf's error" "$OUT$ERR" "Authentication required"
run rpc 127.0.35.4 members -rpc-auth s3cret
expect_contains "--rpc-auth: with the key it answers" "$OUT" "h2"
run "$HASERF" members --rpc-addr 127.0.35.4:7373 --rpc-auth wrong
expect_rc "haserf members with a wrong key: exit 1" 1
expect_contains "... Invalid authentication token" "$ERR" "Invalid authentication token"

# serf leave through RPC: the haserf agent leaves gracefully and exits 0.
run rpc $H leave
expect_contains "serf leave through haserf" "$OUT" "Graceful leave complete"
wait_for "the haserf agent exits after an RPC leave" 10 bash -c "! kill -0 ${PID_OF[h1]} 2>/dev/null"
wait_for "the serf agent sees h1 left" 10 is_status 127.0.35.1 h1 left
serf_logs_clean 's3|Failed to join|127.0.35.9|EOF|connection reset|Removing the primary key|Failed to stream (ack|response|query end)'
stop_all
finish
