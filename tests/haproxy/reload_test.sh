#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Structural changes and reloads: more members than slots -> validated render + reload (more
# slots, traffic reaches all); a template rendering an invalid config -> no reload, the old
# config keeps serving; a reload through the master CLI -> the new worker's member rejoins.
# Usage: reload_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.7.0/24 (loopback only).
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-170}
. "$SRC/tests/haproxy/lib.sh"

T=$TMP/haproxy.cfg.mustache
cp "$SRC/examples/lab/haproxy.cfg.mustache" "$T"
start_ha 127.0.7.1 LAB_SLOTS=2 LAB_TEMPLATE="$T" || { stop_all; finish; exit; }
[ "$(admin "show servers state nodes" | grep -c ' nodes ')" = 2 ] && pass "starts with 2 slots" ||
  fail "starts with 2 slots" "$(admin show servers state nodes)"
worker() { echo "show proc" | socat -t 3 - "unix-connect:$HA/master.sock" | awk '$2 == "worker" {print $1; exit}'; }
W0=$(worker)

start_backend m1 127.0.7.11 127.0.7.1
start_backend m2 127.0.7.12 127.0.7.1
start_backend m3 127.0.7.13 127.0.7.1
wait_for "3 members for 2 slots: the glue renders 4 slots and reloads" 40 \
  eval '[ "$(admin "show servers state nodes" | grep -c " nodes ")" = 4 ]'
grep -q "server-template s 1-4 " "$HA/haproxy.cfg" && pass "the written config has 4 slots" ||
  fail "the written config has 4 slots" "$(grep server-template "$HA/haproxy.cfg")"
[ -f "$HA/haproxy.cfg.bak" ] && grep -q "server-template s 1-2 " "$HA/haproxy.cfg.bak" &&
  pass "haproxy.cfg.bak keeps the previous config" || fail "haproxy.cfg.bak keeps the previous config"
# HAProxy 2.7+ answers a master-CLI reload once the new worker runs, and soft-stops the old
# worker (the one asking) at that moment: its "reload ok" may be cut off; the new worker's
# takeover line says the reload happened.
if grep -q "haserf: reload ok" "$HA/haproxy.log" ||
  { ha_at_least 2.7 && grep -q "haserf: member haproxy took over from worker $W0 (reload)" "$HA/haproxy.log"; }; then
  pass "the glue logs the reload outcome (ok)"
else
  fail "the glue logs the reload outcome (ok)"
fi
W1=$(worker)
[ -n "$W1" ] && [ "$W1" != "$W0" ] && pass "a new worker runs ($W0 -> $W1)" || fail "a new worker runs" "$W0 -> $W1"
wait_for "after the reload, traffic reaches m1, m2 and m3" 30 routes_exactly "m1 m2 m3"
wait_for "serf sees haproxy alive again (new worker's member)" 20 is_status 127.0.7.11 haproxy alive

# A template that renders an invalid config: the check fails, nothing is written or reloaded.
SUM=$(md5sum <"$HA/haproxy.cfg")
RELOADS=$(echo "show proc" | socat -t 3 - "unix-connect:$HA/master.sock" | awk '$2 == "master" {print $3}')
echo "    this-is-not-a-keyword {{slots_nodes}}" >>"$T"
wait_for "an invalid template: the glue reports a failed reload" 30 \
  eval 'curl -s "http://127.0.7.1:8404/haserf/metrics" | grep -q "haserf_reloads_total{result=\"failed\"} 1"'
