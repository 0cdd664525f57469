#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Key rotation with HAProxy's member in the cluster: `serf keys` install/use/remove reach the
# module (HASERF_ENCRYPT + HASERF_KEYRING_FILE), traffic keeps flowing, the keyring file
# follows, and a reload after the rotation hands the rotated keys to the new worker (its
# configured key is the old one) which stays a member.
# Usage: keys_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.32.0/24 (loopback only).
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-170}
. "$SRC/tests/haproxy/lib.sh"

KEY1=cYyrjdSx7vBdLnU5WM2mgu6KRumBKEDdbZjYCGBws9I=
KEY2=T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s=
RING=$TMP/ha.keyring

start_ha 127.0.32.1 HASERF_ENCRYPT="$KEY1" HASERF_KEYRING_FILE="$RING" || { stop_all; finish; exit; }
worker() { echo "show proc" | socat -t 3 - "unix-connect:$HA/master.sock" | awk '$2 == "worker" {print $1; exit}'; }
start_backend m1 127.0.32.11 127.0.32.1 -encrypt "$KEY1"
start_backend m2 127.0.32.12 127.0.32.1 -encrypt "$KEY1"
wait_for "traffic reaches m1 and m2 over the encrypted cluster" 30 routes_exactly "m1 m2"
wait_for "HAProxy's member wrote its keyring file" 10 test -s "$RING"

run rpc 127.0.32.11 keys -install "$KEY2"
expect_rc "keys -install KEY2 exits 0 (HAProxy's member answered)" 0
run rpc 127.0.32.11 keys -use "$KEY2"
expect_rc "keys -use KEY2 exits 0" 0
run rpc 127.0.32.11 keys -remove "$KEY1"
expect_rc "keys -remove KEY1 exits 0" 0
run rpc 127.0.32.12 keys -list
expect_contains "keys -list: only KEY2, on all 3 members" "$OUT" "$KEY2  [3/3]"
case "$OUT" in *"$KEY1"*) fail "keys -list: KEY1 is gone" "$OUT" ;; *) pass "keys -list: KEY1 is gone" ;; esac
[ "$(jq -r 'join(",")' "$RING" 2>/dev/null)" = "$KEY2" ] && pass "the module's keyring file holds KEY2 only" ||
  fail "the module's keyring file holds KEY2 only" "$(cat "$RING")"
start_backend m3 127.0.32.13 127.0.32.1 -encrypt "$KEY2"
wait_for "a backend with only KEY2 joins and is routed" 30 routes_exactly "m1 m2 m3"

# Reload: the new worker is configured with KEY1 but takes the rotated keys over.
W0=$(worker)
echo reload | socat -t 5 - "unix-connect:$HA/master.sock" >/dev/null
wait_for "reload: a new worker runs" 20 eval '[ -n "$(worker)" ] && [ "$(worker)" != "$W0" ]'
sleep 4
wait_for "after the reload, serf sees haproxy alive" 20 is_status 127.0.32.13 haproxy alive
wait_for "after the reload, traffic reaches m1, m2 and m3" 30 routes_exactly "m1 m2 m3"
run rpc 127.0.32.13 keys -list
expect_rc "after the reload, keys -list exits 0 (the new worker answers)" 0
expect_contains "after the reload, KEY2 on all 4 members" "$OUT" "$KEY2  [4/4]"
case "$OUT" in *"$KEY1"*) fail "after the reload, the configured KEY1 did not come back" "$OUT" ;;
  *) pass "after the reload, the configured KEY1 did not come back" ;; esac
grep -hE 'Suspect haproxy|EventMemberFailed: haproxy' "$TMP"/m*.log >"$TMP/suspects.txt"
[ -s "$TMP/suspects.txt" ] && fail "HAProxy's member was never suspected or failed" "$(cat "$TMP/suspects.txt")" ||
  pass "HAProxy's member was never suspected or failed"
stop_ha
stop_all
finish
