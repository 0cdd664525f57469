#!/bin/bash
# SPDX-License-Identifier: MIT
# HEALTHCHECK of the Dockerfile.ha image: healthy when the admin frontend answers and the
# gossip member runs in HAProxy's worker ("haserf_up 1" on /haserf/metrics). Joining is not required: the
# first member of a cluster has nobody to join. socat, not curl: already in the image for
# master-CLI reloads. Bounded: 2 s to connect, 3 s for the answer.
set -euo pipefail

addr=${LISTEN_ADDR:-}
case "$addr" in
  "" | 0.0.0.0 | "*") addr=127.0.0.1 ;;
  :: | "[::]") addr="[::1]" ;;
  *:*) addr="[${addr#[}"; addr="${addr%]}]" ;;  # an IPv6 address
esac
out=$(printf 'GET /haserf/metrics HTTP/1.0\r\nHost: healthcheck\r\n\r\n' |
  socat -t 3 -T 3 - "TCP:$addr:8404,connect-timeout=2" 2>&1) || {
  echo "unhealthy: no answer from $addr:8404: $out"
  exit 1
}
if ! printf '%s\n' "$out" | grep -q '^haserf_up 1'; then
  echo "unhealthy: the gossip member is not running ($addr:8404/haserf/metrics: $(printf '%s\n' "$out" | grep -m1 '^haserf_up\|^HTTP' || true))"
  exit 1
fi
echo "healthy"
