#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmark: what membership churn costs the HAProxy worker when its member holds many members.
# Issue target: at 10,000 members, 100 changes/s cost the worker under 5 % of one core, and the
# cost per change follows what changed, not the cluster's size.
#
# usage: bench/haproxy_members.sh BUILD [PUSH_MEMBERS_BINARY]
#   BUILD: a build dir with bindings/lua5.3/haserf.so (lua5.4 when the host's HAProxy has Lua
#   5.4) and bench/push_members (-DHASERF_BENCH=ON); a Release build for numbers to keep.
#
# For each member count (BASE_COUNT first, the baseline, then COUNT), in a fresh HAProxy:
#  1. the host's `haproxy` in master-worker mode with the glue (lua-load lua/haserf-haproxy.lua,
#     the module from BUILD), gossip on 127.0.47.1:7946, an admin frontend 127.0.47.1:8404 with
#     /haserf/metrics, backend `web` with `server-template web 100` driven by role=web members.
#     No health checks (they would probe 100 unreachable slots: noise, not membership work),
#     no template (no renders), no peers file.
#  2. `push_members push`: ONE push/pull with N synthetic alive members (node-0000.., at
#     127.0.48.x:20000+i, nobody listens there) tagged role=web,port=8080 (+ 3-4 generated
#     tags); waits until /haserf/metrics counts N + 1 members (ours included), then SETTLE s.
#  3. idle window: the worker's CPU over WINDOW s with no churn.
#  4. churn window: `push_members churn` sends RATE changes/s for WINDOW s, round robin over
#     the N members: one member alive again with a higher incarnation and a changed tag (gen=),
#     each a member-update in the table. VIA=udp (default): one alive message per datagram,
#     the way gossip delivers a change; VIA=tcp: one push/pull per change, whose reply holds
#     the receiver's whole state (an O(cluster) cost of the delivery, not of the change).
#     The churn window ends once the member has read every datagram (its UDP Recv-Q is
#     empty) plus 2 s for the glue's last sync: work still queued would otherwise go unpaid.
# CPU = utime + stime of the worker process, all threads (/proc/PID/stat, clock ticks: with
# 30 s windows 5 % is 150 ticks), with the scheduler's exact runtime of its live threads
# (schedstat) as a cross-check. The metrics page is read only between windows (serving it is
# not churn). Results, per count (hm_small_*, hm_large_*):
#   cpu_idle_pct, cpu_churn_pct   the worker's CPU in each window (% of one core)
#   churn_cost_pct                churn CPU less the idle rate over the same time, per second
#                                 of sending: = churn - idle when the worker keeps up
#   applied, applied_pct          changes the table applied (version moves less background)
#   ms_per_change                 CPU per applied change; cost_at_rate_pct = that x RATE
#   ms_per_change_member/haproxy  split between the module's threads (named haserf-*) and
#                                 HAProxy's (the Lua glue); n/a with a module that does not
#                                 name its threads
#   drain_s, udp_drops            how long the member needed to catch up after the sending;
#                                 datagrams the kernel dropped (its queue was full)
# and ratios large / small (hm_churn_cost_ratio, hm_ms_per_change_ratio, ...), hm_target_met
# (large churn_cost_pct < 5 and >= 95 % applied).
#
# Background churn: the synthetic members never answer, so the member probes them, suspects
# them and, after the suspicion timeout, declares them failed: table changes in both windows
# (few in practice: unanswered probes raise the member's awareness score, which slows probing
# to one every few seconds). changes_idle / changes_churn = how far the table version moved
# in each window (a batch of changes moves it once).
#
# Env: COUNT (9999: with HAProxy's own node 10,000 members, the member's limit, max_nodes),
# BASE_COUNT (100), RATE (100), WINDOW (30), SETTLE (5), VIA (udp), NBTHREAD (CPUs),
# LOAD_TIMEOUT (300: seconds for the push of COUNT members to be applied), BENCH_BUDGET (s),
# BENCH_KEEP_TMP=1 (keep HAProxy's logs and the metrics pages). Addresses: 127.0.47.1 and
# 127.0.48.1-250 only.
BUILD=${1:?usage: haproxy_members.sh BUILD [PUSH_MEMBERS_BINARY]}
BUILD=$(readlink -f "$BUILD")
PUSH=$(readlink -f "${2:-$BUILD/bench/push_members}")
SRC=$(cd "$(dirname "$0")/.." && pwd)
COUNT=${COUNT:-9999}
BASE_COUNT=${BASE_COUNT:-100}
RATE=${RATE:-100}
WINDOW=${WINDOW:-30}
SETTLE=${SETTLE:-5}
VIA=${VIA:-udp}
NBTHREAD=${NBTHREAD:-$(nproc)}
# Loading COUNT members is slow: the member publishes a whole table snapshot per join, so one
# push/pull of 9,999 nodes takes ~30 s in a bare `haserf agent` and longer in HAProxy, where
# the glue re-reads the growing table meanwhile.
LOAD_TIMEOUT=${LOAD_TIMEOUT:-300}
# Two runs, each: start, push and load, SETTLE, two windows, stop; one long load.
BENCH_BUDGET=${BENCH_BUDGET:-$((2 * (2 * WINDOW + SETTLE + 60) + LOAD_TIMEOUT + 60))}
. "$(dirname "$0")/lib.sh"

