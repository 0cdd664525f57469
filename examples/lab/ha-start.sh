#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Starts the HAProxy side of the lab: master-worker HAProxy with the haserf Lua glue.
# Usage: ha-start.sh DIR
#   DIR/haproxy.cfg (rendered from the template), DIR/master.sock (master CLI; "@1 CMD" for the
#   current worker), DIR/haproxy.pid (master pid), DIR/haproxy.log (log).
# Environment:
#   BUILD        build directory holding bindings/lua5.3/haserf.so (lua5.4 with a root) and
#                cli/haserf (./build)
#   HASERF_HAPROXY_ROOT  a Debian 13 root (scripts/debian13-root.sh): run its HAProxy 3.0 with
#                the Lua 5.4 module instead of the host's HAProxy 2.6 with Lua 5.3 (unset)
#   LAB_IP       HAProxy address: frontend :8080, admin :8404 (/haserf), stats :1936,
#                gossip :7946 (127.0.0.42)
#   LAB_JOIN     comma-separated IP:PORT to join (empty: the backends join us)
#   LAB_NODE     HAProxy's node name (haproxy)
#   LAB_SLOTS    initial number of server-template slots in backend nodes (4)
#   LAB_TEMPLATE template the glue re-renders on structural changes (examples/lab/haproxy.cfg.mustache)
#   LAB_NBTHREAD HAProxy threads (the number of CPUs)
# Waits (bounded, 20 s) until the frontend answers; exits 1 otherwise (and stops HAProxy).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
BUILD=$(lab_abs "${BUILD:-build}")
export LAB_DIR=$DIR LAB_BUILD=$BUILD LAB_SRC LAB_LUA
export LAB_IP=${LAB_IP:-127.0.0.42}
export LAB_JOIN=${LAB_JOIN:-}
export LAB_NODE=${LAB_NODE:-haproxy}
export LAB_TEMPLATE=${LAB_TEMPLATE:-$LAB_SRC/examples/lab/haproxy.cfg.mustache}
export LAB_NBTHREAD=${LAB_NBTHREAD:-$(nproc)}
LAB_SLOTS=${LAB_SLOTS:-4}
lab_haproxy_command

for f in "$BUILD/bindings/lua$LAB_LUA/haserf.so" "$BUILD/cli/haserf"; do
  [ -e "$f" ] || { echo "ha-start: $f is missing (build first: make build)" >&2; exit 1; }
done
if [ -f "$DIR/haproxy.pid" ] && lab_alive "$(cat "$DIR/haproxy.pid")"; then
  echo "ha-start: HAProxy already runs with pid $(cat "$DIR/haproxy.pid") (ha-stop.sh $DIR)" >&2
  exit 1
fi

# The initial config: the template rendered with no members yet.
echo '{"members":[]}' | "$BUILD/cli/haserf" render -t "$LAB_TEMPLATE" -m - -o "$DIR/haproxy.cfg" \
  --var "slots_nodes=$LAB_SLOTS" --var "slots=$LAB_SLOTS" >/dev/null
rm -f "$DIR/haproxy.cfg.bak"
lab_haproxy -c -q -f "$DIR/haproxy.cfg" || { echo "ha-start: $DIR/haproxy.cfg does not pass haproxy -c" >&2; exit 1; }

rm -f "$DIR/master.sock" "$DIR/haproxy.pid"
setsid "${LAB_HAPROXY[@]}" -W -db -S "$DIR/master.sock" -p "$DIR/haproxy.pid" -f "$DIR/haproxy.cfg" \
  >>"$DIR/haproxy.log" 2>&1 </dev/null &
echo $! >"$DIR/haproxy.pid"

if ! lab_wait 20 curl -sf -o /dev/null --max-time 2 "http://$LAB_IP:8404/haserf/members.json"; then
  echo "ha-start: HAProxy did not answer on $LAB_IP:8404 within 20 s; log:" >&2
  tail -n 20 "$DIR/haproxy.log" >&2
  bash "$(dirname "$0")/ha-stop.sh" "$DIR" || true
  exit 1
fi
echo "ha-start: HAProxy master pid $(cat "$DIR/haproxy.pid"), http://$LAB_IP:8404/haserf"
