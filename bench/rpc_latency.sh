#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmark 5: RPC latency of `serf members` against haserf agent vs serf agent.
#
# usage: bench/rpc_latency.sh HASERF_BINARY [RPC_ROUNDTRIP_BINARY]
#
# One serf agent and one haserf agent, joined together, plus SERFS more serf agents (a cluster
# of SERFS + 2). Then COUNT times, alternating, `serf members -rpc-addr` against each (the real
# serf CLI, a fresh process each time, as an operator or a script runs it), and COUNT times
# `serf info` (stats) against each. Reports the median and p95 of each command's wall time
# per agent, and the ratio haserf / serf. The CLI's own start-up is in both numbers alike
# (it dominates them). With RPC_ROUNDTRIP_BINARY (bench/rpc_roundtrip.cpp), also the agent side
# alone: COUNT x 10 `members` round trips on one connection.
#
# Env: COUNT (default 200), SERFS (default 8), BENCH_BUDGET (s, default 150).
HASERF=${1:?usage: rpc_latency.sh HASERF_BINARY}
HASERF=$(readlink -f "$HASERF")
ROUNDTRIP=${2:-}
BENCH_BUDGET=${BENCH_BUDGET:-150}
. "$(dirname "$0")/lib.sh"

COUNT=${COUNT:-200}
SERFS=${SERFS:-8}
SERF_IP=127.0.1.37
OURS_IP=127.0.1.38

bench_start rpc_serf "$BENCH_TMP/serf.log" serf agent -node rpc-serf -bind "$SERF_IP:7946" \
  -rpc-addr "$SERF_IP:7373" -log-level warn
poll 10 listening "$SERF_IP:7373" || { log "serf agent did not start"; exit 1; }
bench_start rpc_haserf "$BENCH_TMP/haserf.log" "$HASERF" agent --bind "$OURS_IP:7946" \
  --node rpc-haserf --rpc-addr "$OURS_IP:7373" --join "$SERF_IP"
poll 10 listening "$OURS_IP:7373" || { log "haserf agent did not start"; exit 1; }
for i in $(seq 1 "$SERFS"); do
  bench_start "rpc_extra_$i" "$BENCH_TMP/extra$i.log" serf agent -node "rpc-extra-$i" \
    -bind "127.0.1.$((40 + i)):7946" -rpc-addr "127.0.1.$((40 + i)):7373" -join "$SERF_IP" \
    -log-level warn
done
want=$((SERFS + 2))
alive() { [ "$(serf members -rpc-addr "$1:7373" -status alive | grep -c '')" = "$want" ]; }
poll 30 alive "$OURS_IP" && poll 30 alive "$SERF_IP" || { log "the cluster did not converge"; exit 1; }

# ms of wall time of one command run.
timed() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 || return 1
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000))
}
declare -A SAMPLES=()
for _ in $(seq 1 "$COUNT"); do
  for who in serf haserf; do
    ip=$SERF_IP
    [ "$who" = haserf ] && ip=$OURS_IP
    SAMPLES[members_$who]+="$(timed serf members -rpc-addr "$ip:7373") "
    SAMPLES[info_$who]+="$(timed serf info -rpc-addr "$ip:7373") "
  done
done
stat() {  # "us us ..." -> median and p95 in ms
  tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END {
    printf "%.2f %.2f %d\n", v[int((NR + 1) / 2)] / 1000, v[int(NR * 0.95 + 0.5)] / 1000, NR }'
}
for cmd in members info; do
  for who in serf haserf; do
    read -r med p95 n <<<"$(printf '%s' "${SAMPLES[${cmd}_$who]}" | stat)"
    result "rpc_${cmd}_${who}_median_ms" "$med"
    result "rpc_${cmd}_${who}_p95_ms" "$p95"
    result "rpc_${cmd}_${who}_samples" "$n"
  done
  get() { grep "^$1=" "$BENCH_RESULT" | tail -1 | cut -d= -f2; }
  result "rpc_${cmd}_median_ratio" "$(ratio "$(get "rpc_${cmd}_haserf_median_ms")" "$(get "rpc_${cmd}_serf_median_ms")")"
done
result rpc_cluster_size "$want"
if [ -n "$ROUNDTRIP" ]; then
  for who in serf haserf; do
    ip=$SERF_IP
    [ "$who" = haserf ] && ip=$OURS_IP
    "$ROUNDTRIP" "$ip:7373" $((COUNT * 10)) members | grep -v '^members=' |
      sed "s/^/rpc_roundtrip_${who}_/" | tee -a "$BENCH_RESULT"
  done
  get() { grep "^$1=" "$BENCH_RESULT" | tail -1 | cut -d= -f2; }
  result rpc_roundtrip_median_ratio "$(ratio "$(get rpc_roundtrip_haserf_median_ms)" "$(get rpc_roundtrip_serf_median_ms)")"
fi
