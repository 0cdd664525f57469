#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make demo`: HAProxy joins a Serf cluster through haserf.so and routes to the backends it
# learns about, live. Usage: bash scripts/demo.sh BUILD_DIR
#
# Lab (loopback only): HAProxy on 127.0.0.42 (frontend :8080, admin :8404, stats :1936, gossip :7946);
# backends s1..s4 on 127.0.0.11-14 (web app :3000, serf agent :7946, RPC :7373).
# HASERF_HAPROXY_ROOT=DIR runs HAProxy 3.0 / Lua 5.4 from a Debian 13 root (made on first use).
# Walkthrough: start HAProxy + s1..s3, show members and traffic, add s4, remove s1 (serf
# leave), reload HAProxy (hitless: the member is handed over), show traffic after each change. Then waits DURATION seconds (env), or until Ctrl-C
# when stdin is a terminal and DURATION is unset; DURATION=0 (the default without a
# terminal) stops right away. Everything started is stopped on exit.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
SRC=$PWD
LAB=$SRC/examples/lab
. "$LAB/lib.sh"
BUILD=$(lab_abs "$BUILD")
export BUILD
DIR=$(mktemp -d /tmp/haserf-demo-XXXXXX)
HA_IP=127.0.0.42
if [ -z "${DURATION:-}" ]; then
  if [ -t 0 ]; then DURATION=""; else DURATION=0; fi
fi

for cmd in haproxy serf curl jq socat; do
  command -v "$cmd" >/dev/null || { echo "demo: $cmd is required (scripts/install-deps.sh)" >&2; exit 1; }
done

cleanup() {
  trap - EXIT INT TERM
  echo
  echo "== stopping everything"
  for n in 1 2 3 4; do bash "$LAB/backend.sh" stop "$DIR" "s$n" || true; done
  bash "$LAB/ha-stop.sh" "$DIR" || true
  if [ -n "${KEEP_DIR:-}" ]; then echo "(kept $DIR)"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }
members() {
  curl -s --max-time 3 "http://$HA_IP:8404/haserf/members.json" |
    jq -r '.members[] | "  \(.name)\t\(.addr)\t\(.status)\t\([.tags | to_entries[] | "\(.key)=\(.value)"] | join(","))"'
}
traffic() {
  local i
  echo "  12 requests to http://$HA_IP:8080/ answered by:"
  for i in $(seq 12); do curl -s --max-time 3 "http://$HA_IP:8080/" || echo "(error)"; done |
    sort | uniq -c | sed 's/^ */    /'
}
slots() {
  curl -s --max-time 3 "http://$HA_IP:8404/haserf" |
    sed -n 's|.*<td>\(nodes/s[0-9]*\)</td><td>\([^<]*\)</td><td class="[a-z]*">\([a-z]*\)</td><td>\([^<]*\)</td>.*|  \1\t\2\t\3\t\4|p'
}
# routes_to NAME yes|no: bounded wait until NAME is (or is not) among 12 answers.
routes_to() {
  local name=$1 want=$2 deadline=$(($(date +%s) + 40)) got answers i
  while true; do
    got=no
    answers=$(for i in $(seq 12); do curl -s --max-time 3 "http://$HA_IP:8080/" || true; done)
    if printf '%s\n' "$answers" | grep -qx "$name"; then got=yes; fi
    [ "$got" = "$want" ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && { echo "demo: $name routed=$got after 40 s (wanted $want)" >&2; return 1; }
    sleep 0.5
  done
}

# HASERF_HAPROXY_ROOT=DIR: HAProxy 3.0 with the Lua 5.4 module from a Debian 13 root, made in
# DIR first when it is not there yet (scripts/debian13-root.sh, about a minute).
if [ -n "${HASERF_HAPROXY_ROOT:-}" ]; then
  HASERF_HAPROXY_ROOT=$(bash scripts/debian13-root.sh "$HASERF_HAPROXY_ROOT")
  export HASERF_HAPROXY_ROOT
  lab_haproxy_command
fi
step "starting $(lab_haproxy -v | head -n 1 | cut -d' ' -f1-3) (Lua $LAB_LUA module) with the haserf glue on $HA_IP (logs: $DIR/haproxy.log)"
bash "$LAB/ha-start.sh" "$DIR" 2>&1 | grep -v '^haserf render:' || true
[ -f "$DIR/haproxy.pid" ] || exit 1

step "starting backends s1, s2, s3 (web app + serf agent joining $HA_IP:7946)"
for n in 1 2 3; do bash "$LAB/backend.sh" start "$DIR" "s$n" "127.0.0.1$n" "$HA_IP:7946"; done
routes_to s3 yes

step "members, as HAProxy's own member sees them (GET /members.json)"
members
step "slots (backend nodes, server-template s 1-4): slot, member, state, address"
slots
step "traffic"
traffic

step "adding s4 live"
bash "$LAB/backend.sh" start "$DIR" s4 127.0.0.14 "$HA_IP:7946"
routes_to s4 yes
slots
traffic

step "removing s1 live (serf leave: drained, then maintenance)"
bash "$LAB/backend.sh" leave "$DIR" s1 127.0.0.11
routes_to s1 no
members
slots
traffic

step "reloading HAProxy (echo reload | socat - master.sock): the new worker takes the member over"
before=$(grep -c "took over from worker" "$DIR/haproxy.log" || true)
echo reload | socat -t 5 - "unix-connect:$DIR/master.sock" >/dev/null
deadline=$(($(date +%s) + 20))
until [ "$(grep -c "took over from worker" "$DIR/haproxy.log" || true)" -gt "$before" ]; do
  [ "$(date +%s)" -ge "$deadline" ] && { echo "demo: no takeover within 20 s" >&2; exit 1; }
  sleep 0.2
done
grep "took over from worker" "$DIR/haproxy.log" | tail -n 1 | sed 's/^.*haserf: /  haserf: /'
echo "  the cluster saw no leave or join; s2's view of the balancer:"
serf members -rpc-addr 127.0.0.12:7373 | awk '$1 == "haproxy" {print "    " $0}'
traffic

step "see it live"
echo "  members page: http://$HA_IP:8404/haserf   (auto-refresh)"
echo "  JSON:         http://$HA_IP:8404/haserf/members.json"
echo "  metrics:      http://$HA_IP:8404/haserf/metrics"
echo "  HAProxy stats http://$HA_IP:1936/"
echo "  try: serf tags -rpc-addr 127.0.0.12:7373 -set weight=5   (weight of s2's slot follows)"
if [ -z "$DURATION" ]; then
  echo "  press Ctrl-C to stop"
  while true; do sleep 1; done
elif [ "$DURATION" -gt 0 ]; then
  echo "  stopping in $DURATION s (Ctrl-C to stop now)"
  sleep "$DURATION"
fi
