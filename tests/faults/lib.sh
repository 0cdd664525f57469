# SPDX-License-Identifier: MIT
# Helpers for the fault tests (tests/faults/*_test.sh) and bench/faults/loss.sh: real serf
# agents, `haserf agent` and the lab HAProxy with the glue, in a private network namespace
# with nftables rules for packet loss and cut links. Sourced after setting BUILD and SRC (and
# HASERF, the haserf CLI, for haserf agents) and FAULT_TAG (the namespace is
# haserf-$FAULT_TAG-PID). Reuses tests/haproxy/lib.sh (and through it tests/integration/lib.sh:
# process tracking, watchdog, cleanup, pass/fail summary) and netns_create from there.
#
# Root only: exits 77 (skip) otherwise. Everything runs inside the namespace, on its private
# loopback, with addresses in 127.0.44.0/24 (HAProxy on .1, serf backends from .11, haserf
# agents from .21). Rules are nft tables inside the namespace, so they go with it; cleanup is
# the kit's (stop everything, kill what is left in the namespace, delete it).
#
# Why rules sit in the input hook: a packet dropped in the output hook makes the sender's
# sendto()/connect() fail with EPERM, which an agent sees (and logs) as a local error, not as
# loss. Dropped at input, the sender sees a sent packet that never arrives, as on a network.
# A node's own TCP connections leave from 127.0.0.1 (neither serf nor haserf binds outgoing
# connections to its gossip address), so they cannot be told apart by address: a node that is
# to be cut is started with a group id of its own (with_gid), its gossip connections are marked
# in the output hook by that group (meta skgid) and dropped at input by the mark.
#
#   with_gid GID CMD...        run a kit helper (start_ha, start_serf, start_backend, ...) so
#                              that the processes it starts have group id GID (setpriv)
#   loss_on PERCENT            random loss of PERCENT % of every gossip packet (UDP and TCP to
#                              or from port 7946, each packet once); other traffic untouched
#   loss_off                   removes it; prints the packets seen and dropped (nft counters)
#   cut_on NAME IP [GID]       cuts NAME's gossip (to and from IP:7946, and its own TCP
#                              connections when it runs with GID) from everyone; web traffic
#                              to IP and health checks are not touched
#   cut_off NAME               heals; prints the packets the cut dropped
#   probe_start [PERIOD]       one request to HAProxy's frontend every PERIOD s (0.2), in the
#                              background: "EPOCH BODY CODE" lines in $TMP/probe.log
#   probe_stop                 stops it
#   probe_check DESC NAMES [FROM [TO]]  records a check: every request sent between the epoch
#                              times FROM and TO (default: all) got a 200 from one of NAMES
#                              (space-separated); sets PROBE_SENT, PROBE_FAILED
#   probe_first NAME FROM      epoch of the first request NAME answered after FROM ("" if none)
#   probe_saw NAMES FROM TO    each of NAMES answered at least one request between FROM and TO
#   ha_routes IPS              exactly these addresses (any order) are in slots that route:
#                              ready (srv_admin_state: no maintenance, no drain) and up
#                              (srv_op_state 2). Not `routes_exactly` while the probe runs: the
#                              probe's requests take turns in the same round robin and can take
#                              one server's every turn among 12 requests.
#   ha_metric REGEX            HAProxy's haserf metrics lines matching REGEX
#   ha_metric_is LINE          the metrics have exactly LINE
#   ha_status NODE             NODE's status as HAProxy's member sees it (members.json)
#   log_offsets NAMES...       remembers the current size of each serf agent's log
#   failed_counts OBSERVERS    "SUBJECT COUNT" for every EventMemberFailed: SUBJECT line the
#                              serf agents OBSERVERS logged since log_offsets (serf declared
#                              SUBJECT failed: memberlist's suspicion timed out, or it learnt so)
#   suspect_counts OBSERVERS   the same for "Suspect SUBJECT has failed, no acks received" (a
#                              probe of SUBJECT by that agent failed: a suspicion starts)
#   now                        epoch time with microseconds ($EPOCHREALTIME)
[ "$(id -u)" = 0 ] || { echo "SKIP - needs root (network namespaces, nftables)"; exit 77; }
. "$SRC/tests/haproxy/lib.sh"
command -v nft >/dev/null || { echo "FAIL - nft is required (scripts/install-deps.sh: nftables)"; exit 1; }
command -v setpriv >/dev/null || { echo "FAIL - setpriv is required (util-linux)"; exit 1; }
netns_create "${FAULT_TAG:?FAULT_TAG}"
if ! in_ns nft list tables >/dev/null 2>"$TMP/nft.err"; then
  echo "SKIP - nftables does not work in a network namespace here: $(cat "$TMP/nft.err")"
  exit 77
