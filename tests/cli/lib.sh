# SPDX-License-Identifier: MIT
# Shared helpers for CLI tests: check / expect_* count results, finish prints the summary
# line ("N passed, N failed") and sets the exit status.
set -u
PASSED=0
FAILED=0
TMP=$(mktemp -d /tmp/haserf-cli-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && printf '       %s\n' "$2"; }

# run CMD...: captures stdout, stderr and exit status into OUT, ERR, RC.
run() {
  "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
  RC=$?
  OUT=$(cat "$TMP/out")
  ERR=$(cat "$TMP/err")
}

# On failure it shows stderr, or stdout when stderr is empty (serf prints its errors there).
expect_rc() {
  [ "$RC" -eq "$2" ] && { pass "$1"; return; }
  if [ -n "$ERR" ]; then fail "$1" "exit $RC, expected $2; stderr: $ERR"; else fail "$1" "exit $RC, expected $2; stdout: $OUT"; fi
}
expect_contains() {
  case "$2" in *"$3"*) pass "$1" ;; *) fail "$1" "missing '$3' in: $2" ;; esac
}
expect_lines() {
  local n
  n=$(printf '%s' "$2" | grep -c '')
  [ "$n" -eq "$3" ] && pass "$1" || fail "$1" "$n lines, expected $3: $2"
}
finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
