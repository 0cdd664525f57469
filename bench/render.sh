#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `haserf render` against mustache.js and handlebars.js under node (the baselines, measured in
# the same run): the same haproxy.cfg template (bench/render/haproxy.cfg.mustache) rendered
# from the same synthetic `serf members -format=json` list, each engine as a whole process
# (start-up, JSON parsing, context, render, write), output to a file. Not part of `make test`.
#
# usage: bench/render.sh [BUILD_DIR]        (default: build; needs BUILD_DIR/cli/haserf)
#
# For each member count: generate the members once, render once per engine and require
# identical output (a comparison is only fair if all three produce the same file), then
# REPEAT timed runs per engine, interleaved; keep the best time and that run's max RSS
# (`/usr/bin/time -f '%e %M'`). Prints key=value lines and a markdown table; keeps them in
# BUILD_DIR/bench-results/render-YYYYmmdd-HHMMSS.txt and plots BUILD_DIR/bench-results/
# render-scale.svg. Env: COUNTS ("1000 10000 100000"), REPEAT (3), RUN_TIMEOUT (120 s a run).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
RD=$HERE/render
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$SRC/$BUILD" ;; esac
COUNTS=${COUNTS:-"1000 10000 100000"}
REPEAT=${REPEAT:-3}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
ENGINES="haserf mustache handlebars"

[ -x "$BUILD/cli/haserf" ] || { echo "render: no $BUILD/cli/haserf (run 'make build' first)" >&2; exit 1; }
for tool in node npm python3 /usr/bin/time timeout; do
  command -v "$tool" >/dev/null || { echo "render: $tool is required" >&2; exit 1; }
done
# The baselines from npm, pinned by package-lock.json (as bench/recipe does for handlebars-cmd).
if [ ! -f "$RD/node_modules/mustache/package.json" ] || [ ! -f "$RD/node_modules/handlebars/package.json" ]; then
  (cd "$RD" && timeout 300 npm ci --silent --no-audit --no-fund >/dev/null) ||
    { echo "render: npm ci failed in bench/render" >&2; exit 1; }
fi

TMP=$(mktemp -d /tmp/haserf-render.XXXXXX)
RUN_PID=
# The timed command runs in the background, in timeout's own process group, which a signal to
# ours (run.sh's timeout) does not reach: stop it, and wait so that it creates no file during
# the rm. Signals are ignored meanwhile: timeout signals us twice, and an `exit` trap inside
# cleanup would cut it short. No "$(a)..$(b)" words in this shell: bash 5.2 misparses a trap
# that fires inside such an $(a), and aborts without cleaning up.
cleanup() {
  trap '' INT TERM HUP
  [ -n "$RUN_PID" ] && kill -TERM "$RUN_PID" 2>/dev/null
  wait
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# A private copy of the binary: another build may replace BUILD/cli/haserf mid-run, and every
# count must be measured with the same one.
cp "$BUILD/cli/haserf" "$TMP/haserf" || exit 1

OUT_DIR="$BUILD/bench-results"
mkdir -p "$OUT_DIR"
OUT="$OUT_DIR/render-$(date +%Y%m%d-%H%M%S).txt"
: >"$OUT"
# res KEY VALUE: to stdout, to our results file, and to run.sh's when it runs us.
res() {
  echo "$1=$2" | tee -a "$OUT"
  if [ -n "${BENCH_RESULT:-}" ] && [ "$BENCH_RESULT" != "$OUT" ]; then echo "$1=$2" >>"$BENCH_RESULT"; fi
}

res render_date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
res render_cpu "$(nproc) x $cpu"
version=$("$TMP/haserf" version 2>/dev/null | head -1)
rev=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)
dirty=$(git -C "$SRC" --no-optional-locks status --porcelain -- core cli 2>/dev/null)
res render_haserf "$version $rev${dirty:++local changes}"
bt=unknown
[ -f "$BUILD/CMakeCache.txt" ] && bt=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt")
res render_haserf_build "${bt:-RelWithDebInfo (the project default)}"
res render_node "$(node -v)"
res render_mustache_js "$(node -p 'require(process.argv[1]).version' "$RD/node_modules/mustache/package.json")"
res render_handlebars_js "$(node -p 'require(process.argv[1]).version' "$RD/node_modules/handlebars/package.json")"
res render_repeat "$REPEAT"
res render_loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"

