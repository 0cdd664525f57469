#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Floods and stalls against haserf's gossip port, with real serf agents around it
# (docs/security.md "Floods and stalls"): a junk datagram flood at the rate one sender thread
# manages on loopback, 300 TCP connections that send one byte and stall (slowloris), and a
# connect/reset flood. Through all of it the serf agents never suspect or fail haserf (its
# probe rhythm holds, TCP fallback probes get through), a new serf agent can still join
# through haserf (push/pull is not locked out by the stalled connections), haserf's memory
# stays bounded, and every drop, eviction and timeout is counted (serf info, haserf section;
# the agent's exit log).
# Usage: agent_flood.sh HASERF SOURCE_DIR FLOOD_SENDER. Addresses: 127.0.55.x (cluster),
# 127.0.56.x (the attackers); loopback only.
HASERF=$1
SRC=$2
FLOOD=$3
IT_BUDGET=160
. "$SRC/tests/integration/lib.sh"

OURS=127.0.55.1
start_serf fl-serf1 127.0.55.11 || { stop_all; finish; exit; }
start_serf fl-serf2 127.0.55.12 -join 127.0.55.11 || { stop_all; finish; exit; }
start_haserf_agent fl-ours $OURS --join 127.0.55.11 || { stop_all; finish; exit; }
wait_for "fl-serf1 and fl-serf2 see haserf alive" 20 eval \
  'is_status 127.0.55.11 fl-ours alive && is_status 127.0.55.12 fl-ours alive'
PID=${PID_OF[fl-ours]}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0; }
RSS0=$(rss_kb)
RSS_MAX=$RSS0
# sample_rss SECONDS: samples haserf's resident memory every 0.5 s for SECONDS.
sample_rss() {
  local i r
  for i in $(seq $(($1 * 2))); do
    r=$(rss_kb)
    [ "$r" -gt "$RSS_MAX" ] && RSS_MAX=$r
    sleep 0.5
  done
}
# flood OUT SECONDS MODE SOURCE [COUNT]: runs the attacker for SECONDS against haserf while
# sampling its memory, output in $TMP/OUT.out.
flood() {
  local out=$1 secs=$2 mode=$3 source=$4
  "$FLOOD" "$mode" "$OURS:7946" "$source" "$secs" ${5:+"$5"} >"$TMP/$out.out" 2>&1 &
  local pid=$!
  ALL_PIDS+=("$pid")
  sample_rss "$secs"
  wait "$pid"
}
stat_of() { serf info -rpc-addr "$OURS:7373" 2>/dev/null | awk -v k="$1" '$1 == k { print $3 }'; }
at_least() { [ "$(stat_of "$1")" -ge "$2" ] 2>/dev/null; }
# Serf's view of haserf: no probe of it failed for good, no failure event.
suspicions() {
  grep -hE "Suspect fl-ours has failed|Marking fl-ours as failed|EventMemberFailed: fl-ours" \
    "$TMP/fl-serf1.log" "$TMP/fl-serf2.log" || true
}

# 1. Datagram flood: 15 s of junk as fast as one thread sends it.
D0=$(stat_of packets_dropped)
P0=$(stat_of probes)
F0=$(stat_of probe_failures)
flood udp 15 udp 127.0.56.1
SENT=$(awk '{print $2}' "$TMP/udp.out")
echo "# udp flood: $(cat "$TMP/udp.out"); haserf RSS $RSS0 -> max $RSS_MAX kB"
[ "${SENT:-0}" -gt 100000 ] && pass "the flood sent over 100,000 datagrams ($SENT)" ||
  fail "the flood sent over 100,000 datagrams" "$(cat "$TMP/udp.out")"
wait_for "the junk is counted (serf info: haserf.packets_dropped)" 10 at_least packets_dropped $((D0 + 10000))
echo "# dropped by haserf: $(stat_of packets_dropped) packets, $(stat_of messages_dropped) messages; by the kernel (full buffer): $(stat_of udp_receive_drops)"
# haserf's own probe rhythm (one probe a second) held through the flood.
P1=$(stat_of probes)
echo "# haserf's probes during the flood: $((P1 - P0)), failed: $(($(stat_of probe_failures) - F0))"
[ $((P1 - P0)) -ge 10 ] && pass "haserf kept probing during the 15 s flood ($((P1 - P0)) probes)" ||
  fail "haserf kept probing during the 15 s flood" "$((P1 - P0)) probes"
