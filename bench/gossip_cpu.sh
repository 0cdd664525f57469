#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmark 1: gossip processing cost of a haserf agent vs a serf agent in the same cluster.
#
# usage: bench/gossip_cpu.sh HASERF_BINARY
#
# 30 real `serf agent`s (127.0.1.1-30:7946, RPC on the same IP :7373, LAN profile defaults)
# joined to the first, started in parallel, plus two plain members joined the same way: our
# `haserf agent` (127.0.1.31) and one more `serf agent` (127.0.1.32), the like-for-like
# baseline. Once every agent sees 32 alive members, we take the CPU time of both over the same
# WINDOW seconds (default 60): the scheduler's exact runtime summed over threads
# (/proc/PID/task/*/schedstat, ns) and, as a cross-check, utime+stime from /proc/PID/stat
# (10 ms units), plus VmRSS at the end.
# The other 30 serf agents' CPU over the window is reported too (spread of the baseline).
# Afterwards we check that the cluster still has 32 alive members everywhere (no flapping).
#
# Env: WINDOW (s, default 60), N_SERF (default 30), BENCH_BUDGET (s, default 240),
# HASERF_AGENT_ARGS (more `haserf agent` options, e.g. "--rpc-addr off", for comparisons).
HASERF=${1:?usage: gossip_cpu.sh HASERF_BINARY}
HASERF=$(readlink -f "$HASERF")
export HASERF_AGENT_ARGS=${HASERF_AGENT_ARGS:-}
BENCH_BUDGET=${BENCH_BUDGET:-240}
. "$(dirname "$0")/lib.sh"

WINDOW=${WINDOW:-60}
N_SERF=${N_SERF:-30}
TOTAL=$((N_SERF + 2))
OURS_IP=127.0.1.31
BASE_IP=127.0.1.32
SEED=127.0.1.1:7946

command -v serf >/dev/null || { log "serf is required"; exit 1; }
command -v jq >/dev/null || { log "jq is required"; exit 1; }
[ -x "$HASERF" ] || { log "no haserf binary at $HASERF"; exit 1; }

serf_ip() { echo "127.0.1.$1"; }
start_serf() {  # NAME IP [extra args]
  local name=$1 ip=$2
  shift 2
  bench_start "$name" "$BENCH_TMP/$name.log" \
    serf agent -node "$name" -bind "$ip:7946" -rpc-addr "$ip:7373" -log-level info "$@"
}
alive_count_serf() {  # IP
  timeout 5 serf members -rpc-addr "$1:7373" -status alive 2>/dev/null | wc -l
}
# Alive members as our agent's event stream says: last event per member is join or update.
alive_count_ours() {
  jq -s '[ .[] | select(.member) ] | group_by(.member.name)
         | map(last | select(.event == "member-join" or .event == "member-update")) | length' \
    "$BENCH_TMP/ours.events" 2>/dev/null || echo 0
}
all_converged() {
  local i
  [ "$(alive_count_ours)" = "$TOTAL" ] || return 1
  for i in $(seq 1 "$N_SERF") 32; do
    [ "$(alive_count_serf "$(serf_ip "$i")")" = "$TOTAL" ] || return 1
  done
}

log "starting $N_SERF serf agents, haserf and a baseline serf agent (127.0.1.1-32)"
start_serf s01 "$(serf_ip 1)"
poll 15 listening "$SEED" || { log "seed agent did not start"; cat "$BENCH_TMP/s01.log" >&2; exit 1; }
for i in $(seq 2 "$N_SERF"); do
  start_serf "$(printf 's%02d' "$i")" "$(serf_ip "$i")" -join "$SEED"
done
start_serf serf-baseline "$BASE_IP" -join "$SEED"
BASE_PID=$BENCH_LAST_PID
bench_start ours "$BENCH_TMP/ours.log" \
  bash -c 'exec "$0" agent --bind "$1:7946" --node haserf-bench --join "$2" $HASERF_AGENT_ARGS >"$3"' \
  "$HASERF" "$OURS_IP" "$SEED" "$BENCH_TMP/ours.events"
OURS_PID=$BENCH_LAST_PID
T_START=$(date +%s.%N)

if ! poll 120 all_converged; then
  log "no convergence to $TOTAL alive within 120 s: ours sees $(alive_count_ours), baseline sees $(alive_count_serf $BASE_IP)"
  result gossip_error "no convergence (ours $(alive_count_ours), baseline $(alive_count_serf $BASE_IP))"
  exit 1
