#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Partitions (the "faults and scale" issue), with the lab HAProxy + glue and 4 backends (web
# app + real `serf agent`) in a private network namespace; nftables rules cut gossip links
# (UDP and TCP on port 7946) by address, the web traffic and health checks stay up:
#   1. One backend (p1) cut off from everyone for CUT1 (20) s: HAProxy's member sees it failed
#      and frees its slot (1 of 4 failed: the isolation guard stays off), the others serve.
#      Healed: p1 is alive again and routed; the time that took is printed (serf's reconnect,
#      every 30 s, brings it back), not asserted.
#   2. HAProxy's own member cut off from all backends for CUT2 (30) s, longer if needed (see
#      below): it sees them fail, the isolation guard keeps every backend in its slot and
#      routed. Healed: alive, guard off, routed; time printed.
# Throughout, one request every 200 ms through HAProxy: every one answered by a backend.
# Usage: partition_test.sh BUILD_DIR SOURCE_DIR. Root only (exit 77 otherwise). Namespace
# haserf-partition-PID, addresses 127.0.44.0/24 inside it.
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-230}
CUT1=${CUT1:-20}
CUT2=${CUT2:-30}
FAULT_TAG=partition
. "$SRC/tests/faults/lib.sh"

HAIP=127.0.44.1
NAMES="p1 p2 p3 p4"
P1=127.0.44.11
IPS="127.0.44.11 127.0.44.12 127.0.44.13 127.0.44.14"
# While the probe runs, routing is checked in HAProxy's slot table (ha_routes), and by the
# probe's answers, not with routes_exactly: see ha_routes in tests/faults/lib.sh.
GID_HA=4400  # HAProxy's and p1's processes run with group ids of their own: their gossip
GID_P1=4411  # connections leave from 127.0.0.1, the cut finds them by group (tests/faults/lib.sh)

with_gid "$GID_HA" start_ha "$HAIP" || { stop_all; finish; exit; }
with_gid "$GID_P1" start_backend p1 "$P1" "$HAIP" || { stop_ha; stop_all; finish; exit; }
start_backend p2 127.0.44.12 "$HAIP" || { stop_ha; stop_all; finish; exit; }
start_backend p3 127.0.44.13 "$HAIP" || { stop_ha; stop_all; finish; exit; }
start_backend p4 127.0.44.14 "$HAIP" || { stop_ha; stop_all; finish; exit; }
wait_for "HAProxy routes to the 4 backends" 60 routes_exactly "$NAMES" || { stop_ha; stop_all; finish; exit; }
probe_start 0.2
T_START=$(now)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
guard_is() { ha_metric_is "haserf_isolation_guard{backend=\"nodes\"} $1"; }
activations_are() { ha_metric_is "haserf_isolation_guard_activations_total{backend=\"nodes\"} $1"; }
sleep_until() {  # EPOCH: sleeps until then (if it is still ahead)
  local d
  d=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; printf "%.1f", (d > 0 ? d : 0) }')
  sleep "$d"
}

# ---- 1. one backend cut off ----------------------------------------------------------------
T_CUT=$(now)
cut_on p1 "$P1" "$GID_P1" || fail "nft: cut p1"
echo "# p1's gossip cut off"
wait_for "1. HAProxy's member sees p1 failed" 60 ha_status_is p1 failed
echo "# p1 failed at HAProxy $(secs "$T_CUT" "$(now)") s after the cut"
wait_for "1. p1's slot is freed: not routed" 10 not_routed p1
[ -z "$(slot_of "$P1")" ] && pass "1. no slot points at p1" || fail "1. no slot points at p1" "$(slot_of "$P1")"
ha_routes "${IPS#"$P1 "}" && pass "1. p2, p3 and p4 are routed" ||
  fail "1. p2, p3 and p4 are routed" "$(ha_routed_ips)"
guard_is 0 && activations_are 0 && pass "1. the isolation guard stays off (1 of 4 failed)" ||
  fail "1. the isolation guard stays off (1 of 4 failed)" "$(ha_metric isolation_guard)"