fi

GOSSIP_PORT=7946
now() { echo "$EPOCHREALTIME"; }

with_gid() {
  local gid=$1 saved=("${IT_IN[@]}") rc
  shift
  IT_IN+=(setpriv --regid "$gid" --clear-groups)
  "$@"
  rc=$?
  IT_IN=("${saved[@]}")
  return $rc
}

# ---- loss and cuts ------------------------------------------------------------------------
loss_on() {
  local pct=$1
  in_ns nft -f - <<EOF
table inet haserf_loss {
  counter seen {}
  counter dropped {}
  chain in {
    type filter hook input priority 0; policy accept;
    meta l4proto { tcp, udp } th dport $GOSSIP_PORT counter name seen numgen random mod 100 < $pct counter name dropped drop
    meta l4proto { tcp, udp } th sport $GOSSIP_PORT th dport != $GOSSIP_PORT counter name seen numgen random mod 100 < $pct counter name dropped drop
  }
}
EOF
}

# _nft_counter TABLE NAME: packets counted by that named counter
_nft_counter() {
  in_ns nft -j list counter inet "$1" "$2" 2>/dev/null | jq '[.nftables[] | select(.counter) | .counter.packets] | add // 0'
}

loss_off() {
  LOSS_SEEN=$(_nft_counter haserf_loss seen)
  LOSS_DROPPED=$(_nft_counter haserf_loss dropped)
  in_ns nft delete table inet haserf_loss
  echo "# loss: $LOSS_DROPPED of $LOSS_SEEN gossip packets dropped" \
    "($(awk -v d="$LOSS_DROPPED" -v s="$LOSS_SEEN" 'BEGIN { printf "%.1f", s ? 100 * d / s : 0 }') %)"
}

cut_on() {
  local name=$1 ip=$2 gid=${3:-} mark=""
  [ -n "$gid" ] && mark="meta skgid $gid meta l4proto { tcp, udp } th dport $GOSSIP_PORT meta mark set $gid"
  in_ns nft -f - <<EOF
table inet haserf_cut_$name {
  counter dropped {}
  chain out {
    type filter hook output priority 0; policy accept;
    $mark
  }
  chain in {
    type filter hook input priority 0; policy accept;
    ip daddr $ip meta l4proto { tcp, udp } th dport $GOSSIP_PORT counter name dropped drop
    ip saddr $ip meta l4proto { tcp, udp } th sport $GOSSIP_PORT counter name dropped drop
    ${gid:+meta mark $gid counter name dropped drop}
  }
}
EOF
}

cut_off() {
  echo "# cut of $1: $(_nft_counter "haserf_cut_$1" dropped) gossip packets dropped"
  in_ns nft delete table inet "haserf_cut_$1"
}

# ---- requests through HAProxy ---------------------------------------------------------------
probe_start() {
  local period=${1:-0.2}
  # shellcheck disable=SC2016
  "${IT_IN[@]}" bash -c '
    trap "exit 0" TERM
    while :; do
      out=$(curl -s --max-time 3 -w " %{http_code}" "$1" 2>/dev/null | tr "\n" " ")
      echo "$EPOCHREALTIME $out"
      sleep "$2"
    done' probe "http://$HA_IP:8080/" "$period" >"$TMP/probe.log" 2>&1 </dev/null &
  PID_OF[probe]=$!
  ALL_PIDS+=("$!")
}
probe_stop() { stop_proc probe 5; }

