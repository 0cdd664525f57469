#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The recipe's serf event handler (serf agent -event-handler
# "member-join,member-leave,member-failed,member-update=handler.sh"), also run once by hand
# before HAProxy starts (HANDLER_NO_RELOAD=1). On every event: the alive role=backend members
# from the agent, rendered with handlebars-cmd into RECIPE_DIR/haproxy.cfg, then a reload.
#
# Reload: `reload` on the master CLI (HAProxy -W -S RECIPE_DIR/master.sock), i.e. the gentle
# master-worker reload with listener hand-over (the lab's "s6 restart" of haproxy -sf would
# be harsher). jq only splits serf's "IP:PORT" gossip address into the IP (handlebars 1.0 has
# no string helpers). Environment (inherited from the agent): RECIPE_DIR, RECIPE_IP,
# RECIPE_HERE (this directory). Appends one line per run to RECIPE_DIR/handler.log.
set -uo pipefail
D=$RECIPE_DIR
H=$RECIPE_HERE
t0=$EPOCHREALTIME
[ -t 0 ] || cat >/dev/null   # the event's member lines: the recipe re-reads the full list
timeout 10 serf members -rpc-addr "$RECIPE_IP:7373" -format=json -status=alive -tag role=backend \
  >"$D/members.raw.json" || { echo "$t0 ${SERF_EVENT:-init} serf-members-failed" >>"$D/handler.log"; exit 1; }
jq '{members: [(.members // [])[] | . + {ip: (.addr | sub(":[0-9]+$"; ""))}]}' "$D/members.raw.json" \
  >"$D/members.json" || exit 1
timeout 20 node "$H/node_modules/handlebars-cmd/index.js" "$D/members.json" <"$H/haproxy.cfg.hbs" >"$D/haproxy.cfg.tmp" ||
  { echo "$t0 ${SERF_EVENT:-init} render-failed" >>"$D/handler.log"; exit 1; }
mv -f "$D/haproxy.cfg.tmp" "$D/haproxy.cfg"
n=$(jq '.members | length' "$D/members.json")
t1=$EPOCHREALTIME
r=none
if [ -z "${HANDLER_NO_RELOAD:-}" ]; then
  r=$(echo reload | timeout 5 socat -t 5 - "unix-connect:$D/master.sock" 2>&1 | tr -d '\n')
  r=${r:-sent}
fi
echo "$t0 ${SERF_EVENT:-init} members=$n render_s=$(echo "$t1 - $t0" | bc) reload=$r done=$EPOCHREALTIME" >>"$D/handler.log"
