#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interop: a full key rotation driven by `serf keys` in a cluster of serf agents and haserf
# agents (install, use, remove, list), keyring files kept up to date, a restart from the file.
# Usage: interop_keys.sh HASERF SOURCE_DIR
# Addresses: 127.0.12.1 - 127.0.12.9 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

KEY1=cYyrjdSx7vBdLnU5WM2mgu6KRumBKEDdbZjYCGBws9I=
KEY2=T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s=
printf '[\n  "%s"\n]' "$KEY1" >"$TMP/serf2.keyring"
printf '["%s"]' "$KEY1" >"$TMP/ours2.keyring"

start_serf k-serf1 127.0.12.1 -encrypt "$KEY1" -tag role=web || { stop_all; finish; exit; }
start_serf k-serf2 127.0.12.2 -keyring-file "$TMP/serf2.keyring" -join 127.0.12.1:7946 ||
  { stop_all; finish; exit; }
# ours1: a key and a keyring file that does not exist yet; ours2: the file alone.
start_haserf_agent k-ours1 127.0.12.3 --encrypt "$KEY1" --keyring-file "$TMP/ours1.keyring" \
  --join 127.0.12.1:7946 || { stop_all; finish; exit; }
start_haserf_agent k-ours2 127.0.12.4 --keyring-file "$TMP/ours2.keyring" --join 127.0.12.2:7946 ||
  { stop_all; finish; exit; }
wait_for "4 alive members" 20 is_alive_count 127.0.12.1 4
[ "$(jq -r '.[]' "$TMP/ours1.keyring" 2>/dev/null)" = "$KEY1" ] &&
  pass "ours1 wrote its keyring file at start" || fail "ours1 wrote its keyring file at start" "$(cat "$TMP/ours1.keyring" 2>&1)"

# `serf keys -list` prints "KEY  [n/N]" per key.
run rpc 127.0.12.1 keys -list
expect_rc "keys -list exits 0" 0
expect_contains "keys -list: KEY1 on all 4 members" "$OUT" "$KEY1  [4/4]"

run rpc 127.0.12.2 keys -install "$KEY2"
expect_rc "keys -install KEY2 exits 0" 0
expect_contains "keys -install: every node reported success" "$OUT" "Successfully installed key"
run rpc 127.0.12.1 keys -list
expect_contains "after install: KEY1 on all 4" "$OUT" "$KEY1  [4/4]"
expect_contains "after install: KEY2 on all 4" "$OUT" "$KEY2  [4/4]"
[ "$(jq -r 'join(",")' "$TMP/ours2.keyring" 2>/dev/null)" = "$KEY1,$KEY2" ] &&
  pass "after install: ours2's file lists KEY1, KEY2" ||
  fail "after install: ours2's file lists KEY1, KEY2" "$(cat "$TMP/ours2.keyring")"

run rpc 127.0.12.1 keys -use "$KEY2"
expect_rc "keys -use KEY2 exits 0" 0
expect_contains "keys -use: every node reported success" "$OUT" "Successfully changed primary key"
[ "$(jq -r '.[0]' "$TMP/ours1.keyring" 2>/dev/null)" = "$KEY2" ] &&
  pass "after use: KEY2 is first in ours1's file" || fail "after use: KEY2 is first in ours1's file" "$(cat "$TMP/ours1.keyring")"

# Traffic under the new primary both ways: an event from serf reaches us, ours reaches serf.
run rpc 127.0.12.2 event rotated k2
wait_for "after use: serf's event reaches ours1" 20 \
  has_event "$TMP/k-ours1.events" '.event == "user" and .name == "rotated"'
run timeout 20 "$HASERF" event --join 127.0.12.3:7946 --bind 127.0.12.5:7946 --encrypt "$KEY2" \
  --node k-eventer from-haserf x
expect_rc "after use: haserf event with KEY2 exits 0" 0
wait_for "after use: haserf's event reaches serf" 20 grep -q "from-haserf" "$TMP/k-serf1.log"

run rpc 127.0.12.2 keys -remove "$KEY1"
expect_rc "keys -remove KEY1 exits 0" 0
expect_contains "keys -remove: every node reported success" "$OUT" "Successfully removed key"
run rpc 127.0.12.1 keys -list
expect_contains "after remove: KEY2 on all members" "$OUT" "$KEY2  [4/4]"
case "$OUT" in *"$KEY1"*) fail "after remove: KEY1 is gone everywhere" "$OUT" ;;
  *) pass "after remove: KEY1 is gone everywhere" ;; esac
for f in ours1 ours2 serf2; do
  [ "$(jq -r 'join(",")' "$TMP/$f.keyring" 2>/dev/null)" = "$KEY2" ] && pass "after remove: $f's file holds KEY2 only" ||
    fail "after remove: $f's file holds KEY2 only" "$(cat "$TMP/$f.keyring")"
