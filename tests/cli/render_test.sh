#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
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

# Partials, data, escaping, --strict.
mkdir -p "$TMP/tpl" "$TMP/more"
printf 'server {{name}} {{addr}}:{{tags.port}}\n' >"$TMP/tpl/server.mustache"
printf '# {{site}} from --partials\n' >"$TMP/more/header.mustache"
printf '{{> header}}\nbackend b\n{{#by_tag.role.backend}}\n    {{> server}}\n{{/by_tag.role.backend}}\n' >"$TMP/tpl/main.mustache"
printf '{"site": "eu-1"}' >"$TMP/site.json"
run "$HASERF" render -t "$TMP/tpl/main.mustache" -m "$EX/members.json" --partials "$TMP/more" --data "$TMP/site.json"
expect_rc "partials from --partials and the template folder, with --data" 0
[ "$OUT" = "$(printf '# eu-1 from --partials\nbackend b\n    server web1 127.0.0.11:3000\n    server web2 127.0.0.12:3000')" ] &&
  pass "partial output is indented like its standalone tag" || fail "partial output is indented like its standalone tag" "$OUT"
run "$HASERF" render -t "$TMP/tpl/main.mustache" -m "$EX/members.json" --data "$TMP/site.json"
expect_rc "missing partial exits 1" 1
expect_contains "missing partial names template file and line" "$ERR" "main.mustache:1: partial 'header' not found"
printf '{{#x}}\n' >"$TMP/more/header.mustache"
run "$HASERF" render -t "$TMP/tpl/main.mustache" -m "$EX/members.json" --partials "$TMP/more"
expect_contains "broken partial names its own file and line" "$ERR" "more/header.mustache:1: section 'x' is never closed"
printf '{{#items}}<{{.}}>{{/items}} {{n}} {{#flag}}yes{{/flag}} {{html}}\n' >"$TMP/data.mustache"
printf '{"items": ["a", "b"], "n": 3}' >"$TMP/d1.json"
printf '{"flag": true, "html": "<&>"}' >"$TMP/d2.json"
run "$HASERF" render -t "$TMP/data.mustache" --data "$TMP/d1.json" --data "$TMP/d2.json"
expect_rc "--data alone, two files merged" 0
[ "$OUT" = "<a><b> 3 yes <&>" ] && pass "--data values render as JSON has them, unescaped" || fail "--data values render as JSON has them, unescaped" "$OUT"
run "$HASERF" render -t "$TMP/data.mustache" --data "$TMP/d1.json" --data "$TMP/d2.json" --escape html
[ "$OUT" = "<a><b> 3 yes &lt;&amp;&gt;" ] && pass "--escape html escapes {{name}}" || fail "--escape html escapes {{name}}" "$OUT"
printf '["x", "y"]' >"$TMP/list.json"
printf '{{#.}}({{.}}){{/.}}' >"$TMP/dot.mustache"
run "$HASERF" render -t "$TMP/dot.mustache" --data "$TMP/list.json"
[ "$OUT" = "(x)(y)" ] && pass "a list as --data is the root context" || fail "a list as --data is the root context" "$OUT"
run "$HASERF" render -t "$TMP/dot.mustache" --data "$TMP/list.json" -m "$EX/members.json"
expect_rc "a list as --data with members exits 1" 1
printf '{"members": 1}' >"$TMP/reserved.json"
run "$HASERF" render -t "$TMP/dot.mustache" --data "$TMP/reserved.json" -m "$EX/members.json"
expect_contains "a --data key that hides a built-in is refused" "$ERR" "key 'members' is reserved"
printf '{"a": [1, }' >"$TMP/broken.json"
run "$HASERF" render -t "$TMP/dot.mustache" --data "$TMP/broken.json"
expect_rc "invalid --data exits 1" 1
expect_contains "invalid --data names the file" "$ERR" "broken.json: not valid JSON"
printf 'backend b\n{{#alive}}\n    server {{name}} {{adr}}:80\n{{/alive}}\n' >"$TMP/typo.mustache"
run "$HASERF" render -t "$TMP/typo.mustache" -m "$EX/members.json"
expect_rc "a typo renders without --strict" 0
run "$HASERF" render -t "$TMP/typo.mustache" -m "$EX/members.json" --strict -o "$TMP/strict.cfg"
expect_rc "a typo fails with --strict" 1
expect_contains "--strict names file, line and name" "$ERR" "typo.mustache:3: 'adr' resolves to nothing (--strict)"
[ ! -e "$TMP/strict.cfg" ] && pass "--strict failure writes nothing" || fail "--strict failure writes nothing"
run "$HASERF" render -t "$EX/haproxy.cfg.mustache" -m "$EX/members.json" --var listen=:80 --strict
expect_rc "the shipped example passes --strict" 0

# Usage.
run "$HASERF" render --help
expect_rc "render --help exits 0" 0
expect_contains "render --help documents -o" "$OUT" "--out FILE"
run "$HASERF" render -t x
expect_rc "missing -m/--data is a usage error" 2
run "$HASERF" render -t x --data - -m -
expect_rc "two readers of standard input is a usage error" 2
run "$HASERF" render -t x --data y --escape xml
expect_rc "--escape other than none/html is a usage error" 2
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
