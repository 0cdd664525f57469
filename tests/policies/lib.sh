# SPDX-License-Identifier: MIT
# Helpers for the policy tests (tests/policies/*_test.sh; sourced after setting BUILD and SRC).
# Reuses tests/haproxy/lib.sh (lab HAProxy, web apps, serf agents, bounded polling, watchdog,
# cleanup of every process, summary). The HAProxy config is one of examples/policies/*.cfg,
# given to examples/lab/ha-start.sh as its template (they contain no mustache tags).
#
# Addresses: 127.0.8.0/24 only. Each test owns HAProxy on 127.0.8.N (frontend :8080, gossip
# :7946) and backends on 127.0.8.N1..N9 (web :3000, gossip :7946, RPC :7373).
#
#   start_policy IP CFG            HAProxy with examples/policies/CFG.cfg on IP
#   ask PATH [curl args...]        one request: prints the member name, or HTTPcode if not 200;
#                                  the response headers are in $TMP/ask.h
#   tally N PATH [curl args...]    N requests: "NAME COUNT" lines (HTTPcode for non-200)
#   names N PATH [curl args...]    N requests: the distinct answers, sorted, space-separated
#   count_of NAME "TALLY"          NAME's count in a tally (0 if absent)
#   resp_header NAME               a header of the last `ask` ("" if absent)
#   backend_ready NAME IP          NAME alive in members.json and holding a slot of `nodes`
. "$SRC/tests/haproxy/lib.sh"

start_policy() {
  start_ha "$1" LAB_TEMPLATE="$SRC/examples/policies/$2.cfg"
}

ask() {
  local path=$1 r code
  shift
  r=$(curl -s --max-time 3 -D "$TMP/ask.h" -w '|%{http_code}' "$@" "http://$HA_IP:8080$path")
  code=${r##*|}
  if [ "$code" = 200 ]; then printf '%s\n' "${r%|*}" | head -n 1; else echo "HTTP$code"; fi
}

tally() {
  local n=$1 path=$2 i
  shift 2
  for i in $(seq "$n"); do ask "$path" "$@"; done | sort | uniq -c | awk '{print $2, $1}'
}

names() { tally "$@" | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//'; }

count_of() { printf '%s\n' "$2" | awk -v n="$1" '$1 == n {c = $2} END {print c + 0}'; }

resp_header() {
  tr -d '\r' <"$TMP/ask.h" | awk -v h="$(echo "$1" | tr 'A-Z' 'a-z')" '
    { split($0, a, ": "); if (tolower(a[1]) == h) { sub(/^[^:]*: /, ""); print; exit } }'
}

backend_ready() {
  curl -sf --max-time 3 "http://$HA_IP:8404/haserf/members.json" |
    jq -e --arg n "$1" '.members[] | select(.name == $n and .status == "alive")' >/dev/null &&
    [ -n "$(slot_of "$2")" ]
}

# no_policy_errors: the policies never raised (they log "haserf policy NAME: ..." when they do)
# and the glue caught no error.
no_policy_errors() {
  local m
  m=$(curl -s --max-time 3 "http://$HA_IP:8404/haserf/metrics")
  expect_contains "no Lua error caught in the glue" "$m" "haserf_glue_errors_total 0"
  if grep -q "haserf policy" "$HA/haproxy.log" 2>/dev/null; then
    fail "no error in the policy fetches" "$(grep 'haserf policy' "$HA/haproxy.log" | tail -n 5)"
  else
    pass "no error in the policy fetches"
  fi
}