fi
CONVERGED_S=$(awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
log "converged: all $((N_SERF + 2)) agents see $TOTAL alive after ${CONVERGED_S}s; settling 5 s"
sleep 5

# Two clocks: the scheduler's exact per-thread runtime (ns; primary) and utime+stime from
# /proc/PID/stat (whole process including exited threads, but printed in 1/CLK_TCK s units).
declare -A T0=()
for i in $(seq 1 "$N_SERF"); do
  pid=$(eval echo "\$PID_$(printf 's%02d' "$i")")
  T0[$pid]=$(cpu_ns "$pid")
done
OURS0=$(cpu_ns "$OURS_PID"); BASE0=$(cpu_ns "$BASE_PID")
OURS0T=$(cpu_ticks "$OURS_PID"); BASE0T=$(cpu_ticks "$BASE_PID")
L0=$(cut -d' ' -f1 /proc/loadavg)
log "measuring CPU over ${WINDOW}s"
sleep "$WINDOW"
OURS1=$(cpu_ns "$OURS_PID"); BASE1=$(cpu_ns "$BASE_PID")
OURS1T=$(cpu_ticks "$OURS_PID"); BASE1T=$(cpu_ticks "$BASE_PID")
OURS_RSS=$(rss_kib "$OURS_PID")
BASE_RSS=$(rss_kib "$BASE_PID")
others=""
for pid in "${!T0[@]}"; do
  others+="$(( $(cpu_ns "$pid") - T0[$pid] )) "
done
L1=$(cut -d' ' -f1 /proc/loadavg)

secs() { awk -v n="$1" 'BEGIN { printf "%.4f", n / 1e9 }'; }
OURS_CPU=$(secs $((OURS1 - OURS0)))
BASE_CPU=$(secs $((BASE1 - BASE0)))
OURS_CPU_T=$(awk -v t=$((OURS1T - OURS0T)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
BASE_CPU_T=$(awk -v t=$((BASE1T - BASE0T)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
OTHERS=$(echo "$others" | tr ' ' '\n' | grep . | sort -n |
  awk '{ v[NR] = $1 / 1e9; s += v[NR] } END { printf "min %.4f / median %.4f / max %.4f / mean %.4f", v[1], v[int((NR + 1) / 2)], v[NR], s / NR }')
OTHERS_MEDIAN=$(echo "$others" | tr ' ' '\n' | grep . | sort -n |
  awk '{ v[NR] = $1 / 1e9 } END { printf "%.4f", v[int((NR + 1) / 2)] }')

result gossip_cluster_size "$TOTAL"
result gossip_converged_s "$CONVERGED_S"
result gossip_window_s "$WINDOW"
result gossip_cpu_s_haserf "$OURS_CPU"
result gossip_cpu_s_serf_baseline "$BASE_CPU"
result gossip_cpu_ratio "$(ratio "$OURS_CPU" "$BASE_CPU")"
result gossip_cpu_ticks_s_haserf "$OURS_CPU_T"
result gossip_cpu_ticks_s_serf_baseline "$BASE_CPU_T"
result gossip_cpu_s_other_serf "$OTHERS"
result gossip_cpu_ratio_vs_median_serf "$(ratio "$OURS_CPU" "$OTHERS_MEDIAN")"
result gossip_rss_kib_haserf "$OURS_RSS"
result gossip_rss_kib_serf_baseline "$BASE_RSS"
result gossip_rss_ratio "$(ratio "$OURS_RSS" "$BASE_RSS")"
result gossip_loadavg_1m "$L0 -> $L1"

# Health after the window: still 32 alive everywhere, and no failure events on our side.
if poll 10 all_converged; then result gossip_still_converged yes; else
  result gossip_still_converged "no (ours $(alive_count_ours), baseline $(alive_count_serf $BASE_IP))"
fi
result gossip_haserf_failed_events "$(grep -c '"member-failed"' "$BENCH_TMP/ours.events")"
result gossip_serf_suspect_lines "$(cat "$BENCH_TMP"/s*.log | grep -c 'memberlist: Suspect')"

# Like-for-like check (after the CPU window, so it cannot disturb it): capture TRAFFIC_S
# seconds of loopback traffic of both members and count what each sent and received. Two
# members doing the same SWIM work should send about the same number of packets.
TRAFFIC_S=${TRAFFIC_S:-20}
if command -v tshark >/dev/null && [ "$TRAFFIC_S" -gt 0 ]; then
  log "capturing ${TRAFFIC_S}s of traffic of both members (tshark)"
  timeout $((TRAFFIC_S + 10)) tshark -i lo -a "duration:$TRAFFIC_S" -w "$BENCH_TMP/traffic.pcap" \
    -f "host $OURS_IP or host $BASE_IP" >/dev/null 2>&1
  count() {  # DISPLAY_FILTER -> "packets bytes"
    tshark -r "$BENCH_TMP/traffic.pcap" -Y "$1" -T fields -e frame.len 2>/dev/null |
      awk '{ n++; b += $1 } END { printf "%d pkts %d B", n, b }'
  }
  for who in haserf:$OURS_IP serf_baseline:$BASE_IP; do
    ip=${who#*:}
    result "gossip_traffic_${who%%:*}" "udp sent $(count "udp && ip.src==$ip"), udp received $(count "udp && ip.dst==$ip"), tcp connects made $(count "tcp.flags.syn==1 && tcp.flags.ack==0 && ip.src==$ip" | cut -d' ' -f1), accepted $(count "tcp.flags.syn==1 && tcp.flags.ack==0 && ip.dst==$ip" | cut -d' ' -f1) (${TRAFFIC_S}s)"
  done
fi