# The counter moves before HAProxy's logger has written the line: poll for it.
wait_for "the failure is logged" 10 grep -q "haserf: reload failed (running config kept)" "$HA/haproxy.log"
[ "$(md5sum <"$HA/haproxy.cfg")" = "$SUM" ] && pass "haproxy.cfg is untouched" || fail "haproxy.cfg is untouched"
R2=$(echo "show proc" | socat -t 3 - "unix-connect:$HA/master.sock" | awk '$2 == "master" {print $3}')
[ "$R2" = "$RELOADS" ] && [ "$(worker)" = "$W1" ] && pass "no reload happened" || fail "no reload happened" "$RELOADS -> $R2"
PAGE=$(curl -s "http://127.0.7.1:8404/haserf")
expect_contains "the page shows the failed render" "$PAGE" '<td class="failed">failed</td>'
wait_for "the old config keeps serving m1, m2, m3" 10 routes_exactly "m1 m2 m3"

# A config that passes haproxy -c but cannot start (its address is taken by another
# process). HAProxy 2.7+ answers the master-CLI reload with Success=0: the glue reports a
# failed reload, puts the running config back in haproxy.cfg and keeps the rejected one
# beside it; the old worker goes on serving. (2.6 answers nothing: a failed start there shows
# only in HAProxy's own log.)
if ha_at_least 2.7; then
  socat TCP-LISTEN:3999,bind=127.0.7.1 /dev/null </dev/null >/dev/null 2>&1 &
  PID_OF[busy]=$!
  ALL_PIDS+=("$!")
  SUM=$(md5sum <"$HA/haproxy.cfg")
  cp "$SRC/examples/lab/haproxy.cfg.mustache" "$T"
  printf 'listen busy\n    bind 127.0.7.1:3999\n' >>"$T"
  wait_for "an address taken at start: the glue reports the failed reload" 60 \
    eval 'curl -s "http://127.0.7.1:8404/haserf/metrics" | grep -q "haserf_reloads_total{result=\"failed\"} 2"'
  grep -q "haserf: reload failed (running config kept):.*exec failed.*Address already in use.*restored to the running config" "$HA/haproxy.log" &&
    pass "the failure says HAProxy refused the new config and that the running one was put back" ||
    fail "the failure says HAProxy refused the new config and that the running one was put back" \
      "$(grep "reload failed" "$HA/haproxy.log" | tail -n 1)"
  [ "$(md5sum <"$HA/haproxy.cfg")" = "$SUM" ] && pass "haproxy.cfg holds the running config again" ||
    fail "haproxy.cfg holds the running config again"
  grep -q "bind 127.0.7.1:3999" "$HA/haproxy.cfg.rejected" && pass "the rejected config is kept in haproxy.cfg.rejected" ||
    fail "the rejected config is kept in haproxy.cfg.rejected"
  wait_for "the old worker keeps serving m1, m2, m3" 10 routes_exactly "m1 m2 m3"
  [ "$(worker)" = "$W1" ] && pass "the old worker is still the current one" || fail "the old worker is still the current one" "$(worker)"
  stop_proc busy 2
fi

# Reload through the master CLI: the old worker leaves, the new one rejoins (peers file).
cp "$SRC/examples/lab/haproxy.cfg.mustache" "$T"
echo reload | socat -t 5 - "unix-connect:$HA/master.sock" >/dev/null
wait_for "master CLI reload: a new worker runs" 20 eval '[ -n "$(worker)" ] && [ "$(worker)" != "$W1" ]'
wait_for "serf sees the haproxy node alive again after the reload" 20 is_status 127.0.7.12 haproxy alive
wait_for "routing continues to m1, m2, m3 after the reload" 30 routes_exactly "m1 m2 m3"
M=$(curl -s "http://127.0.7.1:8404/haserf/metrics")
expect_contains "the new worker: no glue error" "$M" "haserf_glue_errors_total 0"
expect_contains "the new worker drives 4 slots" "$M" 'haserf_slots{backend="nodes",state="used"} 3'

stop_ha
# At soft-stop the glue leaves; the module waits (bounded) at exit for the leave to go out.
if poll 15 is_status 127.0.7.11 haproxy left; then pass "after ha-stop (soft-stop), serf sees haproxy left"
else fail "after ha-stop (soft-stop), serf sees haproxy left" "status: $(serf_status 127.0.7.11 haproxy)"; fi
stop_all
finish
