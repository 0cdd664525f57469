#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The members page (lua.haserf-page) as a browser renders it: the lab HAProxy side
# (examples/lab/ha-start.sh) with 2 serf backends and one member that left, then headless
# Chromium loads http://127.0.9.42:8404/haserf: --dump-dom must contain the member names,
# statuses, tags, the slot mapping and the renders/reloads table (with a render whose check
# failed: a template edit that HAProxy rejects, so the running config is kept); --screenshot
# must produce a 1280x900 PNG of non-trivial size.
#
# Chromium: the Debian package `chromium`, installed here with apt-get when missing (root);
# when that is impossible the test is skipped (exit 77, ctest SKIP_RETURN_CODE). Every
# chromium run is bounded with `timeout`, and any chromium process left with our profile
# directory is killed by pid.
#
# SCREENSHOT_OUT=PATH also copies the screenshot there (docs/images/members-page.png is made
# this way: SCREENSHOT_OUT=docs/images/members-page.png bash tests/haproxy/page_screenshot_test.sh
# build .).
# Usage: page_screenshot_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.9.0/24 (loopback only):
# HAProxy 127.0.9.42, backends 127.0.9.11-13.
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-90}   # + at most 100 s of apt-get: below the ctest TIMEOUT (200)

# Chromium first: nothing is started yet, so skipping needs no cleanup.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "# chromium is missing: apt-get install chromium (bounded, 100 s)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 100 bash -c 'apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }'
  fi
  if ! command -v chromium >/dev/null; then
    echo "SKIP - chromium is not installed and could not be installed (apt-get install chromium, as root)"
    exit 77
  fi
fi

. "$SRC/tests/haproxy/lib.sh"

PROFILES=()
# chrome ARGS...: headless chromium, bounded (the whole process group: timeout signals it), with
# a fresh profile; whatever is left with that profile afterwards is killed by pid.
chrome() {
  local udd rc pids
  udd=$(mktemp -d "$TMP/chromium-XXXXXX")
  PROFILES+=("$udd")
  timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$udd" "$@" 2>>"$TMP/chromium.log"
  rc=$?
  pids=$(pgrep -f -- "--user-data-dir=$udd" || true)
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  return $rc
}
_page_cleanup() {
  local udd pids
  for udd in "${PROFILES[@]}"; do
    pids=$(pgrep -f -- "--user-data-dir=$udd" || true)
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  done
  _ha_cleanup
}
trap '_page_cleanup' EXIT

# The lab template, copied so that the test can edit it (the glue re-reads it every second).
TPL=$TMP/haproxy.cfg.mustache
cp "$SRC/examples/lab/haproxy.cfg.mustache" "$TPL"
start_ha 127.0.9.42 LAB_TEMPLATE="$TPL" LAB_NODE=haproxy-lab || { stop_all; finish; exit; }
start_backend web1 127.0.9.11 127.0.9.42 -tag zone=a -tag weight=3
start_backend web2 127.0.9.12 127.0.9.42 -tag zone=b
start_backend web3 127.0.9.13 127.0.9.42 -tag zone=b
wait_for "web1..web3 are routed to" 20 routes_exactly "web1 web2 web3"
run rpc 127.0.9.13 leave
expect_rc "serf leave on web3" 0
stop_proc web3
wait_for "web3 is seen as left" 20 eval \
  'curl -sf "http://127.0.9.42:8404/haserf/members.json" | jq -e ".members[] | select(.name == \"web3\" and .status == \"left\")"'

# A template edit that HAProxy's check rejects: the glue renders, the check fails, nothing is
# written, the running config is kept, and the page lists the failed render.
echo "    this-keyword-does-not-exist" >>"$TPL"
wait_for "the page lists the failed render" 20 eval \
  'curl -sf "http://127.0.9.42:8404/haserf" | grep -q "<td class=\"failed\">failed</td>"'
routes_exactly "web1 web2" && pass "traffic still flows after the rejected template" ||
  fail "traffic still flows after the rejected template"

