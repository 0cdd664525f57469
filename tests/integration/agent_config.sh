#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# haserf agent --config-file / --config-dir: the same serf JSON config a real serf agent runs
# with (node name, bind, tags, key, RPC address, event handlers, start_join) runs haserf agent
# unchanged; files merge as serf's do; unknown keys are refused; leave_on_terminate=false.
# Usage: agent_config.sh HASERF SOURCE_DIR
# Addresses: 127.0.36.1 - 127.0.36.4 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

KEY=$(head -c 32 /dev/urandom | base64)
start_serf seed 127.0.36.1 -encrypt "$KEY" || { stop_all; finish; exit; }

cat >"$TMP/backend.json" <<EOF
{
  "node_name": "backend1",
  "bind": "127.0.36.2:7946",
  "rpc_addr": "127.0.36.2:7373",
  "encrypt_key": "$KEY",
  "tags": {"role": "web", "weight": "10"},
  "start_join": ["127.0.36.1"],
  "event_handlers": ["member-join=cat >> $TMP/joins.txt", "user:deploy=echo deployed >> $TMP/deploys.txt"],
  "log_level": "debug",
  "replay_on_join": false,
  "reconnect_interval": "10s",
  "leave_on_terminate": true
}
EOF

# First the real serf agent with that file...
_serf_command backend1
"${SERF_CMD[@]}" agent -config-file "$TMP/backend.json" >"$TMP/serf-backend.log" 2>&1 </dev/null &
PID_OF[serf-backend]=$!
ALL_PIDS+=("$!")
wait_for "serf agent runs with the config" 20 is_status 127.0.36.1 backend1 alive
stop_proc serf-backend
wait_for "serf agent left" 10 is_status 127.0.36.1 backend1 left
rm -f "$TMP/joins.txt"

# ... then haserf agent with the very same file, nothing else.
"$HASERF" agent --config-file "$TMP/backend.json" >"$TMP/h.events" 2>"$TMP/h.log" </dev/null &
PID_OF[h]=$!
ALL_PIDS+=("$!")
wait_for "haserf agent with the same config is alive in the cluster" 20 is_status 127.0.36.1 backend1 alive
[ "$(serf_tag 127.0.36.1 backend1 weight)" = 10 ] && pass "tags from the config file" ||
  fail "tags from the config file" "$(rpc 127.0.36.1 members)"
run rpc 127.0.36.2 members
expect_contains "rpc_addr from the config file: serf members asks haserf" "$OUT" "seed"
wait_for "event_handlers from the config file: member-join handler ran" 10 grep -q seed "$TMP/joins.txt"
rpc 127.0.36.1 event deploy v1 >/dev/null
wait_for "event_handlers: user:deploy handler ran" 10 grep -q deployed "$TMP/deploys.txt"
expect_contains "ignored keys are named" "$(cat "$TMP/h.log")" "config keys accepted but not used by haserf: replay_on_join"
stop_proc h
[ "$STOP_RC" = 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit 0" "exit $STOP_RC"
wait_for "leave_on_terminate: the cluster sees a leave" 10 is_status 127.0.36.1 backend1 left

# --config-dir: files in name order, later ones win, tags and lists add up; flags win over files.
mkdir -p "$TMP/conf.d"
cat >"$TMP/conf.d/10-base.json" <<EOF
{"node_name": "dir1", "bind": "127.0.36.3:7946", "encrypt_key": "$KEY", "tags": {"a": "1"},
 "start_join": ["127.0.36.1"], "rpc_addr": "127.0.36.3:7373"}
EOF
cat >"$TMP/conf.d/20-more.json" <<EOF
{"node_name": "dir2", "tags": {"b": "2"}, "leave_on_terminate": false}
EOF
echo 'not json, not read' >"$TMP/conf.d/README"
"$HASERF" agent --config-dir "$TMP/conf.d" --tag c=3 >"$TMP/d.events" 2>"$TMP/d.log" </dev/null &
PID_OF[d]=$!
ALL_PIDS+=("$!")
wait_for "--config-dir: the later file's node name" 20 is_status 127.0.36.1 dir2 alive
[ "$(serf_tag 127.0.36.1 dir2 a)$(serf_tag 127.0.36.1 dir2 b)$(serf_tag 127.0.36.1 dir2 c)" = 123 ] &&
  pass "--config-dir: tags of both files plus --tag" || fail "--config-dir: tags of both files plus --tag" "$(rpc 127.0.36.1 members)"
stop_proc d
expect_contains "leave_on_terminate=false: says it stops without a leave" "$(cat "$TMP/d.log")" "without a leave"
wait_for "leave_on_terminate=false: the cluster sees a failure" 20 is_status 127.0.36.1 dir2 failed

# Refusals.
echo '{"node_name": "x", "bind": "127.0.36.4:7946", "no_such_key": 1}' >"$TMP/bad.json"
run timeout 5 "$HASERF" agent --config-file "$TMP/bad.json"
expect_rc "an unknown key: exit 2" 2
expect_contains "... named like serf does" "$ERR" "Config has invalid keys: no_such_key"
echo '{"tags": {"a": 1}}' >"$TMP/bad2.json"
run timeout 5 "$HASERF" agent --config-file "$TMP/bad2.json" --bind 127.0.36.4:7946
expect_rc "a tag that is not a string: exit 2" 2
expect_contains "... names the file and key" "$ERR" "bad2.json: \"tags\" must be an object of strings"
echo '{"node_name": ' >"$TMP/bad3.json"
run timeout 5 "$HASERF" agent --config-file "$TMP/bad3.json"
expect_rc "broken JSON: exit 2" 2
serf_logs_clean 'dir2|backend1'
stop_all
finish
