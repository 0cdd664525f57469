#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every haserf benchmark (bench/README.md) against the real `serf agent` as the baseline
# measured in the same run, and prints a summary table. Not part of `make test`.
#
# usage: bench/run.sh [BUILD_DIR]        (default: build; needs BUILD_DIR/cli/haserf)
#
# Each benchmark has its own time budget (gossip 240 s, memory 120 s, latency 150 s, rpc
# 150 s, render 600 s) and an outer `timeout` on top; the whole run takes about 4 minutes. Raw key=value
# results go to BUILD_DIR/bench-results/results-YYYYmmdd-HHMMSS.txt. Env: ONLY="gossip memory
# latency rpc render" (subset), plus the knobs of each script (WINDOW, N_SERF, COUNT, AFTER,
# SAMPLES, COUNTS, REPEAT, ...).
set -u
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$SRC/$BUILD" ;; esac
HASERF="$BUILD/cli/haserf"
ONLY=${ONLY:-"gossip memory latency rpc render"}

[ -x "$HASERF" ] || { echo "bench: no $HASERF (run 'make build' first)" >&2; exit 1; }
for tool in serf jq ss; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done

# The push/pull tool: from the main build when it was configured with -DHASERF_BENCH=ON,
# otherwise a standalone build of bench/ (it compiles core/wire itself).
PUSH="$BUILD/bench/push_members"
if [ ! -x "$PUSH" ]; then
  SA="$BUILD/bench-standalone"
  if [ ! -f "$SA/CMakeCache.txt" ]; then
    cmake -S "$SRC/bench" -B "$SA" -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
  fi
  cmake --build "$SA" -j "$(nproc)" >/dev/null || { echo "bench: building push_members failed" >&2; exit 1; }
  PUSH="$SA/push_members"
fi

OUT_DIR="$BUILD/bench-results"
mkdir -p "$OUT_DIR"
STAMP=$(date +%Y%m%d-%H%M%S)
export BENCH_RESULT="$OUT_DIR/results-$STAMP.txt"
: >"$BENCH_RESULT"

info() { echo "$1=$2" >>"$BENCH_RESULT"; }
info date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
info cpu "$(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
info mem_total "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
info kernel "$(uname -r)"
info os "$(. /etc/os-release && echo "$PRETTY_NAME")"
info serf "$(dpkg-query -W -f '${Version}' serf 2>/dev/null || true) ($(serf version | head -1))"
info haserf "$("$HASERF" --version 2>/dev/null | head -1) $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)$([ -n "$(git -C "$SRC" --no-optional-locks status --porcelain -- core cli 2>/dev/null)" ] && echo "+local changes")"
info haserf_build "$(grep -m1 '^CMAKE_BUILD_TYPE' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2)"
info compiler "$(c++ --version | head -1)"
info loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
cat "$BENCH_RESULT" | sed 's/^/# /'

rc=0
run() {  # NAME OUTER_TIMEOUT SCRIPT ARGS...
  local name=$1 bound=$2
  shift 2
  case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
  echo "== $name"
  timeout -k 10 "$bound" bash "$@" || { echo "== $name: FAILED (exit $?)"; rc=1; }
}
run gossip 300 "$SRC/bench/gossip_cpu.sh" "$HASERF"
run memory 150 "$SRC/bench/memory.sh" "$HASERF" "$PUSH"
run latency 180 "$SRC/bench/join_latency.sh" "$HASERF" "$PUSH"
RT="$(dirname "$PUSH")/rpc_roundtrip"
run rpc 200 "$SRC/bench/rpc_latency.sh" "$HASERF" "$RT"
run render 600 "$SRC/bench/render.sh" "$BUILD"
info loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"

# Summary (markdown, ready for docs/performance.md).
get() { grep "^$1=" "$BENCH_RESULT" | tail -1 | cut -d= -f2-; }
mib() { [ -n "$1" ] && awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }' || echo "-"; }
met() {  # VALUE OP LIMIT
  [ -z "$1" ] || [ "$1" = n/a ] && { echo "-"; return; }
  awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == "<=") ? (v <= l) : (op == "<") ? (v < l) : (v >= l); print ok ? "yes" : "NO" }'
}
echo
echo "| metric | haserf | baseline (serf agent) | ratio | target | met? |"
echo "|---|---|---|---|---|---|"
case " $ONLY " in *" gossip "*)
  echo "| CPU over $(get gossip_window_s) s in a $(get gossip_cluster_size)-node cluster | $(get gossip_cpu_s_haserf) s | $(get gossip_cpu_s_serf_baseline) s | $(get gossip_cpu_ratio) | <= 0.3x | $(met "$(get gossip_cpu_ratio)" '<=' 0.3) |"
  echo "| RSS in that cluster | $(mib "$(get gossip_rss_kib_haserf)") | $(mib "$(get gossip_rss_kib_serf_baseline)") | $(get gossip_rss_ratio) | - | - |"
  ;; esac
