#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# haserf agent --allow (docs/security.md): sources outside the list are dropped before any
# decoding (serf cannot join from there, the refusals are counted in `serf info`'s haserf
# section), sources inside join as usual; a bad CIDR is a usage error; gossip without a key
# on a non-loopback address logs a loud warning, loopback does not.
# Usage: agent_allow.sh HASERF SOURCE_DIR. Addresses: 127.0.45.1 - 127.0.45.9 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

# A peer's TCP connections come from whatever source its kernel picks (on loopback always
# 127.0.0.1), its datagrams from its gossip address: allow-lists name hosts or subnets.
start_haserf_agent al-ours 127.0.45.1 --allow 127.0.45.2/32 --allow 127.0.45.4 ||
  { stop_all; finish; exit; }
expect_contains "the allow-list is logged" "$(cat "$TMP/al-ours.log")" "gossip only from 127.0.45.2/32, 127.0.45.4 (--allow)"
grep -q "\[WARN\].*not encrypted" "$TMP/al-ours.log" && fail "no encryption warning on a loopback address" ||
  pass "no encryption warning on a loopback address"
start_serf al-out 127.0.45.3 || { stop_all; finish; exit; }
run timeout 20 serf join -rpc-addr 127.0.45.3:7373 127.0.45.1:7946
[ "$RC" -ne 0 ] && pass "serf cannot join from a source outside the list" ||
  fail "serf cannot join from a source outside the list" "$OUT"
refused_at() { serf info -rpc-addr "$1:7373" | awk '$1 == "sources_refused" { print $3 }'; }
refused() { refused_at 127.0.45.1; }
# The agent's counters are sampled by its loop (at most every 100 ms, when it wakes).
some_refused() { [ "$(refused)" -gt 0 ] 2>/dev/null; }
wait_for "the refusals are counted (serf info: haserf.sources_refused)" 10 some_refused ||
  echo "# $(serf info -rpc-addr 127.0.45.1:7373 2>&1 | grep -A5 '^haserf')"
[ "$(serf_status 127.0.45.1 al-out)" = "" ] && pass "the refused source is no member" ||
  fail "the refused source is no member" "$(serf members -rpc-addr 127.0.45.1:7373)"
stop_proc al-ours
stop_proc al-out

# Sources inside the list join as usual.
start_haserf_agent al-ours2 127.0.45.7 --allow 127.0.0.0/8 || { stop_all; finish; exit; }
start_serf al-in 127.0.45.2 || { stop_all; finish; exit; }
run timeout 20 serf join -rpc-addr 127.0.45.2:7373 127.0.45.7:7946
expect_rc "serf joins from an allowed subnet" 0
wait_for "an allowed source becomes a member" 15 is_status 127.0.45.7 al-in alive
[ "$(refused_at 127.0.45.7)" = 0 ] && pass "nothing refused from inside the list" ||
  fail "nothing refused from inside the list" "$(refused_at 127.0.45.7)"
stop_proc al-ours2

run timeout 5 "$HASERF" agent --bind 127.0.45.5:7946 --allow 10.0.0.0/33
expect_rc "a bad CIDR: usage error" 2
expect_contains "a bad CIDR is named" "$ERR" "allow: '10.0.0.0/33' is not a CIDR"
run timeout -s INT 2 "$HASERF" agent --bind 0.0.0.0:0 --advertise 127.0.45.6 --rpc-addr off
expect_contains "gossip without a key on every address: a loud warning" "$ERR" \
  "[WARN] haserf agent: gossip on 0.0.0.0:"
expect_contains "the warning says what to do" "$ERR" "give a key (serf keygen) and an allow-list of sources"
stop_all
finish
