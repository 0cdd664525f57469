#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The isolation guard (docs/haproxy.md "The isolation guard"): the balancer cut off from the
# gossip while its backends still serve. Here the cut is made by stopping (SIGSTOP) every
# backend's serf agent: HAProxy's member then sees all of them fail, the web apps go on.
# With the guard (default HASERF_PANIC_THRESHOLD=50) every request is still served, the guard
# is logged, shown and counted, and it ends when the agents come back. With
# HASERF_PANIC_THRESHOLD=0 the same cut empties the backend: the outage the guard prevents.
# Usage: isolation_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.43.0/24 (loopback only).
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-170}
. "$SRC/tests/haproxy/lib.sh"

NAMES="i1 i2 i3"
metrics() { curl -s --max-time 3 "http://$HA_IP:8404/haserf/metrics"; }
metric_is() { metrics | grep -qx "$1"; }
cut_off() { for n in $NAMES; do kill -STOP "${PID_OF[$n]}"; done; }
heal() { for n in $NAMES; do kill -CONT "${PID_OF[$n]}" 2>/dev/null; done; }
# served N: how many of N requests a backend answered (curl -f: a 503 counts as none).
served() {
  local i
  for i in $(seq "$1"); do curl -sf --max-time 3 "http://$HA_IP:8080/"; echo; done | grep -c '^i[123]$'
}
# Every one of 12 requests answered, by all three backends.
all_served() { [ "$(served 12)" = 12 ] && routes_exactly "i1 i2 i3"; }

run_cluster() {  # extra ha-start.sh env...
  start_ha 127.0.43.1 "$@" || return 1
  local i=11
  for n in $NAMES; do
    start_backend "$n" "127.0.43.$i" 127.0.43.1
    i=$((i + 1))
  done
  wait_for "i1, i2 and i3 are routed to" 30 routes_exactly "i1 i2 i3"
}

# ---- with the guard (the default) --------------------------------------------------------
run_cluster || { stop_all; finish; exit; }
cut_off
wait_for "cut off: HAProxy's member sees every backend failed" 60 \
  metric_is 'haserf_members{status="failed"} 3'
wait_for "guard: the failed members keep their slots (haserf_isolation_guard 3)" 10 \
  metric_is 'haserf_isolation_guard{backend="nodes"} 3'
all_served && pass "guard: every request is still served while the balancer is cut off" ||
  fail "guard: every request is still served while the balancer is cut off" "$(served 12) of 12"
metric_is 'haserf_isolation_guard_activations_total{backend="nodes"} 1' &&
  pass "guard: one activation counted" || fail "guard: one activation counted" "$(metrics | grep guard)"
grep -q "nodes: isolation guard on: [23] of 3 members failed" "$HA/haproxy.log" &&
  pass "guard: logged when it turns on" || fail "guard: logged when it turns on"
curl -s --max-time 3 "http://$HA_IP:8404/haserf" | grep -q "Isolation guard on for nodes" &&
  pass "guard: shown on the members page" || fail "guard: shown on the members page"
heal
wait_for "healed: the backends are alive again" 60 metric_is 'haserf_members{status="alive"} 4'
wait_for "healed: the guard turns off" 10 metric_is 'haserf_isolation_guard{backend="nodes"} 0'
grep -q "isolation guard off" "$HA/haproxy.log" && pass "guard: logged when it turns off" ||
  fail "guard: logged when it turns off"
all_served && pass "healed: every request served" || fail "healed: every request served" "$(served 12) of 12"
stop_ha
stop_all

# ---- without it (HASERF_PANIC_THRESHOLD=0): the balancer's isolation is an outage ---------
rm -rf "$HA"
run_cluster HASERF_PANIC_THRESHOLD=0 || { stop_all; finish; exit; }
cut_off
wait_for "no guard: HAProxy's member sees every backend failed" 60 \
  metric_is 'haserf_members{status="failed"} 3'
no_server() { [ "$(served 3)" = 0 ]; }
wait_for "no guard: every slot is freed, no request is served (the outage the guard prevents)" 10 no_server
metric_is 'haserf_isolation_guard_activations_total{backend="nodes"} 0' &&
  pass "no guard: never activated" || fail "no guard: never activated" "$(metrics | grep guard)"
heal
wait_for "no guard: routed again once the backends are back" 60 routes_exactly "i1 i2 i3"
stop_ha
stop_all
finish