done

# The primary cannot be removed: each member says why, and the command fails.
run rpc 127.0.12.1 keys -remove "$KEY2"
[ "$RC" -ne 0 ] && pass "removing the primary fails (exit $RC)" || fail "removing the primary fails" "$OUT"
expect_contains "removing the primary: haserf's reason is listed as serf's" "$OUT" "k-ours1  Removing the primary key is not allowed"

# The old key no longer opens the cluster; the new one does.
run timeout 20 "$HASERF" members --join 127.0.12.1:7946 --bind 127.0.12.6:7946 --encrypt "$KEY1" \
  --node k-old --timeout 5
[ "$RC" -ne 0 ] && pass "KEY1 alone no longer joins (exit $RC)" || fail "KEY1 alone no longer joins" "$OUT"

# A restart with the same command line comes back with the file's keys (KEY2 primary).
stop_proc k-ours1
wait_for "ours1 left" 20 is_status 127.0.12.1 k-ours1 left
start_haserf_agent k-ours1 127.0.12.3 --encrypt "$KEY1" --keyring-file "$TMP/ours1.keyring" \
  --join 127.0.12.1:7946 || { stop_all; finish; exit; }
wait_for "restarted ours1 (configured KEY1, file KEY2) is alive again" 20 is_status 127.0.12.2 k-ours1 alive
[ "$(jq -r 'join(",")' "$TMP/ours1.keyring" 2>/dev/null)" = "$KEY2" ] &&
  pass "restart: the file's KEY2 is used, not the configured KEY1" ||
  fail "restart: the file's KEY2 is used, not the configured KEY1" "$(cat "$TMP/ours1.keyring")"
expect_contains "restart: the agent says the file overrides --encrypt" "$(cat "$TMP/k-ours1.log")" \
  "does not hold the configured key; using its 1 key(s)"
wait_for "4 alive members at the end" 20 is_alive_count 127.0.12.2 4

# haserf keys rotates KEY2 -> KEY3 from short-lived members (each counts itself, as serf's
# agent counts itself).
KEY3=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
hkeys() { run timeout 40 "$HASERF" keys --join 127.0.12.1:7946 --bind 127.0.12.7:7946 "$@"; }
hkeys --encrypt "$KEY2" --install "$KEY3"
expect_rc "haserf keys --install exits 0" 0
expect_contains "haserf keys --install: serf's words" "$OUT" "Successfully installed key!"
run rpc 127.0.12.1 keys -list
expect_contains "serf keys -list sees haserf's KEY3 on all 4" "$OUT" "$KEY3  [4/4]"
hkeys --encrypt "$KEY2" --use "$KEY3"
expect_rc "haserf keys --use KEY3 (joined with KEY2) exits 0" 0
expect_contains "haserf keys --use: serf's words" "$OUT" "Successfully changed primary key!"
hkeys --encrypt "$KEY3" --list
expect_rc "haserf keys --list exits 0" 0
expect_contains "haserf keys --list: KEY3 on all 5 (with itself)" "$OUT" "$KEY3  [5/5]"
expect_contains "haserf keys --list: KEY2 on the 4 others" "$OUT" "$KEY2  [4/5]"
expect_contains "haserf keys --list: KEY3 primary on all 5" "$OUT" "==> Primary keys:
$KEY3  [5/5]"
hkeys --encrypt "$KEY3" --remove "$KEY3"
expect_rc "haserf keys --remove of the primary: exit 1" 1
expect_contains "haserf keys --remove: each member's refusal" "$OUT" "failed:  k-serf2  Removing the primary key is not allowed"
expect_contains "haserf keys --remove: serf's summary" "$ERR" "nodes reported failure"
hkeys --encrypt "$KEY3" --remove "$KEY2"
expect_rc "haserf keys --remove KEY2 exits 0" 0
for f in ours1 ours2 serf2; do
  [ "$(jq -r 'join(",")' "$TMP/$f.keyring" 2>/dev/null)" = "$KEY3" ] &&
    pass "haserf keys rotation: $f's file holds KEY3 only" ||
    fail "haserf keys rotation: $f's file holds KEY3 only" "$(cat "$TMP/$f.keyring")"
done
wait_for "4 alive members after the second rotation" 10 is_alive_count 127.0.12.2 4

grep -hE 'Suspect k-|EventMemberFailed' "$TMP"/k-serf*.log >"$TMP/suspects.txt"
[ -s "$TMP/suspects.txt" ] && fail "nobody was suspected or failed during the rotation" "$(cat "$TMP/suspects.txt")" ||
  pass "nobody was suspected or failed during the rotation"
serf_logs_clean 'keys|key query|primary key|Failed to remove key|decrypt|k-old'
stop_all
finish
