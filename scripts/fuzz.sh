#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each one.
#   scripts/fuzz.sh [SECONDS]          each target for SECONDS (default 30): CI's short run
#   scripts/fuzz.sh --runs N [TARGET...]  each target for N executions (make fuzz-long: 10^7),
#                                      then merges what it found into fuzz/corpus/TARGET
# Every run first replays fuzz/regressions/TARGET/* (inputs that once crashed: each must now
# pass) and starts from fuzz/seeds/TARGET.* plus the corpus kept in fuzz/corpus/TARGET.
# Working corpora and crashes live under build-fuzz/ (crashes: build-fuzz/crashes/); a crash
# found here is fixed with its input added to fuzz/regressions/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=seconds
AMOUNT=30
if [ "${1:-}" = --runs ]; then
  MODE=runs
  AMOUNT=${2:?--runs needs a count}
  shift 2
elif [ -n "${1:-}" ]; then
  AMOUNT=$1
  shift
fi
BUILD=build-fuzz
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz: installing clang and its fuzzer runtime" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq clang libclang-rt-dev >/dev/null 2>&1 ||
    apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DHASERF_FUZZ=ON \
  -DHASERF_SANITIZE="address,undefined" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(datagram stream serf template partials members_json handover rpc)
[ $# -gt 0 ] && targets=("$@")
cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"
mkdir -p "$BUILD/crashes"
# The longest input each target is given. Datagrams and streams reach 64 KiB on the wire (a
# push/pull of many members, a handover of a large table); messages inside a datagram, RPC
# requests, member lists and templates show every structure well below that, and inputs of
# tens of KiB cut a long run from thousands of executions per second to hundreds.
max_len() {
  case $1 in
    datagram | stream | handover) echo 65536 ;;
    *) echo 8192 ;;
  esac
}
# Flags for one target. libFuzzer's default scheduler (entropic) weighs each input by the rare
# features it reaches; mstch gives fuzz_template about 12,000 features, and the weighing took two
# thirds of its time (335 against 985 executions/s side by side, same corpus, neither found new
# coverage in that minute), so that target, and fuzz_partials on the same engine, run with the
# older scheduler.
target_flags() {
  case $1 in
    template | partials) echo -entropic=0 ;;
  esac
}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=0
# Targets that write files (fuzz_partials) write them here; removed at exit, with whatever a
# crashed run left behind.
export TMPDIR="$PWD/$BUILD/tmp"
mkdir -p "$TMPDIR"
trap 'rm -rf "$TMPDIR"' EXIT
status=0
for t in "${targets[@]}"; do
  bin=$BUILD/fuzz/fuzz_$t
  # Inputs that once crashed: libFuzzer runs each file given by name once.
  if compgen -G "fuzz/regressions/$t/*" >/dev/null; then
    if "$bin" fuzz/regressions/"$t"/* >"$BUILD/regressions_$t.log" 2>&1; then
      echo "== fuzz_$t: $(ls fuzz/regressions/"$t" | wc -l) regression inputs pass"
    else
      echo "fuzz_$t: a regression input fails again: see $BUILD/regressions_$t.log" >&2
      tail -30 "$BUILD/regressions_$t.log" >&2
      status=1
      continue
    fi
  fi
  corpus="$BUILD/corpus/$t"
  mkdir -p "$corpus"
  # Seeds: hex lines (binary protocols), one text file, or a folder of inputs; then the
  # kept corpus.
  if [ -f "fuzz/seeds/$t.hex" ]; then
    n=0
    while read -r line; do
      [ -z "$line" ] && continue
      n=$((n + 1))
      perl -e 'print pack("H*", join("", @ARGV))' $line >"$corpus/seed-$n"
    done <"fuzz/seeds/$t.hex"
  elif [ -f "fuzz/seeds/$t.txt" ]; then
    cp "fuzz/seeds/$t.txt" "$corpus/seed-1"
  elif [ -d "fuzz/seeds/$t" ]; then
    for f in fuzz/seeds/"$t"/*; do cp "$f" "$corpus/seed-$(basename "$f")"; done
  fi
  [ -d "fuzz/corpus/$t" ] && cp -n fuzz/corpus/"$t"/* "$corpus/" 2>/dev/null || true
  if [ "$MODE" = runs ]; then
    # One libFuzzer run on every core: -fork runs jobs in child processes over a shared corpus
    # and counts their executions together, so -runs is the total.
    limit=(-runs="$AMOUNT" -fork="$(nproc)")
    echo "== fuzz_$t for $AMOUNT executions, $(nproc) jobs at a time"
  else
    limit=(-max_total_time="$AMOUNT")
    echo "== fuzz_$t for ${AMOUNT}s"
  fi
  # shellcheck disable=SC2046 # target_flags prints words to split
  if ! "$bin" "${limit[@]}" $(target_flags "$t") -max_len="$(max_len "$t")" -rss_limit_mb=2048 -artifact_prefix="$BUILD/crashes/$t-" \
      -print_final_stats=1 "$corpus" 2>"$BUILD/fuzz_$t.log"; then
    echo "fuzz_$t FAILED: see $BUILD/fuzz_$t.log and $BUILD/crashes/" >&2
    tail -40 "$BUILD/fuzz_$t.log" >&2
    status=1
    continue
  fi
  grep -E "stat::number_of_executed_units|cov:" "$BUILD/fuzz_$t.log" | tail -2
  if [ "$MODE" = runs ]; then
    # Keep what the long run learned, minimized (-merge keeps only inputs that add coverage).
    mkdir -p "fuzz/corpus/$t"
    "$bin" -merge=1 -max_len="$(max_len "$t")" "fuzz/corpus/$t" "$corpus" >"$BUILD/merge_$t.log" 2>&1
    echo "   fuzz/corpus/$t: $(ls "fuzz/corpus/$t" | wc -l) inputs, $(du -sh "fuzz/corpus/$t" | cut -f1)"
  fi
done
exit $status
