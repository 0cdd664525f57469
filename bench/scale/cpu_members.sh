#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Gossip CPU against the number of members: bench/memory.sh once per COUNT (one push/pull of
# COUNT synthetic alive members nobody answers for, then the CPU time over AFTER seconds of
# probing, suspecting and re-gossiping them), haserf agent and a lone serf agent in the same
# run, then a plot (bench/scale/plot.py).
#
# usage: bench/scale/cpu_members.sh HASERF_BINARY PUSH_MEMBERS_BINARY [OUT.svg]
# Env: COUNTS (default "100 300 1000 3000"), AFTER (s, default 60). Prints key=value lines:
#   cpu_members_<COUNT>_haserf_s, cpu_members_<COUNT>_serf_s, cpu_members_<COUNT>_ratio.
set -u
HASERF=${1:?usage: cpu_members.sh HASERF_BINARY PUSH_MEMBERS_BINARY [OUT.svg]}
PUSH=${2:?usage: cpu_members.sh HASERF_BINARY PUSH_MEMBERS_BINARY [OUT.svg]}
OUT=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
COUNTS=${COUNTS:-100 300 1000 3000}
AFTER=${AFTER:-60}
RESULTS=$(mktemp /tmp/haserf-cpu-members.XXXXXX)
trap 'rm -f "$RESULTS"' EXIT
rc=0
for n in $COUNTS; do
  one=$(mktemp /tmp/haserf-cpu-members-one.XXXXXX)
  COUNT=$n AFTER=$AFTER BENCH_BUDGET=$((AFTER * 2 + 120)) BENCH_RESULT=$one \
    bash "$HERE/../memory.sh" "$HASERF" "$PUSH" >/dev/null 2>&1 || rc=1
  h=$(grep '^mem_haserf_after_cpu_s=' "$one" | tail -1 | cut -d= -f2)
  s=$(grep '^mem_serf_after_cpu_s=' "$one" | tail -1 | cut -d= -f2)
  r=$(grep '^mem_after_cpu_ratio=' "$one" | tail -1 | cut -d= -f2)
  rm -f "$one"
  printf 'cpu_members_%s_haserf_s=%s\ncpu_members_%s_serf_s=%s\ncpu_members_%s_ratio=%s\n' \
    "$n" "${h:-n/a}" "$n" "${s:-n/a}" "$n" "${r:-n/a}" | tee -a "$RESULTS"
done
echo "after_s=$AFTER" >>"$RESULTS"
[ -n "$OUT" ] && python3 "$HERE/plot.py" "$RESULTS" "$OUT" && echo "plot: $OUT"
exit "$rc"
