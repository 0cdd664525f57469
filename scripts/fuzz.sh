#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for SECONDS (default 30).
# Usage: scripts/fuzz.sh [SECONDS]. Crashes are kept under build-fuzz/crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
BUILD=build-fuzz
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz: installing clang and its fuzzer runtime" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq clang libclang-rt-dev >/dev/null 2>&1 ||
    apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DHASERF_FUZZ=ON \
  -DHASERF_SANITIZE="address,undefined" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(datagram stream serf template members_json handover rpc)
cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"
mkdir -p "$BUILD/crashes"
status=0
for t in "${targets[@]}"; do
  corpus="$BUILD/corpus/$t"
  mkdir -p "$corpus"
  # Seeds: hex lines (binary protocols) or whole text files.
  if [ -f "fuzz/seeds/$t.hex" ]; then
    n=0
    while read -r line; do
      [ -z "$line" ] && continue
      n=$((n + 1))
      perl -e 'print pack("H*", join("", @ARGV))' $line >"$corpus/seed-$n"
    done <"fuzz/seeds/$t.hex"
  elif [ -f "fuzz/seeds/$t.txt" ]; then
    cp "fuzz/seeds/$t.txt" "$corpus/seed-1"
  fi
  echo "== fuzz_$t for ${SECONDS_EACH}s"
  if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=0 \
      "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 \
      -artifact_prefix="$BUILD/crashes/$t-" -print_final_stats=1 "$corpus" 2>"$BUILD/fuzz_$t.log"; then
    echo "fuzz_$t FAILED: see $BUILD/fuzz_$t.log and $BUILD/crashes/" >&2
    tail -40 "$BUILD/fuzz_$t.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$BUILD/fuzz_$t.log" | tail -2
  fi
done
exit $status
