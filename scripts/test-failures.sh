#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# After a failed ctest run: each failed test with its failed checks ("FAIL - ..." and their
# indented details, at most 6 lines each), or the last lines of its output when it failed
# without one (a crash, a timeout). A short list at the very end of `make test`'s output,
# where a CI log shows it even when it cuts the middle.
# Usage: scripts/test-failures.sh BUILD_DIR
LOG=${1:?usage: test-failures.sh BUILD_DIR}/Testing/Temporary/LastTest.log
[ -f "$LOG" ] || exit 0
echo "== failed checks (from $LOG)"
awk '
  /^[0-9]+\/[0-9]+ Test: / { name = $3; n = 0; nf = 0; inout = 0; next }
  /^Output:$/ { inout = 1; getline; next }
  /^<end of output>$/ { inout = 0; next }
  inout {
    line[++n] = $0
    if ($0 ~ /^FAIL - /) { fails[++nf] = n }
    next
  }
  /^Test Failed/ {
    print "-- " name
    if (nf == 0) {
      for (i = (n > 8 ? n - 7 : 1); i <= n; i++) print "   " line[i]
      if (n == 0) print "   (no output: killed or timed out)"
    }
    for (f = 1; f <= nf; f++) {
      i = fails[f]; print "   " line[i]
      for (j = i + 1; j <= n && j <= i + 5 && line[j] ~ /^       /; j++) print "   " substr(line[j], 1, 200)
    }
  }
' "$LOG"