IP=127.0.47.1
SUBNET=127.0.48
SLOTS=100
TAGS=role=web,port=8080

for tool in haproxy curl ss; do
  command -v "$tool" >/dev/null || { log "$tool is required"; exit 1; }
done
[ -x "$PUSH" ] || { log "no $PUSH (build the push_members target, -DHASERF_BENCH=ON)"; exit 1; }
# The module for the Lua HAProxy was built with.
LUA=$(haproxy -vv 2>/dev/null | sed -n 's/.*Built with Lua version : Lua \([0-9]\.[0-9]\).*/\1/p' | head -n 1)
MODULE_DIR=$BUILD/bindings/lua${LUA:-5.3}
[ -e "$MODULE_DIR/haserf.so" ] || { log "no $MODULE_DIR/haserf.so (build haserf_lua${LUA//./})"; exit 1; }
if [ "$COUNT" -ge 10000 ]; then
  log "COUNT=$COUNT: the member holds at most 10,000 nodes, its own included; the rest are refused"
fi

write_config() {  # DIR
  cat >"$1/haproxy.cfg" <<EOF
global
    nbthread $NBTHREAD
    log stderr format short local0 info
    hard-stop-after 10s
    setenv HASERF_BIND "$IP:7946"
    setenv HASERF_NODE "haproxy-bench"
    setenv HASERF_TAGS "role=lb"
    setenv HASERF_SELECT "role=web"
    setenv HASERF_BACKENDS "web"
    lua-prepend-path "$MODULE_DIR/?.so" cpath
    lua-load "$SRC/lua/haserf-haproxy.lua"

defaults
    mode http
    log global
    timeout connect 1s
    timeout client 30s
    timeout server 30s

frontend admin
    bind $IP:8404
    http-request use-service lua.haserf-metrics if { path /haserf/metrics }
    http-request deny deny_status 404

frontend web
    bind $IP:8080
    default_backend web

backend web
    balance roundrobin
    server-template web $SLOTS 127.0.0.1:1 disabled
EOF
}

