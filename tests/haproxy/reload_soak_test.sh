#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Reloads as operators do them, under load, with members present: every reload hands the
# gossip identity to the new worker (no leave, no failed, no join for the balancer in any serf
# agent's view), the new worker routes from its first request (zero failed requests), and
# every worker exits 0. A final soft stop leaves the cluster (serf sees "left").
# Usage: reload_soak_test.sh BUILD_DIR SOURCE_DIR NBTHREAD RELOADS INTERVAL_S IP_BLOCK
#   e.g. ... 4 20 1 127.0.13  or  ... 1 100 0.25 127.0.14   (loopback only: IP_BLOCK.0/24)
BUILD=$1
SRC=$2
NBTHREAD=$3
RELOADS=$4
INTERVAL=$5
NET=$6
# 100 reloads take 150-250 s on a 2-core CI machine (248 s seen for 3.0 with 4 threads): the
# budget leaves room for a loaded one; ctest's TIMEOUT (tests/CMakeLists.txt) is above it.
IT_BUDGET=${IT_BUDGET:-360}
. "$SRC/tests/haproxy/lib.sh"
command -v wrk >/dev/null || { echo "FAIL - wrk is required (scripts/install-deps.sh)"; exit 1; }

# Every member event a serf agent sees, one line per member: "EVENT NAME".
HANDLER=$TMP/member-events.sh
printf '#!/bin/sh\nwhile read -r name rest; do echo "$SERF_EVENT $name" >> "%s/$SERF_SELF_NAME.member-events"; done\n' "$TMP" >"$HANDLER"
chmod +x "$HANDLER"
EVENTS="member-join,member-leave,member-failed,member-update,member-reap=$HANDLER"

start_ha "$NET.1" LAB_NBTHREAD="$NBTHREAD" || { stop_all; finish; exit; }
for i in 1 2 3; do
  start_backend "k$i" "$NET.1$i" "$NET.1" -event-handler "$EVENTS"
done
wait_for "k1, k2 and k3 are routed to" 30 routes_exactly "k1 k2 k3"
for i in 1 2 3; do
  wait_for "k$i sees the balancer alive" 20 is_status "$NET.1$i" haproxy alive
done
sleep 1
for i in 1 2 3; do : >"$TMP/k$i.member-events"; done  # only what happens from now on counts

master_reloads() { echo "show proc" | socat -t 3 - "unix-connect:$HA/master.sock" 2>/dev/null | awk '$2 == "master" {print $3}'; }
R0=$(master_reloads)
# Keep-alive load for the whole run: wrk counts every failed request (socket errors, non-2xx);
# SIGINT ends it and makes it print its results.
wrk -t2 -c8 -d600s "http://$NET.1:8080/" >"$TMP/wrk.txt" 2>&1 &
WRK=$!
ALL_PIDS+=("$WRK")
sleep 2
done_reloads=0
before=$R0
for n in $(seq "$RELOADS"); do
  # One reload at a time: the master CLI is away while the master re-executes itself, and a
  # reload asked for meanwhile would merge with the running one.
  for _ in $(seq 50); do
    echo reload | socat -t 5 - "unix-connect:$HA/master.sock" >/dev/null 2>&1 && break
    sleep 0.1
  done
  if poll 10 eval '[ "$(master_reloads)" -gt "$before" ]'; then
    done_reloads=$((done_reloads + 1))
    before=$(master_reloads)
  fi
  sleep "$INTERVAL"
done
sleep 1
kill -INT "$WRK" 2>/dev/null
wait "$WRK"
R1=$(master_reloads)
[ "$done_reloads" = "$RELOADS" ] && [ $((R1 - R0)) -eq "$RELOADS" ] &&
  pass "$RELOADS reloads under load (nbthread $NBTHREAD), master counted $((R1 - R0))" ||
  fail "$RELOADS reloads under load" "sent $done_reloads, master counted $((R1 - R0))"
REQS=$(awk '/requests in/ {print $1}' "$TMP/wrk.txt")
ERRS=$(awk '/Socket errors/ {print}' "$TMP/wrk.txt")
NON2XX=$(awk '/Non-2xx/ {print $NF}' "$TMP/wrk.txt")
[ -n "$REQS" ] && [ "$REQS" -gt 1000 ] && [ -z "$ERRS" ] && [ -z "$NON2XX" ] &&
  pass "zero failed requests across the reloads ($REQS requests)" ||
  fail "zero failed requests across the reloads" "$(cat "$TMP/wrk.txt")"

# The balancer never left, failed or joined in any agent's view.
wait_for "the new worker's member runs" 10 eval \
  'curl -sf "http://$NET.1:8404/haserf/metrics" | grep -q "^haserf_up 1"'
for i in 1 2 3; do
  [ "$(serf_status "$NET.1$i" haproxy)" = alive ] && pass "k$i still sees the balancer alive" ||
    fail "k$i still sees the balancer alive" "$(serf_status "$NET.1$i" haproxy)"
  E=$(grep -E " haproxy$" "$TMP/k$i.member-events" || true)
  [ -z "$E" ] && pass "k$i saw no join, leave, failure or update of the balancer" ||
    fail "k$i saw no join, leave, failure or update of the balancer" "$(printf '%s\n' "$E" | sort | uniq -c)"
done
M=$(curl -s --max-time 3 "http://$NET.1:8404/haserf/metrics")
expect_contains "the last worker took over from its predecessor" "$M" "haserf_took_over 1"
expect_contains "no Lua error in the last worker" "$M" "haserf_glue_errors_total 0"
T=$(grep -oE "took over from worker [0-9]+" "$HA/haproxy.log" | sort -u | grep -c "")
[ "$T" -ge $((RELOADS * 9 / 10)) ] && pass "$T of $RELOADS reloads handed the member over" ||
  fail "most reloads handed the member over" "$T of $RELOADS; $(grep -E 'cannot start|did not hand over' "$HA/haproxy.log" | tail -n 3)"
wait_for "traffic still reaches k1, k2 and k3" 10 routes_exactly "k1 k2 k3"

# A real stop leaves the cluster; every worker and the master exit 0 (checked by stop_ha).
stop_ha
wait_for "after the stop, serf sees the balancer left" 15 is_status "$NET.11" haproxy left
stop_all
finish
