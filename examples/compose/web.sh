#!/bin/bash
# SPDX-License-Identifier: MIT
# One backend of the compose lab, in one container of the haserf-haproxy image: the lab's tiny
# web app (examples/lab/web.cfg: HAProxy answering the container's host name on :3000) and a
# `haserf agent` that announces it to the cluster (role=backend, port=3000) through the
# balancer (JOIN_HOST, default lb). The agent is the container's main process: SIGTERM (the
# service's stop_signal) makes it leave the cluster gracefully, then the container ends.
set -euo pipefail

log() { echo "web.sh: $*" >&2; }
# addr NAME: NAME's IPv4 address from the container's resolver (Docker's DNS for services).
addr() { getent ahostsv4 "$1" 2>/dev/null | awk '$1 !~ /^127\./ { print $1; exit }'; }

self=$(addr "$(uname -n)")
[ -n "$self" ] || { log "no address for my host name $(uname -n)"; exit 1; }
join_host=${JOIN_HOST:-lb}
# The balancer is healthy before we start (depends_on), but its name may take a moment to
# resolve: bounded wait.
lb=""
for _ in $(seq 30); do
  lb=$(addr "$join_host")
  [ -n "$lb" ] && break
  sleep 1
done
[ -n "$lb" ] || { log "$join_host does not resolve after 30 s"; exit 1; }

WEB_NAME=$(uname -n) WEB_ADDR=0.0.0.0:3000 haproxy -D -f /etc/haserf-web/web.cfg

args=(--bind 0.0.0.0:7946 --advertise "$self:7946" --join "$lb:7946" --node "$(uname -n)"
  --tag role=backend --tag port=3000)
# The same gossip key as the balancer, when the lab runs encrypted: the balancer's knobs
# HASERF_ENCRYPT (the key) or HASERF_ENCRYPT_FILE (a file holding it, e.g. a secret).
key=${HASERF_ENCRYPT:-}
if [ -z "$key" ] && [ -n "${HASERF_ENCRYPT_FILE:-}" ]; then
  key=$(tr -d ' \n\r\t' <"$HASERF_ENCRYPT_FILE")
fi
[ -n "$key" ] && args+=(--encrypt "$key")
log "web app on $self:3000, joining $join_host ($lb:7946)"
exec haserf agent "${args[@]}"