URL=http://127.0.9.42:8404/haserf
DOM=$TMP/dom.html
chrome --dump-dom "$URL" >"$DOM"
dump_rc=$?
[ "$dump_rc" = 0 ] && [ -s "$DOM" ] && pass "chromium --dump-dom $URL" ||
  fail "chromium --dump-dom $URL" "rc $dump_rc; $(tail -n 5 "$TMP/chromium.log")"
D=$(cat "$DOM")
expect_contains "DOM: the title names HAProxy's node" "$D" "<h1>haserf on haproxy-lab</h1>"
expect_contains "DOM: web1 alive with its address" "$D" '<td>web1</td><td>127.0.9.11:7946</td><td class="alive">alive</td>'
expect_contains "DOM: web2 alive" "$D" '<td>web2</td><td>127.0.9.12:7946</td><td class="alive">alive</td>'
expect_contains "DOM: web3 left" "$D" '<td>web3</td><td>127.0.9.13:7946</td><td class="left">left</td>'
expect_contains "DOM: HAProxy itself alive" "$D" '<td>haproxy-lab</td><td>127.0.9.42:7946</td><td class="alive">alive</td>'
expect_contains "DOM: tags" "$D" "port=3000, role=backend, weight=3, zone=a"
S1=$(slot_of 127.0.9.11)
S2=$(slot_of 127.0.9.12)
expect_contains "DOM: slot $S1 -> web1, ready, weight 3" "$D" \
  "<td>nodes/$S1</td><td>web1</td><td class=\"ready\">ready</td><td>127.0.9.11:3000</td><td>3</td>"
expect_contains "DOM: slot $S2 -> web2, ready" "$D" \
  "<td>nodes/$S2</td><td>web2</td><td class=\"ready\">ready</td><td>127.0.9.12:3000</td>"
expect_contains "DOM: free slots in maintenance" "$D" '<td>-</td><td class="maint">maint</td>'
expect_contains "DOM: the renders/reloads table" "$D" "<h2>Renders and reloads</h2>"
expect_contains "DOM: the failed render" "$D" '<td>render+check+reload</td><td class="failed">failed</td>'
expect_contains "DOM: the counters" "$D" "<th>packets_received</th>"

PNG=$TMP/members-page.png
chrome --screenshot="$PNG" --window-size=1280,900 "$URL" >/dev/null
rc=$?
SIZE=$(stat -c %s "$PNG" 2>/dev/null || echo 0)
[ "$rc" = 0 ] && [ "$SIZE" -gt 20000 ] && pass "chromium --screenshot wrote a PNG of $SIZE bytes (> 20 KB)" ||
  fail "chromium --screenshot wrote a PNG > 20 KB" "rc $rc, $SIZE bytes; $(tail -n 5 "$TMP/chromium.log")"
# PNG signature, then the IHDR chunk: width and height, big-endian, at bytes 16-23.
SIG=$(od -An -tx1 -N8 "$PNG" 2>/dev/null | tr -d ' \n')
read -r W H < <(od -An -tu1 -j16 -N8 "$PNG" 2>/dev/null |
  awk '{print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4, $5 * 16777216 + $6 * 65536 + $7 * 256 + $8}')
[ "$SIG" = 89504e470d0a1a0a ] && [ "${W:-0}" = 1280 ] && [ "${H:-0}" = 900 ] &&
  pass "the screenshot is a 1280x900 PNG" || fail "the screenshot is a 1280x900 PNG" "signature $SIG, ${W}x${H}"
if [ -n "${SCREENSHOT_OUT:-}" ] && [ -s "$PNG" ]; then
  mkdir -p "$(dirname "$SCREENSHOT_OUT")" && cp "$PNG" "$SCREENSHOT_OUT" && echo "# screenshot copied to $SCREENSHOT_OUT"
fi

LEFT=""
for udd in "${PROFILES[@]}"; do LEFT+=$(pgrep -f -- "--user-data-dir=$udd" || true); done
[ -z "$LEFT" ] && pass "no chromium process left" || fail "no chromium process left" "$LEFT"
stop_ha
stop_all
finish