get() { grep "^$1=" "$BENCH_RESULT" | tail -1 | cut -d= -f2; }
metrics() { curl -sf --max-time 30 --interface "$IP" "http://$IP:8404/haserf/metrics"; }
# metric FILE NAME[{labels}]: its value ("" when absent). Sums every series when no labels.
metric() {
  awk -v n="$2" '$1 == n || (index(n, "{") == 0 && index($1, n "{") == 1) { s += $2; f = 1 }
                 END { if (f) print s }' "$1"
}
now_s() { date +%s.%N; }
# (Parentheses: a bare `>` in awk's printf arguments is an output redirection.)
pct() { awk -v t="$1" -v hz="$CLK_TCK" -v s="$2" 'BEGIN { printf "%.2f\n", (s > 0) ? 100 * t / hz / s : 0 }'; }
pct_ns() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.2f\n", (s > 0) ? 100 * n / 1e9 / s : 0 }'; }
members_at_least() { metrics >"$1" && [ "$(metric "$1" haserf_members)" -ge "$2" ] 2>/dev/null; }
no_gossip_listener() { ! listening "$IP:7946"; }
# The member's UDP socket: bytes queued and not read yet (Recv-Q), datagrams the kernel
# dropped because that queue was full (skmem's d).
udp_queue_empty() { [ "$(ss -Hnua "src $IP:7946" | awk '{ print $2; exit }')" = 0 ]; }
udp_drops() { local d; d=$(ss -Hnuam "src $IP:7946" | sed -n 's/.*,d\([0-9]*\)).*/\1/p' | head -n 1); echo "${d:-0}"; }

# Ticks of the worker's live threads named haserf-* (the module's own: gossip, table
# snapshots); the rest is HAProxy's threads, where the Lua glue runs. "-" when no thread has
# such a name (a module that does not name its threads): then there is no split.
member_ticks() {
  awk '{ match($0, /\(.*\)/); comm = substr($0, RSTART + 1, RLENGTH - 2)
         split(substr($0, RSTART + RLENGTH + 1), f, " ")
         if (comm ~ /^haserf/) { s += f[12] + f[13]; n++ } }
       END { if (n) print s; else print "-" }' /proc/"$1"/task/*/stat 2>/dev/null
}
# One CPU sample of the worker: "ticks ns seconds member_ticks".
sample() { echo "$(cpu_ticks "$WORKER") $(cpu_ns "$WORKER") $(now_s) $(member_ticks "$WORKER")"; }
# window_result TAG NAME "t0 ns0 s0" "t1 ns1 s1": CPU % over the window, by ticks and by ns.
window_result() {
  local tag=$1 name=$2 t0 n0 s0 m0 t1 n1 s1 m1 secs
  read -r t0 n0 s0 m0 <<<"$3"
  read -r t1 n1 s1 m1 <<<"$4"
  secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.3f\n", b - a }')
  result "hm_${tag}_${name}_s" "$secs"
  result "hm_${tag}_${name}_ticks" $((t1 - t0))
  if [ "$m0" = - ] || [ "$m1" = - ]; then
    result "hm_${tag}_${name}_member_ticks" n/a
  else
    result "hm_${tag}_${name}_member_ticks" $((m1 - m0))
  fi
  result "hm_${tag}_cpu_${name}_pct" "$(pct $((t1 - t0)) "$secs")"
  result "hm_${tag}_cpu_${name}_sched_pct" "$(pct_ns $((n1 - n0)) "$secs")"
}

