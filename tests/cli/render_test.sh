#!/usr/bin/env bash
# haserf render, end to end with real files. Usage: render_test.sh HASERF SOURCE_DIR
HASERF=$1
SRC=$2
. "$SRC/tests/cli/lib.sh"
EX=$SRC/examples
DATA=$SRC/tests/data

run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$EX/members.json" --var listen=127.0.0.42:8080
expect_rc "render example to stdout" 0
[ "$OUT" = "$(cat "$DATA/expected-example.cfg")" ] && pass "output matches the reviewed golden file" ||
  fail "output matches the reviewed golden file" "$(diff <(echo "$OUT") "$DATA/expected-example.cfg")"
expect_contains "unsafe member reported on stderr" "$ERR" "member evil left out: field tags.port"
[ "$(printf '%s\n' "$OUT" | grep -c '^$')" -eq "$(grep -c '^$' "$EX/haproxy.cfg.mustache")" ] &&
  pass "no blank lines left by section tags" || fail "no blank lines left by section tags" "$OUT"

if command -v haproxy >/dev/null; then
  printf '%s\n' "$OUT" >"$TMP/check.cfg"
  if haproxy -c -f "$TMP/check.cfg" >"$TMP/hc" 2>&1; then pass "rendered config passes haproxy -c"
  else fail "rendered config passes haproxy -c" "$(cat "$TMP/hc")"; fi
fi

run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$DATA/serf-members.json" --var listen=:80
expect_rc "render from a real 'serf members -format=json' capture" 0
expect_contains "alive backend from the capture is rendered" "$OUT" "server web1 127.0.0.21:3000"
case "$OUT" in *web2*) fail "failed member is not in by_tag groups" ;; *) pass "failed member is not in by_tag groups" ;; esac

# Standard input.
"$HASERF" render -t "$EX/haproxy.cfg.mustache" -m - --var listen=:80 <"$EX/members.json" >"$TMP/stdin.out" 2>/dev/null
[ $? -eq 0 ] && grep -q "server web1" "$TMP/stdin.out" && pass "-m - reads stdin" || fail "-m - reads stdin"

# -o: write, unchanged, backup.
OUTF=$TMP/out.cfg
run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$EX/members.json" --var listen=:80 -o "$OUTF"
expect_rc "-o writes the file" 0
expect_contains "-o says what it wrote" "$ERR" "4 members, 1 left out"
[ -f "$OUTF" ] && pass "output file exists" || fail "output file exists"
run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$EX/members.json" --var listen=:80 -o "$OUTF"
expect_rc "identical re-render exits 0" 0
expect_contains "identical re-render says unchanged" "$ERR" "unchanged"
[ ! -e "$OUTF.bak" ] && pass "no backup when unchanged" || fail "no backup when unchanged"
run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$EX/members.json" --var listen=:81 -o "$OUTF"
expect_rc "changed re-render" 0
grep -q "bind :80" "$OUTF.bak" && grep -q "bind :81" "$OUTF" && pass "previous version kept as .bak" ||
  fail "previous version kept as .bak"

# Bad input: non-zero, one clear line, no partial output.
printf 'backend x\n{{#members}}\n  server {{name}}\n' >"$TMP/bad.mustache"
run "$HASERF" render -t "$TMP/bad.mustache" -m "$EX/members.json" -o "$TMP/never.cfg"
expect_rc "bad template exits 1" 1
expect_contains "bad template error names file and line" "$ERR" "bad.mustache:2: section 'members' is never closed"
expect_lines "bad template: one line on stderr" "$ERR" 1
[ ! -e "$TMP/never.cfg" ] && pass "no output file after a failed render" || fail "no output file after a failed render"

cp "$OUTF" "$TMP/before"
run "$HASERF" render -t "$TMP/bad.mustache" -m "$EX/members.json" -o "$OUTF"
cmp -s "$OUTF" "$TMP/before" && pass "failed render leaves the existing file alone" || fail "failed render leaves the existing file alone"

printf '{"members": [ {"name": "a", ' >"$TMP/bad.json"
run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$TMP/bad.json"
expect_rc "invalid JSON exits 1" 1
expect_contains "invalid JSON error names the file" "$ERR" "bad.json:1:"
expect_lines "invalid JSON: one line on stderr" "$ERR" 1

printf '[{"name":"a","addr":"10.0.0.1","tags":{"port":3000}}]' >"$TMP/types.json"
run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$TMP/types.json"
expect_rc "wrong field type exits 1" 1
expect_contains "wrong field type names member and field" "$ERR" "member 0 (a): field 'tags.port' must be a string"

run "$HASERF" render -t "$TMP/missing.mustache" -m "$EX/members.json"
expect_rc "missing template exits 1" 1
expect_contains "missing template names the path" "$ERR" "missing.mustache"

run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$EX/members.json" -o /nonexistent-dir/x.cfg
expect_rc "unwritable output exits 1" 1

# --check and --exec (on a file source; the live mode is covered by integration tests).
CHK=$TMP/checked.cfg
echo "previous" >"$CHK"
run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$EX/members.json" --var listen=:80 -o "$CHK" --check 'false {}'
expect_rc "failing --check exits 1" 1
expect_contains "failing --check is reported" "$ERR" "check failed"
[ "$(cat "$CHK")" = "previous" ] && pass "failing --check keeps the old file" || fail "failing --check keeps the old file"
[ ! -e "$CHK.candidate" ] && pass "candidate file removed" || fail "candidate file removed"
run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$EX/members.json" --var listen=127.0.0.1:80 -o "$CHK" \
  --check 'haproxy -c -q -f {}' --exec "echo reloaded > $TMP/exec.marker"
expect_rc "--check with haproxy -c, then --exec" 0
grep -q "server web1" "$CHK" && pass "checked config written" || fail "checked config written"
[ -f "$TMP/exec.marker" ] && pass "--exec ran after the write" || fail "--exec ran after the write"
rm -f "$TMP/exec.marker"
run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$EX/members.json" --var listen=127.0.0.1:80 -o "$CHK" \
  --check 'haproxy -c -q -f {}' --exec "echo reloaded > $TMP/exec.marker"
[ ! -f "$TMP/exec.marker" ] && pass "--exec not run when unchanged" || fail "--exec not run when unchanged"
run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$EX/members.json" --watch -o x
expect_rc "--watch without --join is a usage error" 2
run "$HASERF" render -t "$EX/haproxy.cfg.mustache" --join 127.0.0.1:1 --wait 5:1 --watch -o x
expect_rc "--wait MIN > MAX is a usage error" 2

# Usage.
run "$HASERF" render --help
expect_rc "render --help exits 0" 0
expect_contains "render --help documents -o" "$OUT" "--out FILE"
run "$HASERF" render -t x
expect_rc "missing -m is a usage error" 2
run "$HASERF" render --bogus
expect_rc "unknown option is a usage error" 2
expect_contains "unknown option is named" "$ERR" "--bogus"
run "$HASERF" render -t a -m b --var members=x
expect_rc "reserved --var name is refused" 2
run "$HASERF" --help
expect_rc "haserf --help exits 0" 0
run "$HASERF" nonsense
expect_rc "unknown command exits 2" 2

finish
