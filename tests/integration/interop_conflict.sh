#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Name conflicts, with real serf agents deciding: haserf as the newcomer with a taken name
# loses the vote and exits 1; haserf as the holder of a name wins and stays, and the serf
# newcomer quits (serf's own resolution).
# Usage: interop_conflict.sh HASERF SOURCE_DIR
# Addresses: 127.0.19.1 - 127.0.19.6 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

start_serf c-serf1 127.0.19.1 || { stop_all; finish; exit; }
start_serf c-serf2 127.0.19.2 -join 127.0.19.1:7946
start_serf dup 127.0.19.3 -join 127.0.19.1:7946
wait_for "3 serf agents" 20 is_alive_count 127.0.19.1 3

# (a) haserf joins with the name 'dup', taken by the serf agent on 127.0.19.3.
T0=$(date +%s)
run timeout 40 "$HASERF" agent --bind 127.0.19.4:7946 --node dup --join 127.0.19.1:7946 --rpc-addr off
expect_rc "(a) the impostor haserf agent exits 1" 1
[ $(($(date +%s) - T0)) -le 15 ] && pass "(a) within 15 s" || fail "(a) within 15 s" "$(($(date +%s) - T0)) s"
expect_contains "(a) it says why" "$ERR" "name conflict: 127.0.19.3:7946 also claims the name 'dup'"
expect_contains "(a) ... with the vote" "$ERR" "answers know our address"
ADDR=$(serf_members 127.0.19.2 | jq -r '.members[] | select(.name == "dup") | .addr')
[ "$ADDR" = "127.0.19.3:7946" ] && pass "(a) the cluster keeps the serf agent as 'dup'" ||
  fail "(a) the cluster keeps the serf agent as 'dup'" "$ADDR"
is_running dup && pass "(a) the serf agent 'dup' runs on" || fail "(a) the serf agent 'dup' runs on"

# (b) haserf holds the name 'orig'; a serf agent arrives with the same name.
start_haserf_agent orig 127.0.19.5 --join 127.0.19.1:7946 || { stop_all; finish; exit; }
wait_for "(b) haserf 'orig' is alive" 20 is_status 127.0.19.2 orig alive
start_serf_bg orig-serf 127.0.19.6 -node orig -join 127.0.19.1:7946
wait_for "(b) the serf newcomer loses the vote and quits" 30 \
  grep -q "minority in name conflict resolution" "$TMP/orig-serf.log"
sleep 2
is_running orig && pass "(b) haserf 'orig' runs on" || fail "(b) haserf 'orig' runs on" "$(tail -n 5 "$TMP/orig.log")"
ADDR=$(serf_members 127.0.19.2 | jq -r '.members[] | select(.name == "orig") | .addr + " " + .status')
[ "$ADDR" = "127.0.19.5:7946 alive" ] && pass "(b) the cluster keeps haserf as 'orig'" ||
  fail "(b) the cluster keeps haserf as 'orig'" "$ADDR"
serf_logs_clean 'onflict|Name conflict|minority|Conflicting address|Shutdown|quitting'
stop_all
finish
