# SPDX-License-Identifier: MIT
# Helpers for the benchmark scripts (sourced). Not part of `make test`.
#
# Loopback only: the benchmarks use 127.0.1.1-127.0.1.48 (gossip cluster 1-32, memory 33-34,
# join latency 35-36, RPC latency 37-38 and 41-48); haproxy_members.sh uses 127.0.47.1 (HAProxy)
# and 127.0.48.x (its synthetic members, where nobody listens). Every process started through
# bench_start (or recorded with bench_track) is stopped on exit, whatever happens: SIGTERM to
# all, a bounded wait, then SIGKILL. A watchdog sends the script SIGTERM after BENCH_BUDGET
# seconds so that cleanup still runs if something hangs.
#
# Results are `key=value` lines appended to $BENCH_RESULT (one file per script).

set -u

declare -a BENCH_PIDS=()
BENCH_TMP=$(mktemp -d /tmp/haserf-bench.XXXXXX)
BENCH_RESULT=${BENCH_RESULT:-$BENCH_TMP/result.txt}
BENCH_BUDGET=${BENCH_BUDGET:-240}
CLK_TCK=$(getconf CLK_TCK)

log() { echo "# $*" >&2; }
result() { echo "$1=$2" >>"$BENCH_RESULT"; echo "$1=$2"; }

_bench_alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# bench_start NAME LOGFILE CMD... : starts CMD in the background (stdout+stderr to LOGFILE
# unless CMD redirects itself), records its pid in BENCH_LAST_PID.
bench_start() {
  local name=$1 logf=$2
  shift 2
  "$@" >"$logf" 2>&1 &
  BENCH_LAST_PID=$!
  BENCH_PIDS+=("$BENCH_LAST_PID")
  eval "PID_${name//[^a-zA-Z0-9_]/_}=$BENCH_LAST_PID"
}

# bench_track PID...: records processes this script did not start with bench_start (a child
# of one, e.g. an HAProxy master's worker), so that bench_stop_all stops them too.
bench_track() { BENCH_PIDS+=("$@"); }

# bench_stop BOUND PID...: stops those processes: TERM all, wait up to BOUND seconds, KILL the
# rest; then forgets them (a later bench_stop_all does not signal a reused pid).
bench_stop() {
  local bound=$1 pid waited=0 left p
  shift
  for pid in "$@"; do _bench_alive "$pid" && kill -TERM "$pid" 2>/dev/null; done
  while [ "$waited" -lt $((bound * 10)) ]; do
    left=0
    for pid in "$@"; do _bench_alive "$pid" && left=1 && break; done
    [ "$left" = 0 ] && break
    sleep 0.1
    waited=$((waited + 1))
  done
  for pid in "$@"; do
    if _bench_alive "$pid"; then
      log "pid $pid ($(ps -o args= -p "$pid" | cut -c1-60)) still running ${bound}s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  for pid in "$@"; do wait "$pid" 2>/dev/null; done
  local -a keep=()
  for p in "${BENCH_PIDS[@]}"; do
    for pid in "$@"; do [ "$p" = "$pid" ] && continue 2; done
    keep+=("$p")
  done
  BENCH_PIDS=("${keep[@]}")
}

# Stops every recorded process: TERM all, wait up to $1 seconds (default 12), KILL the rest.
bench_stop_all() { bench_stop "${1:-12}" "${BENCH_PIDS[@]}"; }

_bench_cleanup() {
  local rc=$?
  trap - EXIT TERM INT
  [ -n "${_BENCH_WATCHDOG:-}" ] && { kill "$_BENCH_WATCHDOG" 2>/dev/null; wait "$_BENCH_WATCHDOG" 2>/dev/null; }
  bench_stop_all 12
  if [ -n "${BENCH_KEEP_TMP:-}" ] || [ "$rc" -ne 0 ]; then
    log "kept logs in $BENCH_TMP"
  else
    rm -rf "$BENCH_TMP"
  fi
  exit "$rc"
}
trap _bench_cleanup EXIT
trap 'log "interrupted"; exit 130' TERM INT

# The watchdog: SIGTERM to this script after BENCH_BUDGET seconds (cleanup runs in the trap).
# Its sleep is stopped with it (the trap), so nothing outlives the script.
(
  trap 'kill "$_sp" 2>/dev/null; exit 0' TERM
  sleep "$BENCH_BUDGET" &
  _sp=$!
  wait "$_sp" && echo "# $0: budget of ${BENCH_BUDGET}s exceeded, stopping" >&2 && kill -TERM $$
) &
_BENCH_WATCHDOG=$!

# poll SECONDS CMD... : runs CMD every 0.2 s until it succeeds (0) or SECONDS pass (1).
poll() {
  local secs=$1 i=0
  shift
  while ! "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -ge $((secs * 5)) ] && return 1
    sleep 0.2
  done
}

# True once IP:PORT is listening (TCP).
listening() { ss -Hltn "src $1" 2>/dev/null | grep -q LISTEN; }

# CPU ticks (utime + stime, all threads, live and exited) of a pid.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# On-CPU time in ns of all live threads of a pid (sum of /proc/PID/task/*/schedstat field 1,
# the scheduler's exact runtime). Threads that exit are not counted: compare with cpu_ticks.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# VmRSS in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ratio A B with 3 decimals ("n/a" when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.3f\n", a / b }'; }