TEMPLATE=$RD/haproxy.cfg.mustache
# run ENGINE MEMBERS OUTFILE: sets RUN_S and RUN_KIB, elapsed and max RSS of the engine's
# process alone (`time` runs inside `timeout`, so its numbers are not timeout's). Runs in this
# shell, not in a $(...) subshell, so that cleanup() sees the job.
run() {
  local c=("$TMP/haserf" render -q -t "$TEMPLATE" -m "$2") rc
  [ "$1" = haserf ] || c=(node "$RD/render.js" "$1" "$TEMPLATE" "$2")
  timeout -k 5 "$RUN_TIMEOUT" /usr/bin/time -f '%e %M' -o "$TMP/time" "${c[@]}" >"$3" 2>"$TMP/err" </dev/null &
  RUN_PID=$!
  wait "$RUN_PID"
  rc=$?
  RUN_PID=
  if [ "$rc" != 0 ]; then
    echo "render: $1 failed (exit $rc; 124: over ${RUN_TIMEOUT}s) on $2:" >&2
    head -5 "$TMP/err" >&2
    return 1
  fi
  read -r RUN_S RUN_KIB <"$TMP/time"
}
# first_diff A B: the first differing lines, for the reader to see what differs.
first_diff() { diff "$1" "$2" | head -12 >&2; }

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
declare -A T=() M=()
for n in $COUNTS; do
  members=$TMP/members-$n.json
  python3 "$RD/gen_members.py" "$n" >"$members" || { echo "render: gen_members.py $n failed" >&2; exit 1; }
  # Untimed pass: checks the three outputs, and warms the page cache for all three alike.
  for e in $ENGINES; do
    run "$e" "$members" "$TMP/out-$n-$e.cfg" || exit 1
  done
  if ! cmp -s "$TMP/out-$n-mustache.cfg" "$TMP/out-$n-handlebars.cfg"; then
    echo "render: n=$n: mustache.js and handlebars.js outputs differ (bench/render/render.js?):" >&2
    first_diff "$TMP/out-$n-mustache.cfg" "$TMP/out-$n-handlebars.cfg"
    exit 1
  fi
  if ! cmp -s "$TMP/out-$n-haserf.cfg" "$TMP/out-$n-mustache.cfg"; then
    echo "render: n=$n: haserf's output differs from mustache.js's (< haserf, > mustache.js):" >&2
    first_diff "$TMP/out-$n-haserf.cfg" "$TMP/out-$n-mustache.cfg"
    exit 1
  fi
  # Alive backends by gen_members.py's rules (not role=cache: i%10==5; not failed: i%20==0):
  # guards against the three agreeing on a wrong file.
  want=$(awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) if (i % 10 != 5 && i % 20 != 0) c++; print c + 0 }')
  got=$(grep -c '^    server ' "$TMP/out-$n-haserf.cfg")
  [ "$got" = "$want" ] || { echo "render: n=$n: $got server lines, expected $want" >&2; exit 1; }
  res "render_n${n}_output_bytes" "$(wc -c <"$TMP/out-$n-haserf.cfg")"
  res "render_n${n}_servers" "$got"

  # Timed runs, interleaved so that a burst of load hits every engine alike.
  declare -A runs=()
  for ((r = 1; r <= REPEAT; r++)); do
    for e in $ENGINES; do
      run "$e" "$members" "$TMP/out.cfg" || exit 1
      runs[$e]+="$RUN_S "
      if [ -z "${T[$n$e]:-}" ] || awk -v a="$RUN_S" -v b="${T[$n$e]}" 'BEGIN { exit !(a < b) }'; then
        T[$n$e]=$RUN_S M[$n$e]=$RUN_KIB
      fi
    done
  done
  for e in $ENGINES; do
    res "render_n${n}_${e}_s" "${T[$n$e]}"
    res "render_n${n}_${e}_rss_kib" "${M[$n$e]}"
    res "render_n${n}_${e}_runs_s" "${runs[$e]% }"
  done
  unset runs
  fast=mustache
  awk -v a="${T[${n}handlebars]}" -v b="${T[${n}mustache]}" 'BEGIN { exit !(a < b) }' && fast=handlebars
  res "render_n${n}_fastest_js" "$fast"
  res "render_n${n}_fastest_js_s" "${T[$n$fast]}"
  res "render_n${n}_ratio" "$(awk -v a="${T[${n}haserf]}" -v b="${T[$n$fast]}" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')"
  res "render_n${n}_rss_ratio" "$(awk -v a="${M[${n}haserf]}" -v b="${M[$n$fast]}" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')"
done
res render_loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"

# Summary (markdown). Times are /usr/bin/time's %e: 10 ms resolution.
get() { sed -n "s/^$1=//p" "$OUT" | tail -1; }
cell() { echo "$(get "render_n$1_$2_s") s, $(mib "$(get "render_n$1_$2_rss_kib")") MiB"; }
yes_no() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == "<=") ? (v <= l) : (v < l); print ok ? "yes" : "NO" }'; }
{
  echo
  echo "| members | haserf | mustache.js | handlebars.js | haserf / fastest JS | target | met? |"
  echo "|---|---|---|---|---|---|---|"
  for n in $COUNTS; do
    target="-" met="-"
    case $n in
      10000)
        target="ratio <= 0.5, haserf RSS <= 64 MiB"
        met="$(yes_no "$(get "render_n${n}_ratio")" '<=' 0.5), $(yes_no "$(get "render_n${n}_haserf_rss_kib")" '<=' 65536)" ;;
      100000)
        target="haserf < 1 s"
        met=$(yes_no "$(get "render_n${n}_haserf_s")" '<' 1) ;;
    esac
    echo "| $n | $(cell "$n" haserf) | $(cell "$n" mustache) | $(cell "$n" handlebars) | $(get "render_n${n}_ratio") ($(get "render_n${n}_fastest_js").js) | $target | $met |"
  done
  echo
  echo "(whole processes, best of $REPEAT; time and max RSS by /usr/bin/time -f '%e %M')"
} | tee -a "$OUT"

SVG=$OUT_DIR/render-scale.svg
if timeout 60 python3 "$RD/plot.py" "$OUT" "$SVG"; then echo "plot: $SVG"; else echo "render: plot.py failed" >&2; fi
echo "raw results: $OUT"
