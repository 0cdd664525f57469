#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A lab backend: the tiny web app (HAProxy answering "NAME") on IP:3000 and a real serf agent
# (gossip IP:7946, RPC IP:7373, tags role=backend port=3000 plus any -tag you add).
# Usage:
#   backend.sh start DIR NAME IP JOIN [serf agent args...]   # JOIN: IP:PORT of HAProxy's member
#   backend.sh leave DIR NAME IP     # serf leave (graceful), then stops the web app
#   backend.sh kill DIR NAME         # kill -9 of the serf agent (a failure), web app stays
#   backend.sh stop DIR NAME         # stops both (TERM, bounded, then KILL)
# Files: DIR/NAME.web.pid, DIR/NAME.serf.pid, DIR/NAME.web.log, DIR/NAME.serf.log.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cmd=${1:-}
DIR=${2:-}
NAME=${3:-}
[ -n "$cmd" ] && [ -n "$DIR" ] && [ -n "$NAME" ] || { sed -n '2,10p' "$0" >&2; exit 2; }
mkdir -p "$DIR"
case "$cmd" in
  start)
    IP=$4 JOIN=$5
    shift 5
    WEB_NAME=$NAME WEB_ADDR=$IP:3000 haproxy -db -f "$LAB_SRC/examples/lab/web.cfg" \
      >"$DIR/$NAME.web.log" 2>&1 </dev/null &
    echo $! >"$DIR/$NAME.web.pid"
    serf agent -node "$NAME" -bind "$IP:7946" -rpc-addr "$IP:7373" -retry-join "$JOIN" \
      -retry-interval 1s -tag role=backend -tag port=3000 "$@" >"$DIR/$NAME.serf.log" 2>&1 </dev/null &
    echo $! >"$DIR/$NAME.serf.pid"
    if ! lab_wait 20 timeout 5 serf members -rpc-addr "$IP:7373"; then
      echo "backend.sh: serf agent $NAME did not start; log:" >&2
      tail -n 10 "$DIR/$NAME.serf.log" >&2
      exit 1
    fi
    lab_wait 10 curl -sf -o /dev/null --max-time 2 "http://$IP:3000/" ||
      { echo "backend.sh: web app $NAME does not answer on $IP:3000" >&2; exit 1; }
    ;;
  leave)
    IP=$4
    timeout 20 serf leave -rpc-addr "$IP:7373" >/dev/null 2>&1
    [ -f "$DIR/$NAME.serf.pid" ] && lab_wait 10 bash -c "! kill -0 $(cat "$DIR/$NAME.serf.pid") 2>/dev/null"
    lab_stop_pidfile "$DIR/$NAME.serf.pid" 5
    lab_stop_pidfile "$DIR/$NAME.web.pid" 5
    ;;
  kill)
    [ -f "$DIR/$NAME.serf.pid" ] && kill -KILL "$(cat "$DIR/$NAME.serf.pid")" 2>/dev/null
    rm -f "$DIR/$NAME.serf.pid"
    ;;
  stop)
    lab_stop_pidfile "$DIR/$NAME.serf.pid" 5
    lab_stop_pidfile "$DIR/$NAME.web.pid" 5
    ;;
  *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