case " $ONLY " in *" memory "*)
  echo "| RSS over baseline, 1,000 members, right after merge | $(mib "$(get mem_haserf_delta_merged_kib)") | $(mib "$(get mem_serf_delta_merged_kib)") | $(get mem_delta_merged_ratio) | <= 10 MiB | $(met "$(get mem_haserf_delta_merged_kib)" '<=' 10240) |"
  echo "| RSS over baseline, 1,000 members, $(get mem_haserf_after_s) s later | $(mib "$(get mem_haserf_delta_after_kib)") | $(mib "$(get mem_serf_delta_after_kib)") | $(get mem_delta_after_ratio) | <= 10 MiB | $(met "$(get mem_haserf_delta_after_kib)" '<=' 10240) |"
  echo "| RSS baseline (lone agent) | $(mib "$(get mem_haserf_base_rss_kib)") | $(mib "$(get mem_serf_base_rss_kib)") | - | - | - |"
  ;; esac
case " $ONLY " in *" latency "*)
  echo "| join-to-visible median | $(get join_haserf_median_ms) ms | $(get join_serf_median_ms) ms | $(get join_median_ratio) | <= 20 ms | $(met "$(get join_haserf_median_ms)" '<=' 20) |"
  echo "| join-to-visible p95 / max | $(get join_haserf_p95_ms) / $(get join_haserf_max_ms) ms | $(get join_serf_p95_ms) / $(get join_serf_max_ms) ms | $(get join_p95_ratio) | <= 20 ms | $(met "$(get join_haserf_max_ms)" '<=' 20) |"
  pre=$(grep -o '^join_haserf_pre[0-9]*_median_ms' "$BENCH_RESULT" | head -1 | sed 's/^join_haserf_pre//; s/_median_ms//')
  if [ -n "$pre" ]; then
    echo "| join-to-visible median, $pre members already in the table | $(get join_haserf_pre${pre}_median_ms) ms | $(get join_serf_pre${pre}_median_ms) ms | $(get join_pre${pre}_median_ratio) | <= 20 ms | $(met "$(get join_haserf_pre${pre}_median_ms)" '<=' 20) |"
    echo "| join-to-visible p95 / max, $pre members already in the table | $(get join_haserf_pre${pre}_p95_ms) / $(get join_haserf_pre${pre}_max_ms) ms | $(get join_serf_pre${pre}_p95_ms) / $(get join_serf_pre${pre}_max_ms) ms | $(get join_pre${pre}_p95_ratio) | <= 20 ms | $(met "$(get join_haserf_pre${pre}_max_ms)" '<=' 20) |"
  fi
  ;; esac
case " $ONLY " in *" rpc "*)
  echo "| \`serf members\` against the agent (RPC, CLI process included), median / p95, $(get rpc_cluster_size) members | $(get rpc_members_haserf_median_ms) / $(get rpc_members_haserf_p95_ms) ms | $(get rpc_members_serf_median_ms) / $(get rpc_members_serf_p95_ms) ms | $(get rpc_members_median_ratio) | - | - |"
  echo "| \`serf info\` against the agent, median / p95 | $(get rpc_info_haserf_median_ms) / $(get rpc_info_haserf_p95_ms) ms | $(get rpc_info_serf_median_ms) / $(get rpc_info_serf_p95_ms) ms | $(get rpc_info_median_ratio) | - | - |"
  echo "| \`members\` round trip on one RPC connection (agent side), median / p95 | $(get rpc_roundtrip_haserf_median_ms) / $(get rpc_roundtrip_haserf_p95_ms) ms | $(get rpc_roundtrip_serf_median_ms) / $(get rpc_roundtrip_serf_p95_ms) ms | $(get rpc_roundtrip_median_ratio) | - | - |"
  ;; esac
# render: the baseline is the faster of mustache.js and handlebars.js (whole node processes).
case " $ONLY " in *" render "*)
  if [ -n "$(get render_n10000_ratio)" ]; then
    js=$(get render_n10000_fastest_js)
    echo "| render 10,000 members (time) | $(get render_n10000_haserf_s) s | $(get render_n10000_fastest_js_s) s ($js.js) | $(get render_n10000_ratio) | <= 0.5x | $(met "$(get render_n10000_ratio)" '<=' 0.5) |"
    echo "| render 10,000 members (max RSS) | $(mib "$(get render_n10000_haserf_rss_kib)") | $(mib "$(get render_n10000_${js}_rss_kib)") ($js.js) | $(get render_n10000_rss_ratio) | <= 64 MiB | $(met "$(get render_n10000_haserf_rss_kib)" '<=' 65536) |"
  fi
  if [ -n "$(get render_n100000_ratio)" ]; then
    echo "| render 100,000 members (time) | $(get render_n100000_haserf_s) s | $(get render_n100000_fastest_js_s) s ($(get render_n100000_fastest_js).js) | $(get render_n100000_ratio) | < 1 s | $(met "$(get render_n100000_haserf_s)" '<' 1) |"
  fi
  ;; esac
echo
echo "raw results: $BENCH_RESULT"
exit "$rc"
