#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmark 2: resident memory with 1,000 members in the table.
#
# usage: bench/memory.sh HASERF_BINARY PUSH_MEMBERS_BINARY
#
# push_members (bench/push_members.cpp) starts the agent alone with its stdout piped, reads
# VmRSS once it listens and has settled (baseline), sends ONE push/pull (Join=true) with 1,000
# synthetic alive nodes (node-0000..0999, 127.0.2.x:20000+i, nobody listens there, 3-4 tags
# each, Vsn 01 05 02 02 05 05), waits until 1,000 member-join lines for them arrived (our JSON
# events / serf's "EventMemberJoin:" log lines), reads VmRSS (merged), waits AFTER seconds and
# reads it again (by then the unreachable nodes are being suspected/declared dead), with the
# CPU time used over those AFTER seconds (after_cpu_s: gossip work with COUNT members).
# The same is done against a lone `serf agent` as the baseline.
#
# Env: COUNT (default 1000), AFTER (default 10), BENCH_BUDGET (s, default 120).
HASERF=${1:?usage: memory.sh HASERF_BINARY PUSH_MEMBERS_BINARY}
PUSH=${2:?usage: memory.sh HASERF_BINARY PUSH_MEMBERS_BINARY}
HASERF=$(readlink -f "$HASERF")
PUSH=$(readlink -f "$PUSH")
BENCH_BUDGET=${BENCH_BUDGET:-120}
. "$(dirname "$0")/lib.sh"

COUNT=${COUNT:-1000}
AFTER=${AFTER:-10}
OURS_IP=127.0.1.33
BASE_IP=127.0.1.34

run_one() {  # TAG MATCH IP CMD...
  local tag=$1 match=$2 ip=$3
  shift 3
  # push_members stops its child itself; run it in the background so the EXIT trap can stop
  # it (and, through PR_SET_PDEATHSIG, the agent) if the budget runs out.
  bench_start "push_$tag" "$BENCH_TMP/$tag.out" timeout 90 "$PUSH" mem --target "$ip:7946" \
    --count "$COUNT" --after "$AFTER" --settle 2 --timeout 30 --match "$match" \
    --log "$BENCH_TMP/$tag.events" --stderr "$BENCH_TMP/$tag.err" -- "$@"
  wait "$BENCH_LAST_PID"
  local rc=$?
  sed "s/^/mem_${tag}_/" "$BENCH_TMP/$tag.out" | tee -a "$BENCH_RESULT"
  return $rc
}

rc=0
run_one haserf '"event":"member-join"' "$OURS_IP" "$HASERF" agent --bind "$OURS_IP:7946" --node haserf-mem --rpc-addr "$OURS_IP:7373" || rc=1
result mem_haserf_failed_events_after "$(grep -c '"member-failed"' "$BENCH_TMP/haserf.events")"
run_one serf 'EventMemberJoin: ' "$BASE_IP" \
  serf agent -node serf-mem -bind "$BASE_IP:7946" -rpc-addr "$BASE_IP:7373" -log-level info || rc=1
result mem_serf_failed_events_after "$(grep -c 'EventMemberFailed' "$BENCH_TMP/serf.events")"

get() { grep "^$1=" "$BENCH_RESULT" | tail -1 | cut -d= -f2; }
if [ "$rc" = 0 ]; then
  for t in haserf serf; do
    result "mem_${t}_delta_merged_kib" $(( $(get "mem_${t}_merged_rss_kib") - $(get "mem_${t}_base_rss_kib") ))
    result "mem_${t}_delta_after_kib" $(( $(get "mem_${t}_after_rss_kib") - $(get "mem_${t}_base_rss_kib") ))
  done
  result mem_delta_merged_ratio "$(ratio "$(get mem_haserf_delta_merged_kib)" "$(get mem_serf_delta_merged_kib)")"
  result mem_delta_after_ratio "$(ratio "$(get mem_haserf_delta_after_kib)" "$(get mem_serf_delta_after_kib)")"
  result mem_rss_merged_ratio "$(ratio "$(get mem_haserf_merged_rss_kib)" "$(get mem_serf_merged_rss_kib)")"
  # CPU over the AFTER window with COUNT members, most unreachable (issue target: <= 0.3x).
  result mem_after_cpu_ratio "$(ratio "$(get mem_haserf_after_cpu_s)" "$(get mem_serf_after_cpu_s)")"
fi
exit "$rc"
