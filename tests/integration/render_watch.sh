#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# haserf render --join --watch against real serf agents: re-renders on join, tag change and
# leave (debounced), validates with --check before replacing the file, runs --exec after a
# change, keeps the last good file when the check fails, and leaves on SIGTERM.
# Usage: render_watch.sh HASERF SOURCE_DIR. Addresses: 127.0.0.91 - 127.0.0.95 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

start_serf w-seed 127.0.0.91 -tag role=backend -tag port=3000 || { stop_all; finish; exit; }
OUT=$TMP/haproxy.cfg
TPL=$TMP/t.mustache
cp "$SRC/examples/haproxy.cfg.mustache" "$TPL"  # read once, at start
EXEC_LOG=$TMP/exec.log
# The check refuses a config with weight 255 (set live below), like a real check refusing
# a bad render.
CHECK="haproxy -c -q -f {} && ! grep -q 'weight 255' {}"
"$HASERF" render -t "$TPL" --join 127.0.0.91:7946 --bind 127.0.0.95:7946 --node w-render \
  --var listen=127.0.0.95:8080 -o "$OUT" --watch --wait 50ms:500ms --check "$CHECK" \
  --exec "echo exec >> $EXEC_LOG" >"$TMP/w-render.log" 2>&1 </dev/null &
PID_OF[w-render]=$!
ALL_PIDS+=("$!")

has_server() { grep -q "server $1 " "$OUT" 2>/dev/null; }
no_server() { [ -f "$OUT" ] && ! grep -q "server $1 " "$OUT"; }
execs() { [ -f "$EXEC_LOG" ] && wc -l <"$EXEC_LOG" || echo 0; }

wait_for "first render lists the seed backend" 20 has_server w-seed
wait_for "serf sees the renderer as a member" 20 is_status 127.0.0.91 w-render alive
first_execs=$(execs)

start_serf w-b2 127.0.0.92 -tag role=backend -tag port=3001 -join 127.0.0.91:7946 || { stop_all; finish; exit; }
wait_for "a joining backend is rendered" 20 has_server w-b2
grep -q "server w-b2 127.0.0.92:3001 check" "$OUT" && pass "rendered line uses the port tag" ||
  fail "rendered line uses the port tag" "$(grep w-b2 "$OUT")"
[ -f "$OUT.bak" ] && pass "previous version kept as .bak" || fail "previous version kept as .bak"
poll 10 test "$(execs)" -gt "$first_execs" && pass "--exec ran after the change" || fail "--exec ran after the change"
grep -q "w-render" "$OUT" && fail "the renderer itself is not a backend" || pass "the renderer itself is not a backend"

rpc 127.0.0.92 tags -set weight=7 >/dev/null
wait_for "a tag change is rendered" 20 grep -q "server w-b2 127.0.0.92:3001 check weight 7" "$OUT"

# A render the check refuses: the file stays as it was and the failure is logged.
cp "$OUT" "$TMP/good.cfg"
before_execs=$(execs)
rpc 127.0.0.92 tags -set weight=255 >/dev/null
wait_for "the failed check is logged" 20 grep -q "check failed" "$TMP/w-render.log"
cmp -s "$OUT" "$TMP/good.cfg" && pass "a failed check keeps the last good file" ||
  fail "a failed check keeps the last good file" "$(diff "$TMP/good.cfg" "$OUT")"
[ "$(execs)" = "$before_execs" ] && pass "no --exec after a failed check" || fail "no --exec after a failed check"
rpc 127.0.0.92 tags -set weight=8 >/dev/null
wait_for "the next good render replaces the file" 20 grep -q "server w-b2 127.0.0.92:3001 check weight 8" "$OUT"

# A weight no balancer accepts: the member is left out (never rendered with a default), and
# the warning says why.
rpc 127.0.0.92 tags -set weight=666 >/dev/null
wait_for "a member with an invalid weight tag is left out" 20 no_server w-b2
grep -q 'left out: field tags.weight is not a weight (0-256): "666"' "$TMP/w-render.log" &&
  pass "the warning names the field and the value" || fail "the warning names the field and the value" "$(tail -n 3 "$TMP/w-render.log")"
rpc 127.0.0.92 tags -set weight=8 >/dev/null
wait_for "fixed again: rendered again" 20 has_server w-b2

# SIGHUP: the template is read again and rendered at once (consul-template's reload); a
# broken template is refused and the running one kept.
printf '# reloaded template\n' >>"$TPL"
kill -HUP "${PID_OF[w-render]}"
wait_for "SIGHUP: the edited template is rendered" 20 grep -q "# reloaded template" "$OUT"
printf '{{#never_closed}}\n' >>"$TPL"
kill -HUP "${PID_OF[w-render]}"
wait_for "SIGHUP with a broken template: refused, named" 20 \
  grep -q "SIGHUP: .*never_closed.*keeping the previous template" "$TMP/w-render.log"
kill -0 "${PID_OF[w-render]}" 2>/dev/null && pass "the renderer keeps running after a bad SIGHUP" ||
  fail "the renderer keeps running after a bad SIGHUP"
rpc 127.0.0.92 tags -set weight=9 >/dev/null
wait_for "it still renders changes with the template it kept" 20 \
  grep -q "server w-b2 127.0.0.92:3001 check weight 9" "$OUT"

# --dry-run against the live cluster: the diff, nothing written. On a copy of the watched
# file (the watcher re-renders the real one when w-dry joins). Not `run`: $OUT is the file.
cp "$OUT" "$TMP/dry.cfg"
cp "$OUT" "$TMP/before-dry.cfg"
DRY=$("$HASERF" render -t "$SRC/examples/haproxy.cfg.mustache" --join 127.0.0.91:7946 \
  --bind 127.0.0.94:7946 --node w-dry --var listen=127.0.0.95:8080 -o "$TMP/dry.cfg" --dry-run \
  2>"$TMP/dry.err" </dev/null)
DRY_RC=$?
[ "$DRY_RC" -eq 0 ] && pass "--dry-run: exit 0" || fail "--dry-run: exit 0" "exit $DRY_RC; $(cat "$TMP/dry.err")"
case "$DRY" in
  *"-# reloaded template"*) pass "--dry-run prints the diff (the reloaded line would go)" ;;
  *) fail "--dry-run prints the diff (the reloaded line would go)" "$DRY" ;;
esac
cmp -s "$TMP/dry.cfg" "$TMP/before-dry.cfg" && [ ! -e "$TMP/dry.cfg.bak" ] &&
  pass "--dry-run wrote nothing" || fail "--dry-run wrote nothing"

rpc 127.0.0.92 leave >/dev/null
wait_for "a backend that left is no longer rendered" 20 no_server w-b2

stop_proc w-render 15
[ "$STOP_RC" -eq 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit 0" "exit $STOP_RC; $(tail -n 3 "$TMP/w-render.log")"
wait_for "serf sees the renderer left" 20 is_status 127.0.0.91 w-render left
stop_all
finish