sleep_until "$(awk -v t="$T_CUT" -v c="$CUT1" 'BEGIN { printf "%.6f", t + c }')"
T_HEAL=$(now)
cut_off p1
wait_for "1. healed: p1 is alive at HAProxy again" 90 ha_status_is p1 alive
T_ALIVE=$(now)
wait_for "1. healed: p1 is routed again (all 4 in routing slots)" 30 ha_routes "$IPS"
poll 10 probe_saw p1 "$T_HEAL" 9e18
T_ROUTED=$(probe_first p1 "$T_HEAL")
echo "# 1. cut $(secs "$T_CUT" "$T_HEAL") s; after healing: alive at HAProxy in $(secs "$T_HEAL" "$T_ALIVE") s," \
  "first request to p1 after $([ -n "$T_ROUTED" ] && secs "$T_HEAL" "$T_ROUTED" || echo '?') s"
[ -n "$T_ROUTED" ] && pass "1. healed: p1 answers requests again" || fail "1. healed: p1 answers requests again"

# ---- 2. HAProxy's member cut off from all backends ---------------------------------------------
# The cut-off member sees the backends fail one by one, slowly: its probes all fail, so
# memberlist's Lifeguard stretches its probe timeouts (awareness, up to 9x), and nobody
# confirms its suspicions, so each lasts the longest suspicion timeout (6 x 4 s here). The
# guard turns on at the third failure (more than 50 % of 4); that takes 30-60 s. The cut lasts
# CUT2 (30) s or until the guard has been on for GUARD_HOLD (5) s, whichever is later.
GUARD_HOLD=${GUARD_HOLD:-5}
T_CUT=$(now)
cut_on haproxy "$HAIP" "$GID_HA" || fail "nft: cut HAProxy"
echo "# HAProxy's gossip cut off"
guard_on() { ha_metric '^haserf_isolation_guard[{]backend="nodes"[}] [34]$' >/dev/null; }
wait_for "2. HAProxy's member sees 3 or 4 backends failed: the isolation guard turns on" 90 guard_on
T_GUARD=$(now)
echo "# guard on at HAProxy $(secs "$T_CUT" "$T_GUARD") s after the cut;" \
  "$(ha_metric 'haserf_members[{]status="failed"[}]' | awk '{ print $2 }') backends failed there"
activations_are 1 && pass "2. one guard activation" || fail "2. one guard activation" "$(ha_metric isolation_guard)"
wait_for "2. HAProxy still routes to the 4 backends (failed ones keep their slots)" 10 ha_routes "$IPS"
wait_for "2. the backends see HAProxy's member failed" 30 is_status 127.0.44.12 haproxy failed
sleep_until "$(awk -v t="$T_CUT" -v c="$CUT2" -v g="$T_GUARD" -v h="$GUARD_HOLD" \
  'BEGIN { e = t + c; if (g + h > e) e = g + h; printf "%.6f", e }')"
ha_routes "$IPS" && pass "2. at the end of the cut every backend is still routed" ||
  fail "2. at the end of the cut every backend is still routed" "$(ha_routed_ips)"
T_HEAL=$(now)
probe_saw "$NAMES" "$(awk -v g="$T_GUARD" 'BEGIN { printf "%.6f", g + 1 }')" "$T_HEAL" &&
  pass "2. while the guard is on, each of the 4 backends answers requests" ||
  fail "2. while the guard is on, each of the 4 backends answers requests"
cut_off haproxy
wait_for "2. healed: HAProxy's member sees the 4 backends alive" 90 ha_metric_is 'haserf_members{status="alive"} 5'
T_ALIVE=$(now)
wait_for "2. healed: the guard turns off" 10 guard_is 0
wait_for "2. healed: the backends see HAProxy's member alive" 30 is_status 127.0.44.12 haproxy alive
wait_for "2. healed: HAProxy routes to the 4 backends" 10 ha_routes "$IPS"
echo "# 2. cut $(secs "$T_CUT" "$T_HEAL") s; after healing: all alive at HAProxy in $(secs "$T_HEAL" "$T_ALIVE") s"

sleep 1
probe_stop
probe_check "every request through HAProxy is answered by a backend, during both cuts" "$NAMES" "$T_START"
stop_ha
stop_all
netns_empty
finish