probe_check() {
  local desc=$1 names=$2 from=${3:-0} to=${4:-9e18} res
  res=$(awk -v names="$names" -v from="$from" -v to="$to" '
    BEGIN { n = split(names, a, " "); for (i = 1; i <= n; i++) ok[a[i]] = 1 }
    $1 >= from && $1 <= to {
      sent++
      if (NF == 3 && $3 == "200" && ($2 in ok)) next
      failed++
      if (failed <= 5) bad = bad sprintf("%s: %s | ", $1, substr($0, index($0, " ") + 1, 80))
    }
    END { printf "%d %d %s\n", sent, failed, bad }' "$TMP/probe.log")
  PROBE_SENT=${res%% *}
  res=${res#* }
  PROBE_FAILED=${res%% *}
  echo "# $desc: $PROBE_SENT requests, $PROBE_FAILED failed"
  if [ "$PROBE_FAILED" = 0 ] && [ "$PROBE_SENT" -gt 0 ]; then
    pass "$desc"
  else
    fail "$desc" "$PROBE_FAILED of $PROBE_SENT failed: ${res#* }"
  fi
}

probe_first() {
  awk -v n="$1" -v from="$2" '$1 > from && $2 == n && $3 == "200" { print $1; exit }' "$TMP/probe.log"
}

probe_saw() {
  local n
  for n in $1; do
    awk -v n="$n" -v f="$2" -v t="$3" '$1 >= f && $1 <= t && $2 == n && $3 == "200" { ok = 1 }
      END { exit !ok }' "$TMP/probe.log" || return 1
  done
}

_sorted_words() { printf '%s\n' $1 | sort | tr '\n' ' ' | sed 's/ $//'; }
ha_routed_ips() {
  # srv_admin_state bits: 0x01 forced maintenance (set_maint), 0x02 inherited maintenance,
  # 0x08 forced drain, 0x10 inherited drain (0x04 is the config's `disabled`, kept after
  # set_ready).
  admin "show servers state nodes" | awk '$2 == "nodes" && $6 == 2 {
      a = int($7); if (a % 2 == 0 && int(a / 2) % 2 == 0 && int(a / 8) % 2 == 0 && int(a / 16) % 2 == 0) print $5 }' |
    sort | tr '\n' ' ' | sed 's/ $//'
}
ha_routes() { [ "$(ha_routed_ips)" = "$(_sorted_words "$1")" ]; }

# ---- HAProxy's member --------------------------------------------------------------------------
ha_metric() { in_ns curl -s --max-time 3 "http://$HA_IP:8404/haserf/metrics" | grep -E "$1"; }
ha_metric_is() { in_ns curl -s --max-time 3 "http://$HA_IP:8404/haserf/metrics" | grep -qx "$1"; }
ha_status() {
  in_ns curl -s --max-time 3 "http://$HA_IP:8404/haserf/members.json" |
    jq -r --arg n "$1" '.members[] | select(.name == $n) | .status' 2>/dev/null
}
ha_status_is() { [ "$(ha_status "$1")" = "$2" ]; }

# ---- failure declarations in the serf agents' logs ------------------------------------------
declare -A LOG_OFFSET=()
log_offsets() {
  local n
  for n in "$@"; do LOG_OFFSET[$n]=$(stat -c %s "$TMP/$n.log" 2>/dev/null || echo 0); done
}
_log_counts() {  # OBSERVERS ERE AWK_FIELD
  local n
  for n in $1; do
    tail -c +"$((${LOG_OFFSET[$n]:-0} + 1))" "$TMP/$n.log" | grep -oE "$2" | awk -v f="$3" '{ print $f }'
  done | sort | uniq -c | awk '{ print $2, $1 }'
}
failed_counts() { _log_counts "$1" 'EventMemberFailed: [^ ]+' 2; }
suspect_counts() { _log_counts "$1" 'memberlist: Suspect [^ ]+ has failed' 3; }
