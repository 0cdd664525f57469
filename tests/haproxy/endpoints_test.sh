#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The glue's HTTP services and CLI command: members JSON, HTML page (escaped), Prometheus
# metrics, `haserf members` on the stats socket; `haproxy -c` of the lab config.
# Usage: endpoints_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.4.0/24 (loopback only).
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-100}
. "$SRC/tests/haproxy/lib.sh"

start_ha 127.0.4.1 || { stop_all; finish; exit; }
start_backend e1 127.0.4.11 127.0.4.1 -tag note=hello
start_backend e2 127.0.4.12 127.0.4.1 -tag weight=3
# e3's tag is unsafe in a config line (and in HTML): rejected, routed nowhere, shown with why.
start_backend e3 127.0.4.13 127.0.4.1 -tag 'note=<b>"x"&y</b>'
wait_for "e1 and e2 are routed to, e3 (rejected) is not" 20 routes_exactly "e1 e2"

run curl -s -D "$TMP/h" --max-time 5 "http://127.0.4.1:8404/haserf/members.json"
expect_rc "GET /members.json" 0
grep -qi '^content-type: application/json' "$TMP/h" && pass "members.json is application/json" ||
  fail "members.json is application/json" "$(cat "$TMP/h")"
N=$(printf '%s' "$OUT" | jq -r '[.members[] | select(.status == "alive") | .name] | sort | join(",")' 2>/dev/null)
[ "$N" = "e1,e2,e3,haproxy" ] && pass "members.json lists e1, e2, e3 and haproxy alive" || fail "members.json lists e1, e2, e3 and haproxy alive" "$OUT"
R=$(printf '%s' "$OUT" | jq -r '.members[] | select(.name == "e3") | .rejected')
case "$R" in *'tags.note has unsafe value'*) pass "members.json says why e3 is rejected" ;;
  *) fail "members.json says why e3 is rejected" "$R" ;; esac
[ "$(printf '%s' "$OUT" | jq -r '.members[] | select(.name == "e1") | .rejected')" = null ] &&
  pass "members.json: e1 is not rejected" || fail "members.json: e1 is not rejected" "$OUT"
[ "$(printf '%s' "$OUT" | jq -r '.members[] | select(.name == "e2") | .tags.weight')" = 3 ] &&
  pass "members.json carries tags" || fail "members.json carries tags" "$OUT"

run curl -s -D "$TMP/h" --max-time 5 "http://127.0.4.1:8404/haserf"
expect_rc "GET /haserf" 0
grep -qi '^content-type: text/html' "$TMP/h" && pass "the page is text/html" || fail "the page is text/html" "$(cat "$TMP/h")"
expect_contains "the page auto-refreshes" "$OUT" '<meta http-equiv="refresh" content="2">'
expect_contains "the page lists members with status" "$OUT" '<td>e2</td><td>127.0.4.12:7946</td><td class="alive">alive</td>'
expect_contains "the page escapes tag values" "$OUT" 'note=&lt;b&gt;&quot;x&quot;&amp;y&lt;/b&gt;'
case "$OUT" in *'<b>"x"'*) fail "no raw tag value in the page" ;; *) pass "no raw tag value in the page" ;; esac
expect_contains "the page shows e3 rejected with the reason" "$OUT" '<td class="rejected">rejected: field tags.note has unsafe value'
expect_contains "the page shows the slot mapping" "$OUT" '<td>nodes/s1</td><td>e1</td><td class="ready">ready</td><td>127.0.4.11:3000</td>'
expect_contains "the page shows counters" "$OUT" '<th>packets_received</th>'
expect_contains "the page links its neighbours under its own path" "$OUT" '<a href="/haserf/metrics">metrics</a>'
# The pages live on the admin frontend only: the public one sends /haserf to the backends, and
# the admin frontend answers nothing else.
run curl -s --max-time 5 "http://127.0.4.1:8080/haserf/metrics"
case "$OUT" in *haserf_up*) fail "the public frontend does not serve the metrics" "$OUT" ;;
  *) pass "the public frontend does not serve the metrics" ;; esac
run curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.4.1:8404/metrics"
[ "$OUT" = 404 ] && pass "the admin frontend leaves /metrics to HAProxy's exporter (404 here)" ||
  fail "the admin frontend answers 404 on /metrics" "$OUT"

run curl -s -D "$TMP/h" --max-time 5 "http://127.0.4.1:8404/haserf/metrics"
expect_rc "GET /metrics" 0
grep -qi '^content-type: text/plain' "$TMP/h" && pass "metrics are text/plain" || fail "metrics are text/plain"
expect_contains "metrics: alive members" "$OUT" 'haserf_members{status="alive"} 4'
expect_contains "metrics: rejected members" "$OUT" 'haserf_members_rejected 1'
expect_contains "metrics: unsafe messages dropped" "$OUT" '# TYPE haserf_unsafe_dropped_total counter'
expect_contains "metrics: failed members" "$OUT" 'haserf_members{status="failed"} 0'
expect_contains "metrics: used slots" "$OUT" 'haserf_slots{backend="nodes",state="used"} 2'
expect_contains "metrics: free slots" "$OUT" 'haserf_slots{backend="nodes",state="free"} 2'
expect_contains "metrics: reloads by result" "$OUT" 'haserf_reloads_total{result="ok"} 0'
expect_contains "metrics: table version" "$OUT" 'haserf_table_version '
expect_contains "metrics: packets received" "$OUT" '# TYPE haserf_packets_received_total counter'
expect_contains "metrics: packets dropped" "$OUT" 'haserf_packets_dropped_total '
expect_contains "metrics: no glue error" "$OUT" 'haserf_glue_errors_total 0'
expect_contains "metrics: build info with HAProxy's version" "$OUT" 'haserf_build_info{version="'
printf '%s\n' "$OUT" | grep -q '^haserf_build_info{.*haproxy="[23]\.[0-9]' &&
  pass "metrics: haserf_build_info names HAProxy's version" || fail "metrics: haserf_build_info names HAProxy's version" "$(printf '%s\n' "$OUT" | grep build_info)"
expect_contains "metrics: the member in each slot, with HAProxy's exporter's labels" "$OUT" 'haserf_slot_info{proxy="nodes",server="s1",member="e1"} 1'
expect_contains "metrics: last reload time" "$OUT" 'haserf_last_reload_timestamp_seconds 0'
expect_contains "metrics: queries received" "$OUT" '# TYPE haserf_queries_received_total counter'
BAD=$(printf '%s\n' "$OUT" | grep -v '^#' | grep -vE '^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$' || true)
[ -z "$BAD" ] && pass "every metrics line is well-formed" || fail "every metrics line is well-formed" "$BAD"

run admin "haserf members"
expect_contains "CLI 'haserf members' lists e1" "$OUT" "e1"
expect_contains "CLI 'haserf members' shows slots" "$OUT" "slot nodes/s2 ready e2 127.0.4.12:3000"
expect_contains "CLI 'haserf members' shows e3 rejected" "$OUT" "REJECTED: field tags.note"
# Severity: <4> (warning) from the logger (the lab's "format short"), and on 2.6 also
# "[warning]" in the stderr copy.
grep -qE "^<4>haserf: nodes: member e3 rejected, routed nowhere: field tags.note" "$HA/haproxy.log" &&
  pass "the rejection is logged at HAProxy's warning severity" || fail "the rejection is logged at HAProxy's warning severity" "$(grep "member e3" "$HA/haproxy.log")"
# Once per reason; the lab log holds the stderr copy and the log line of each message.
[ "$(grep -c "member e3 rejected" "$HA/haproxy.log")" -le 2 ] &&
  pass "the rejection is logged once" ||
  fail "the rejection is logged once" "$(grep -c "member e3 rejected" "$HA/haproxy.log") lines"