run_one() {  # TAG N
  local tag=$1 n=$2 dir=$BENCH_TMP/$1 master v0 v1 v2 s0 s1 s2 t_push
  mkdir -p "$dir"
  write_config "$dir"
  haproxy -c -q -f "$dir/haproxy.cfg" >"$dir/check.log" 2>&1 || { log "haproxy -c failed: $(cat "$dir/check.log")"; return 1; }
  poll 15 no_gossip_listener || { log "$IP:7946 is in use by someone else"; return 1; }
  bench_start "ha_$tag" "$dir/haproxy.log" haproxy -W -db -f "$dir/haproxy.cfg"
  master=$BENCH_LAST_PID
  # The worker is the master's child; the gossip member and the glue live there.
  poll 20 pgrep -P "$master" || { log "no HAProxy worker; log: $(tail -n 5 "$dir/haproxy.log")"; return 1; }
  WORKER=$(pgrep -P "$master" | head -n 1)
  bench_track "$WORKER"
  if ! poll 20 listening "$IP:7946" || ! poll 20 listening "$IP:8404"; then
    log "HAProxy does not listen; log: $(tail -n 5 "$dir/haproxy.log")"
    return 1
  fi
  log "$tag: HAProxy master $master, worker $WORKER; pushing $n members"

  t_push=$(now_s)
  # In the background (bench_start + wait), like the churn below: a TERM from the watchdog
  # then runs the trap at once instead of after the push.
  bench_start "push_$tag" "$dir/push.out" timeout $((LOAD_TIMEOUT + 10)) "$PUSH" push \
    --target "$IP:7946" --count "$n" --subnet "$SUBNET" --tags "$TAGS" --timeout "$LOAD_TIMEOUT"
  wait "$BENCH_LAST_PID" || { log "push failed: $(cat "$dir/push.out")"; return 1; }
  sed "s/^/hm_${tag}_push_/" "$dir/push.out" | tee -a "$BENCH_RESULT"
  poll 60 members_at_least "$dir/m0.txt" $((n + 1)) ||
    { log "the table holds $(metric "$dir/m0.txt" haserf_members) members, not $((n + 1))"; return 1; }
  result "hm_${tag}_members" "$(metric "$dir/m0.txt" haserf_members)"
  result "hm_${tag}_load_s" "$(awk -v a="$t_push" -v b="$(now_s)" 'BEGIN { printf "%.1f\n", b - a }')"
  sleep "$SETTLE"

  # (a) idle: N members, only the background churn.
  metrics >"$dir/m1.txt" || { log "metrics failed"; return 1; }
  result "hm_${tag}_slots_used" "$(metric "$dir/m1.txt" "haserf_slots{backend=\"web\",state=\"used\"}")"
  s0=$(sample)
  sleep "$WINDOW"
  s1=$(sample)
  metrics >"$dir/m2.txt" || { log "metrics failed"; return 1; }
  window_result "$tag" idle "$s0" "$s1"

  # (b) churn: RATE changes/s on top. push_members runs in the background so that the EXIT
  # trap stops it if the budget runs out.
  s1=$(sample)
  drops1=$(udp_drops)
  bench_start "churn_$tag" "$dir/churn.out" timeout $((WINDOW + 30)) "$PUSH" churn --target "$IP:7946" \
    --count "$n" --subnet "$SUBNET" --tags "$TAGS" --rate "$RATE" --duration "$WINDOW" --via "$VIA"
  wait "$BENCH_LAST_PID"
  local crc=$? sent_end drained=yes
  sent_end=$(now_s)
  sed "s/^/hm_${tag}_churn_/" "$dir/churn.out" | tee -a "$BENCH_RESULT"
  [ "$crc" = 0 ] || { log "push_members churn failed (exit $crc)"; return 1; }
  # Datagrams the member has not read yet are work the window has not paid for: a worker that
  # falls behind (or is starved by other load) would look cheap. The window ends once its UDP
  # queue is empty, plus 2 s for the glue's last sync; the idle rate is subtracted over the
  # whole of it, so the extra seconds cost nothing.
  poll $((WINDOW + 30)) udp_queue_empty || drained=no
  result "hm_${tag}_drain_s" "$(awk -v a="$sent_end" -v b="$(now_s)" 'BEGIN { printf "%.1f\n", b - a }')"
  result "hm_${tag}_drained" "$drained"
  sleep 2
  s2=$(sample)
  result "hm_${tag}_udp_drops" $(($(udp_drops) - drops1))
  metrics >"$dir/m3.txt" || { log "metrics failed"; return 1; }
  window_result "$tag" churn "$s1" "$s2"

  v0=$(metric "$dir/m1.txt" haserf_table_version)
  v1=$(metric "$dir/m2.txt" haserf_table_version)
  v2=$(metric "$dir/m3.txt" haserf_table_version)
  result "hm_${tag}_changes_idle" $((v1 - v0))
  result "hm_${tag}_changes_churn" $((v2 - v1))
  result "hm_${tag}_received_churn" \
    $(($(metric "$dir/m3.txt" haserf_packets_received_total) - $(metric "$dir/m2.txt" haserf_packets_received_total)))
  # The cost of the churn: CPU over the churn window minus the idle rate over the same time,
  # per second of sending (= churn - idle when the worker kept up), and per change the table
  # applied (its version moves, less the background's share), split into the module's threads
  # (member) and HAProxy's (glue).
  awk -v it="$(get "hm_${tag}_idle_ticks")" -v is="$(get "hm_${tag}_idle_s")" \
    -v ct="$(get "hm_${tag}_churn_ticks")" -v cs="$(get "hm_${tag}_churn_s")" -v hz="$CLK_TCK" \
    -v sent_s="$(get "hm_${tag}_churn_elapsed_s")" -v ci="$((v1 - v0))" -v cc="$((v2 - v1))" \
    -v sent="$(get "hm_${tag}_churn_sent")" -v rate="$RATE" -v tag="$tag" \
    -v im="$(get "hm_${tag}_idle_member_ticks")" -v cm="$(get "hm_${tag}_churn_member_ticks")" 'BEGIN {
      extra = ct / hz - (it / hz) / is * cs
      extra_member = cm / hz - (im / hz) / is * cs
      applied = cc - ci * cs / is
      printf "hm_%s_churn_cost_pct=%.2f\n", tag, 100 * extra / sent_s
      printf "hm_%s_applied=%.0f\n", tag, applied
      printf "hm_%s_applied_pct=%.1f\n", tag, (sent > 0) ? 100 * applied / sent : 0
      ms = (applied > 0) ? 1000 * extra / applied : 0
      printf "hm_%s_ms_per_change=%.3f\n", tag, ms
      if (im == "n/a" || cm == "n/a") {
        printf "hm_%s_ms_per_change_member=n/a\nhm_%s_ms_per_change_haproxy=n/a\n", tag, tag
      } else {
        mm = (applied > 0) ? 1000 * extra_member / applied : 0
        printf "hm_%s_ms_per_change_member=%.3f\n", tag, mm
        printf "hm_%s_ms_per_change_haproxy=%.3f\n", tag, ms - mm
      }
      printf "hm_%s_cost_at_rate_pct=%.2f\n", tag, ms * rate / 10
    }' | tee -a "$BENCH_RESULT"
  local st
  for st in alive suspect failed; do
    result "hm_${tag}_end_${st}" "$(metric "$dir/m3.txt" "haserf_members{status=\"$st\"}")"
  done
  result "hm_${tag}_glue_errors" "$(metric "$dir/m3.txt" haserf_glue_errors_total)"
  result "hm_${tag}_rss_kib" "$(rss_kib "$WORKER")"
  bench_stop 12 "$master" "$WORKER"
  return 0
}

