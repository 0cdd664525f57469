#!/bin/bash
# SPDX-License-Identifier: MIT
# Entry point of the Dockerfile.ha image: prepares what only the running container knows,
# then runs the command (by default HAProxy in master-worker mode, the image's CMD).
#
# * A 0.0.0.0 gossip bind (the image's default HASERF_BIND) needs an address to announce to
#   peers: the container's own, what its host name resolves to (Docker, Podman and Kubernetes
#   put it in /etc/hosts), unless HASERF_ADVERTISE is set.
# * HAProxy runs the config in /var/lib/haserf (HASERF_OUT, which the glue re-renders when
#   the backend outgrows its slots); every start begins from the image's initial config,
#   /usr/local/etc/haproxy/haproxy.cfg (mount yours there), so that a render left in a volume
#   by an older image or template never outlives a restart.
set -euo pipefail

log() { echo "haserf-entrypoint: $*" >&2; }

bind_host=${HASERF_BIND:-}
bind_host=${bind_host%:*}
if [ -z "${HASERF_ADVERTISE:-}" ] && [ "$bind_host" = 0.0.0.0 ]; then
  self=$(uname -n)
  addr=$(getent ahostsv4 "$self" 2>/dev/null | awk '$1 !~ /^127\./ { print $1; exit }' || true)
  if [ -z "$addr" ]; then
    log "HASERF_BIND=$HASERF_BIND needs HASERF_ADVERTISE: the host name $self has no address"
    exit 1
  fi
  export HASERF_ADVERTISE=$addr
fi

initial=/usr/local/etc/haproxy/haproxy.cfg
runtime=/var/lib/haserf/haproxy.cfg
if [ -f "$initial" ]; then
  if ! cp "$initial" "$runtime.new" || ! mv -f "$runtime.new" "$runtime"; then
    log "cannot write $runtime: /var/lib/haserf must be writable by uid $(id -u)"
    exit 1
  fi
fi
exec "$@"
