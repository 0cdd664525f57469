#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmark 3: join-to-visible latency.
#
# usage: bench/join_latency.sh HASERF_BINARY PUSH_MEMBERS_BINARY
#
# push_members starts the agent with its stdout piped, then SAMPLES times (fresh node names
# lat-0000..): connects, takes t0 just before write()ing a push/pull (Join=true) with one new
# node, and t1 when the agent's line announcing that node arrives on the pipe (haserf: the
# {"event":"member-join"} JSON line, printed when the table has it; serf: its
# "[INFO] serf: EventMemberJoin: NAME" log line, which serf writes in handleNodeJoin before the
# event goes to the 3 s coalescer that event handlers sit behind). The reply is read after t1.
# Reports min/median/p95/max of t1 - t0. Baseline: the same against a lone `serf agent`.
# Then both again with PRELOAD members (pre-0000..) pushed into the agent first: the agent
# answers each join with its full state before merging it (memberlist order), so the latency
# grows with the table.
#
# Env: SAMPLES (default 50), INTERVAL_MS (default 100), PRELOAD (default 1000; 0 = skip),
# BENCH_BUDGET (s, default 150).
HASERF=${1:?usage: join_latency.sh HASERF_BINARY PUSH_MEMBERS_BINARY}
PUSH=${2:?usage: join_latency.sh HASERF_BINARY PUSH_MEMBERS_BINARY}
HASERF=$(readlink -f "$HASERF")
PUSH=$(readlink -f "$PUSH")
BENCH_BUDGET=${BENCH_BUDGET:-150}
. "$(dirname "$0")/lib.sh"

SAMPLES=${SAMPLES:-50}
PRELOAD=${PRELOAD:-1000}
INTERVAL_MS=${INTERVAL_MS:-100}
OURS_IP=127.0.1.35
BASE_IP=127.0.1.36

run_one() {  # TAG PRELOAD MATCH IP CMD...
  local tag=$1 preload=$2 match=$3 ip=$4
  shift 4
  bench_start "lat_$tag" "$BENCH_TMP/$tag.out" timeout 60 "$PUSH" latency --target "$ip:7946" \
    --count "$SAMPLES" --interval-ms "$INTERVAL_MS" --prefix lat- --settle 2 --match "$match" \
    --preload "$preload" --log "$BENCH_TMP/$tag.events" --stderr "$BENCH_TMP/$tag.err" -- "$@"
  wait "$BENCH_LAST_PID"
  local rc=$?
  grep -v '^all_ms=' "$BENCH_TMP/$tag.out" | sed "s/^/join_${tag}_/" | tee -a "$BENCH_RESULT"
  grep '^all_ms=' "$BENCH_TMP/$tag.out" | sed "s/^/# join_${tag}_/" >&2
  return $rc
}

rc=0
for preload in 0 $PRELOAD; do
  sfx=""
  [ "$preload" -gt 0 ] && sfx="_pre$preload"
  run_one "haserf$sfx" "$preload" '"event":"member-join"' "$OURS_IP" \
    "$HASERF" agent --bind "$OURS_IP:7946" --node haserf-lat --rpc-addr "$OURS_IP:7373" || rc=1
  run_one "serf$sfx" "$preload" 'EventMemberJoin: ' "$BASE_IP" \
    serf agent -node serf-lat -bind "$BASE_IP:7946" -rpc-addr "$BASE_IP:7373" -log-level info || rc=1
done

get() { grep "^$1=" "$BENCH_RESULT" | tail -1 | cut -d= -f2; }
if [ "$rc" = 0 ]; then
  for sfx in "" ${PRELOAD:+_pre$PRELOAD}; do
    [ "$sfx" = _pre0 ] && continue
    result "join${sfx}_median_ratio" "$(ratio "$(get "join_haserf${sfx}_median_ms")" "$(get "join_serf${sfx}_median_ms")")"
    result "join${sfx}_p95_ratio" "$(ratio "$(get "join_haserf${sfx}_p95_ms")" "$(get "join_serf${sfx}_p95_ms")")"
  done
fi
exit "$rc"
