#!/bin/sh
# Fills in HASERF_ADVERTISE (a 0.0.0.0 bind needs one) and HASERF_NODE, then runs HAProxy.
set -e
if [ -z "${HASERF_ADVERTISE:-}" ]; then
  HASERF_ADVERTISE=$(hostname -i | awk '{print $1}')
  export HASERF_ADVERTISE
fi
: "${HASERF_NODE:=$(hostname)}"
export HASERF_NODE
exec "$@"