is_running fl-ours && pass "haserf survives the datagram flood" || fail "haserf survives the datagram flood"
for s in 11 12; do
  [ "$(serf_status 127.0.55.$s fl-ours)" = alive ] && pass "127.0.55.$s still sees haserf alive after the flood" ||
    fail "127.0.55.$s still sees haserf alive after the flood" "$(serf_status 127.0.55.$s fl-ours)"
done

# 2. Slowloris. First 100 connections (fewer than the 128 slots) that send one byte and stall:
# each is closed at its 10 s deadline.
flood stall1 13 stall 127.0.56.2 100
wait_for "100 stalled connections time out after 10 s (haserf.streams_timed_out)" 5 at_least streams_timed_out 100
echo "# stall, 100: $(cat "$TMP/stall1.out"); timed out $(stat_of streams_timed_out), evicted $(stat_of streams_evicted)"
[ "$(stat_of streams_evicted)" = 0 ] && pass "below the limit nothing is evicted" ||
  fail "below the limit nothing is evicted" "$(stat_of streams_evicted)"
# Then 300, each opened again as soon as it is closed (more than the 128 slots): a new serf
# agent still joins through haserf, its push/pull evicting the oldest stalled connection.
"$FLOOD" stall "$OURS:7946" 127.0.56.2 14 300 >"$TMP/stall2.out" 2>&1 &
FL=$!
ALL_PIDS+=("$FL")
sample_rss 3
start_serf fl-serf3 127.0.55.13 || { stop_all; finish; exit; }
run timeout 20 serf join -rpc-addr 127.0.55.13:7373 "$OURS:7946"
expect_rc "with 300 stalled connections, serf still joins through haserf" 0
wait_for "haserf sees the new serf agent" 15 is_status $OURS fl-serf3 alive
wait_for "stalled connections are evicted for newer ones (haserf.streams_evicted)" 10 at_least streams_evicted 1
sample_rss 5
wait "$FL"
echo "# stall, 300: $(cat "$TMP/stall2.out"); evicted $(stat_of streams_evicted), refused $(stat_of tcp_refused)"

# 3. Connect flood: thousands of connections, each reset at once.
flood connect 10 connect 127.0.56.3
MADE=$(awk '{print $2}' "$TMP/connect.out")
echo "# connect flood: $(cat "$TMP/connect.out")"
[ "${MADE:-0}" -gt 2000 ] && pass "thousands of connections were made ($MADE)" ||
  fail "thousands of connections were made" "$(cat "$TMP/connect.out")"
run timeout 10 serf members -rpc-addr "$OURS:7373"
expect_rc "haserf still answers RPC after the floods" 0

# Through all three: no false failure of haserf, bounded memory, a clean exit.
sleep 2
S=$(suspicions)
[ -z "$S" ] && pass "no serf agent suspected or failed haserf during the floods" ||
  fail "no serf agent suspected or failed haserf during the floods" "$S"
for s in 11 12 13; do
  [ "$(serf_status 127.0.55.$s fl-ours)" = alive ] && pass "127.0.55.$s sees haserf alive at the end" ||
    fail "127.0.55.$s sees haserf alive at the end" "$(serf_status 127.0.55.$s fl-ours)"
done
echo "# haserf RSS: $RSS0 kB at start, at most $RSS_MAX kB"
[ $((RSS_MAX - RSS0)) -lt 65536 ] && pass "haserf's memory stays bounded (+$(((RSS_MAX - RSS0) / 1024)) MiB < 64 MiB)" ||
  fail "haserf's memory stays bounded" "$RSS0 kB -> $RSS_MAX kB"
stop_proc fl-ours
[ "$STOP_RC" = 0 ] && pass "SIGTERM: haserf exits 0" || fail "SIGTERM: haserf exits 0" "rc=$STOP_RC"
L=$(grep "floods and stalls" "$TMP/fl-ours.log" || true)
echo "# $L"
expect_contains "the exit log counts the evictions and timeouts" "$L" "inbound streams:"
stop_all
finish