rc=0
result hm_haproxy "$(haproxy -v | awk 'NR == 1 { print $3 }')"
result hm_lua "${LUA:-5.3}"
result hm_nbthread "$NBTHREAD"
result hm_rate "$RATE"
result hm_window_s "$WINDOW"
result hm_via "$VIA"
result hm_small_count "$BASE_COUNT"
result hm_large_count "$COUNT"
for t in small large; do
  n=$BASE_COUNT
  [ "$t" = large ] && n=$COUNT
  run_one "$t" "$n" || { rc=1; break; }
done
if [ "$rc" = 0 ]; then
  result hm_churn_cost_ratio "$(ratio "$(get hm_large_churn_cost_pct)" "$(get hm_small_churn_cost_pct)")"
  result hm_idle_ratio "$(ratio "$(get hm_large_cpu_idle_pct)" "$(get hm_small_cpu_idle_pct)")"
  result hm_ms_per_change_ratio "$(ratio "$(get hm_large_ms_per_change)" "$(get hm_small_ms_per_change)")"
  for part in member haproxy; do
    large=$(get "hm_large_ms_per_change_$part")
    small=$(get "hm_small_ms_per_change_$part")
    if [ "$large" = n/a ] || [ "$small" = n/a ]; then
      result "hm_ms_per_change_${part}_ratio" n/a
    else
      result "hm_ms_per_change_${part}_ratio" "$(ratio "$large" "$small")"
    fi
  done
  # Met: the churn costs under 5 % of a core AND the table applied (nearly) every change.
  result hm_target_met "$(awk -v c="$(get hm_large_churn_cost_pct)" -v a="$(get hm_large_applied_pct)" \
    'BEGIN { if (c < 5 && a >= 95) print "yes"; else print "no" }')"
fi
exit "$rc"
