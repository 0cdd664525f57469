#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Stops the lab HAProxy started by ha-start.sh DIR: soft-stop first (SIGUSR1: the worker
# leaves the Serf cluster gracefully), then SIGTERM, then SIGKILL of the master and its
# workers, each step bounded. Usage: ha-stop.sh DIR
set -uo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$1
[ -f "$DIR/haproxy.pid" ] || exit 0
MASTER=$(cat "$DIR/haproxy.pid")
if lab_alive "$MASTER"; then
  WORKERS=$(pgrep -P "$MASTER" 2>/dev/null || true)
  kill -USR1 "$MASTER" 2>/dev/null
  lab_wait 5 bash -c "! kill -0 $MASTER 2>/dev/null" || lab_stop_pid "$MASTER" 5 TERM
  for w in $WORKERS; do lab_stop_pid "$w" 2 TERM; done
fi
wait "$MASTER" 2>/dev/null
rm -f "$DIR/haproxy.pid"
exit 0
