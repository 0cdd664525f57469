# SPDX-License-Identifier: MIT
# Shared helpers for the lab scripts (sourced). Loopback only.
LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

lab_alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# lab_wait SECONDS CMD...: polls CMD every 0.2 s; false after SECONDS.
lab_wait() {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# lab_stop_pid PID [SECONDS] [SIGNAL]: SIGNAL (default TERM), bounded wait, then KILL.
lab_stop_pid() {
  local pid=$1 bound=${2:-5} sig=${3:-TERM} i=0
  [ -n "$pid" ] || return 0
  lab_alive "$pid" || return 0
  kill -"$sig" "$pid" 2>/dev/null
  while lab_alive "$pid" && [ "$i" -lt $((bound * 10)) ]; do sleep 0.1; i=$((i + 1)); done
  if lab_alive "$pid"; then kill -KILL "$pid" 2>/dev/null; sleep 0.1; fi
  return 0
}

# lab_stop_pidfile FILE [SECONDS]: stops the pid recorded in FILE, removes FILE.
lab_stop_pidfile() {
  [ -f "$1" ] || return 0
  lab_stop_pid "$(cat "$1")" "${2:-5}"
  rm -f "$1"
}

lab_abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

# Which HAProxy the lab runs. Unset HASERF_HAPROXY_ROOT: the host's (Debian 12: HAProxy 2.6,
# Lua 5.3). HASERF_HAPROXY_ROOT=DIR, a root made by scripts/debian13-root.sh: HAProxy 3.0 from
# that root with the Lua 5.4 module, same paths (the lab folder, the source and build trees
# and /tmp are visible inside at the same place), same addresses (the host's network).
LAB_LUA=5.3
[ -n "${HASERF_HAPROXY_ROOT:-}" ] && LAB_LUA=5.4

# lab_haproxy ARG...: runs that HAProxy. "${LAB_HAPROXY[@]}" is the same command as an array
# for `setsid ... &` (every step execs: the background job's $! is HAProxy's pid). Call
# lab_haproxy_command again after changing LAB_BUILD or LAB_DIR.
lab_haproxy_command() {
  LAB_HAPROXY=(haproxy)
  [ -n "${HASERF_HAPROXY_ROOT:-}" ] || return 0
  LAB_HAPROXY=(bash "$LAB_SRC/scripts/debian13-root.sh" run "$HASERF_HAPROXY_ROOT" --bind /tmp
    --bind "$LAB_SRC")
  [ -n "${LAB_BUILD:-}" ] && LAB_HAPROXY+=(--bind "$LAB_BUILD")
  [ -n "${LAB_DIR:-}" ] && LAB_HAPROXY+=(--bind "$LAB_DIR")
  LAB_HAPROXY+=(-- haproxy)
}
lab_haproxy_command
lab_haproxy() { "${LAB_HAPROXY[@]}" "$@"; }