# haproxy -c of the running config passes, with a serf agent holding HAProxy's gossip address:
# loading the glue + module binds nothing.
export LAB_DIR=$HA LAB_IP=127.0.4.1 LAB_BUILD=$BUILD LAB_LUA LAB_SRC=$SRC LAB_JOIN= LAB_NODE=x LAB_NBTHREAD=1 \
  LAB_TEMPLATE=$SRC/examples/lab/haproxy.cfg.mustache
run lab_haproxy -c -q -f "$HA/haproxy.cfg"
expect_rc "haproxy -c passes while the member runs on the same address" 0
sed '/setenv HASERF_BIND/d' "$HA/haproxy.cfg" >"$TMP/nobind.cfg"
run lab_haproxy -c -f "$TMP/nobind.cfg"
[ "$RC" -ne 0 ] && pass "haproxy -c fails without HASERF_BIND" || fail "haproxy -c fails without HASERF_BIND"
expect_contains "the error names HASERF_BIND" "$OUT$ERR" "haserf: HASERF_BIND: required"
# Every knob is checked by haproxy -c, the message names it.
knob_check() {  # DESC SED_EXPR EXPECTED_TEXT [rc]
  sed "$2" "$HA/haproxy.cfg" >"$TMP/knob.cfg"
  run lab_haproxy -c -f "$TMP/knob.cfg"
  if [ "${4:-1}" = 0 ]; then
    [ "$RC" -eq 0 ] && pass "haproxy -c passes: $1" || fail "haproxy -c passes: $1" "$ERR"
  else
    [ "$RC" -ne 0 ] && pass "haproxy -c fails: $1" || fail "haproxy -c fails: $1"
  fi
  expect_contains "the message for $1" "$OUT$ERR" "$3"
}
knob_check "a bad profile" 's|setenv HASERF_TAGS "role=lb"|&\n    setenv HASERF_PROFILE fast|' \
  "haserf: HASERF_PROFILE: unknown profile 'fast'"
knob_check "a bad key" 's|setenv HASERF_TAGS "role=lb"|&\n    setenv HASERF_ENCRYPT abc|' \
  "haserf: HASERF_ENCRYPT: encryption key"
knob_check "a bad join address" 's|setenv HASERF_JOIN ",${LAB_JOIN}"|setenv HASERF_JOIN "10.0.0.1:99999"|' \
  "haserf: HASERF_JOIN: join address '10.0.0.1:99999'"
knob_check "an unknown backend" 's|setenv HASERF_BACKENDS "nodes"|setenv HASERF_BACKENDS "nodes,api"|' \
  "haserf: HASERF_BACKENDS: backend 'api' is not declared"
knob_check "a non-numeric interval" 's|setenv HASERF_TAGS "role=lb"|&\n    setenv HASERF_DRAIN_MS soon|' \
  "haserf: HASERF_DRAIN_MS: must be an integer number of ms, got 'soon'"
knob_check "a bad log level" 's|setenv HASERF_TAGS "role=lb"|&\n    setenv HASERF_LOG_LEVEL loud|' \
  "haserf: HASERF_LOG_LEVEL: 'loud' is not one of debug, info, notice, warn, err"
knob_check "lua-load-per-thread" 's|^    lua-load |    lua-load-per-thread |' \
  "must be loaded with lua-load, not lua-load-per-thread"
knob_check "a misspelt knob (warning only)" 's|setenv HASERF_TAGS "role=lb"|&\n    setenv HASERF_DRAIN_MSS 10|' \
  "unknown knob HASERF_DRAIN_MSS ignored (did you mean HASERF_DRAIN_MS?)" 0
run curl -s --max-time 3 "http://127.0.4.1:8080/"
expect_contains "HAProxy still serves after the checks" "$OUT" "e"

stop_ha
stop_all
finish
