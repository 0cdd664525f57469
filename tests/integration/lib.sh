# SPDX-License-Identifier: MIT
# Helpers for the interop tests against the real `serf agent` binary. Sourced by
# tests/integration/*.sh, after setting HASERF and SRC (the script's $1 and $2).
#
# Loopback only: every address a test uses is in 127.0.0.0/8, and each test file owns its own
# block of 127.0.0.X addresses (see the header of each script) so that `ctest -j` can run them
# side by side. Every serf agent uses IP:7946 for gossip and IP:7373 for RPC.
#
# Every process started here is recorded and stopped on exit, whatever happens: SIGTERM, then
# SIGKILL after a bound, then wait. A watchdog stops the whole script after IT_BUDGET seconds
# (below the ctest TIMEOUT) so that cleanup still runs if something hangs.
#
# Helpers:
#   start_serf NAME IP [serf agent args...]     background serf agent, log in $TMP/NAME.log
#   start_haserf_agent NAME IP [haserf args...]  background haserf agent, events (stdout) in
#                                                $TMP/NAME.events, log (stderr) in $TMP/NAME.log;
#                                                serf's RPC on IP:7373 (rpc IP ... works)
#   stop_proc NAME [SECONDS]     TERM, bounded wait, KILL; sets STOP_RC (exit status) and
#                                STOP_SECS (seconds it took to exit after TERM)
#   stop_all                     stops everything; records a check that nothing is left behind
#   wait_for "DESC" SECONDS CMD...  polls CMD (every 0.2 s) until it succeeds: pass or fail DESC
#   poll SECONDS CMD...          the same without recording a result
#   serf_members IP              `serf members -format=json` of the agent on IP
#   serf_status IP NODE          status of NODE as the agent on IP sees it ("" if unknown)
#   serf_alive_count IP          number of alive members the agent on IP sees
#   ev_count FILE JQ_FILTER      number of event lines in FILE that match the jq filter
#   rpc IP ...                   shorthand for: serf ... -rpc-addr IP:7373 (bounded)
#
# Network namespaces (root only; tests/faults/):
#   netns_create TAG             a private network namespace haserf-TAG-$$ with its own loopback
#                                (exit 77, a skip, when not root or when namespaces cannot be
#                                made). From then on every process the helpers start (serf and
#                                haserf agents, and in tests/haproxy/lib.sh HAProxy and the web
#                                apps) and every client command (rpc, curl) runs in it: they
#                                prefix "${IT_IN[@]}" (ip netns exec NS; empty without one),
#                                which execs, so $! is still the process and it is tracked and
#                                stopped like the others. in_ns CMD... runs any command there.
#                                Cleanup (EXIT, also after the watchdog) stops the processes as
#                                usual, SIGKILLs whatever is still in the namespace (by pid, from
#                                `ip netns pids`) and deletes it (its nft tables go with it).
#                                A SIGKILLed test (a ctest timeout) runs no trap: for that, a
#                                detached guard process (its own session, so a kill of the
#                                test's process tree misses it) waits for the test's shell to
#                                go, then does the same, stops the watchdog and removes $TMP;
#                                cleanup stops the guard. A namespace of this TAG still left
#                                (the guard killed too) is removed by the next netns_create.
#   netns_empty                  records a check that no process is left in the namespace
#                                (call it after stop_ha and stop_all)

. "$SRC/tests/cli/lib.sh"

command -v serf >/dev/null || { echo "FAIL - the serf binary is required (scripts/install-deps.sh)"; exit 1; }
command -v jq >/dev/null || { echo "FAIL - jq is required (apt-get install jq)"; exit 1; }

IT_BUDGET=${IT_BUDGET:-150}
declare -A PID_OF=()    # name -> pid of every process started
declare -a ALL_PIDS=()  # every pid ever started, for the "nothing left behind" check
STOP_RC=0
STOP_SECS=0
IT_NETNS=""             # the test's network namespace (netns_create), "" for the host's
IT_IN=()                # prefix that runs a command in it: (ip netns exec NS) or ()
in_ns() { "${IT_IN[@]}" "$@"; }

_it_alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# stop_pid PID SECONDS: TERM, wait up to SECONDS, KILL; reaps; sets STOP_RC and STOP_SECS.
_it_stop_pid() {
  local pid=$1 bound=${2:-10} waited=0
  STOP_RC=0
  STOP_SECS=0
  if _it_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null
    while _it_alive "$pid" && [ "$waited" -lt $((bound * 10)) ]; do
      sleep 0.1
      waited=$((waited + 1))
    done
    if _it_alive "$pid"; then
      echo "#    pid $pid still running ${bound}s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  wait "$pid" 2>/dev/null
  STOP_RC=$?
  STOP_SECS=$((waited / 10))
}

stop_proc() {
  local name=$1 pid=${PID_OF[$1]:-}
  [ -z "$pid" ] && { STOP_RC=127; return 0; }
  _it_stop_pid "$pid" "${2:-10}"
  unset "PID_OF[$name]"
}

# Kills the process without a chance to leave (memberlist sees a failure).
kill9_proc() {
  local pid=${PID_OF[$1]:-}
  [ -z "$pid" ] && return 0
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  unset "PID_OF[$1]"
}

_it_stop_everything() {
  local name
  # TERM everything first so that 11 agents do not add up their bounds.
  for name in "${!PID_OF[@]}"; do
    _it_alive "${PID_OF[$name]}" && kill -TERM "${PID_OF[$name]}" 2>/dev/null
  done
  for name in "${!PID_OF[@]}"; do _it_stop_pid "${PID_OF[$name]}" 8; done
  PID_OF=()
}

# Stops everything and checks that no started process is left.
stop_all() {
  _it_stop_everything
  local pid left=""
  for pid in "${ALL_PIDS[@]}"; do
    _it_alive "$pid" && left+="$(ps -o pid=,args= -p "$pid") "
  done
  [ -z "$left" ] && pass "no process left behind" || fail "no process left behind" "$left"
}

_it_dump_logs() {
  local f
  echo "# ---- logs (failures above) ----"
  for f in "$TMP"/*.log "$TMP"/*.events; do
    [ -f "$f" ] || continue
    if [ -f "${f%.*}.events" ] || [ "${f##*.}" = events ]; then  # a haserf agent
      echo "# == $f"
      tail -n 40 "$f" | sed 's/^/#  /'
    else
      echo "# == $f (serf: errors and their detail lines, warnings, member events)"
      grep -E '\[(ERR|WARN)\]|EventMember|Suspect|failed|Refuting|^[[:space:]]+\* ' "$f" | tail -n 25 | sed 's/^/#  /'
    fi
  done
}

_it_cleanup() {
  trap - EXIT TERM INT
  [ -n "${_IT_WATCHDOG:-}" ] && { kill "$_IT_WATCHDOG" 2>/dev/null; wait "$_IT_WATCHDOG" 2>/dev/null; }
  _it_stop_everything
  _it_netns_delete
  if [ "$FAILED" -gt 0 ] || [ -n "${KEEP_TMP:-}" ]; then
    _it_dump_logs
    if [ -n "${KEEP_TMP:-}" ]; then echo "# kept $TMP"; else rm -rf "$TMP"; fi
  else
    rm -rf "$TMP"
  fi
}
trap '_it_cleanup' EXIT
trap 'echo "FAIL - interrupted (signal or ${IT_BUDGET}s budget)"; FAILED=$((FAILED + 1)); exit 1' TERM INT

# Watchdog: bounded even if a helper hangs. It runs in its own subshell, killed by cleanup.
( trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$IT_BUDGET" & sp=$!
  wait "$sp" && kill -TERM $$ 2>/dev/null ) &
_IT_WATCHDOG=$!

# rpc IP SUBCOMMAND [args...]: a serf RPC command against the agent on IP, bounded in time.
rpc() {
  local ip=$1 sub=$2
  shift 2
  timeout 20 "${IT_IN[@]}" serf "$sub" -rpc-addr "$ip:7373" "$@"
}

serf_members() { rpc "$1" members -format=json 2>/dev/null; }
serf_status() {
  serf_members "$1" | jq -r --arg n "$2" '.members[] | select(.name == $n) | .status' 2>/dev/null
}
serf_alive_count() { serf_members "$1" | jq '[.members[] | select(.status == "alive")] | length' 2>/dev/null; }
serf_tag() {
  serf_members "$1" | jq -r --arg n "$2" --arg k "$3" '.members[] | select(.name == $n) | .tags[$k] // empty' 2>/dev/null
}

# poll SECONDS CMD...: true as soon as CMD succeeds, false after SECONDS.
poll() {
  local bound=$1 deadline
  shift
  deadline=$(($(date +%s) + bound))
  while true; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# wait_for "DESC" SECONDS CMD...
wait_for() {
  local desc=$1 bound=$2
  shift 2
  if poll "$bound" "$@"; then pass "$desc"; return 0; fi
  fail "$desc" "not true after ${bound}s: $*"
  return 1
}

# is_status IP NODE STATUS (for wait_for)
is_status() { [ "$(serf_status "$1" "$2")" = "$3" ]; }
is_alive_count() { [ "$(serf_alive_count "$1")" = "$2" ]; }

# ev_count FILE JQ_FILTER: matching event lines in a haserf agent's stdout.
ev_count() {
  [ -f "$1" ] || { echo 0; return; }
  jq -c "select($2)" "$1" 2>/dev/null | grep -c '' || true
}
has_event() { [ "$(ev_count "$1" "$2")" -ge 1 ]; }

# Which serf an agent runs. Unset HASERF_SERF_ROOT: the host's (Debian 12: serf 0.9.4).
# HASERF_SERF_ROOT=DIR, a root from scripts/debian13-root.sh: a mixed cluster, the 1st, 3rd,
# 5th... agent a test starts is serf 0.10.1 (memberlist 0.5) from that root, the others the
# host's 0.9.4. RPC commands (rpc) always use the host's serf CLI: the RPC protocol is the same.
declare -A SERF_VERSION_OF=()
_SERF_STARTED=0
_serf_command() {
  local name=$1
  _SERF_STARTED=$((_SERF_STARTED + 1))
  if [ -n "${HASERF_SERF_ROOT:-}" ] && [ $((_SERF_STARTED % 2)) -eq 1 ]; then
    SERF_CMD=(bash "$SRC/scripts/debian13-root.sh" run "$HASERF_SERF_ROOT" --bind /tmp
      --bind "$SRC" -- serf)
    SERF_VERSION_OF[$name]=0.10.1
  else
    SERF_CMD=(serf)
    SERF_VERSION_OF[$name]=0.9.4
  fi
  [ -n "${HASERF_SERF_ROOT:-}" ] && echo "# serf agent $name: serf ${SERF_VERSION_OF[$name]}"
  return 0
}

# start_serf NAME IP [args...]: waits until its RPC answers (bounded).
start_serf() {
  local name=$1 ip=$2
  shift 2
  _serf_command "$name"
  "${IT_IN[@]}" "${SERF_CMD[@]}" agent -node "$name" -bind "$ip:7946" -rpc-addr "$ip:7373" -log-level=debug "$@" \
    >"$TMP/$name.log" 2>&1 </dev/null &
  PID_OF[$name]=$!
  ALL_PIDS+=("$!")
  if ! poll 20 rpc "$ip" members; then
    fail "serf agent $name starts on $ip" "$(tail -n 5 "$TMP/$name.log")"
    return 1
  fi
}

# start_serf_bg NAME IP [args...]: start without waiting (for parallel starts); see wait_serf_rpc.
start_serf_bg() {
  local name=$1 ip=$2
  shift 2
  _serf_command "$name"
  "${IT_IN[@]}" "${SERF_CMD[@]}" agent -node "$name" -bind "$ip:7946" -rpc-addr "$ip:7373" -log-level=debug "$@" \
    >"$TMP/$name.log" 2>&1 </dev/null &
  PID_OF[$name]=$!
  ALL_PIDS+=("$!")
}

# start_haserf_agent NAME IP [args...]: binds IP:7946; waits until it says it is listening.
start_haserf_agent() {
  local name=$1 ip=$2
  shift 2
  # RPC on IP:7373 like the serf agents (unless the test gives its own --rpc-addr).
  local rpc_args=(--rpc-addr "$ip:7373")
  case " $* " in *" --rpc-addr "*) rpc_args=() ;; esac
  "${IT_IN[@]}" "$HASERF" agent --bind "$ip:7946" --node "$name" "${rpc_args[@]}" "$@" >"$TMP/$name.events" 2>"$TMP/$name.log" </dev/null &
  PID_OF[$name]=$!
  ALL_PIDS+=("$!")
  if ! poll 20 grep -q "listening on" "$TMP/$name.log"; then
    fail "haserf agent $name starts on $ip" "$(tail -n 5 "$TMP/$name.log")"
    return 1
  fi
}

# is_running NAME: the process is still alive.
is_running() { [ -n "${PID_OF[$1]:-}" ] && _it_alive "${PID_OF[$1]}"; }

# serf_logs_clean [IGNORE_ERE]: records a check that no serf agent logged an error or warning
# (a decode failure, a rejected message, ...) other than lines matching IGNORE_ERE. Call it
# before stop_all: shutting agents down logs its own warnings. Also ignored: serf's own CLI
# (`serf reachability`, `serf query`) closes its RPC connection as soon as it has every answer,
# so the agent may log that it could not stream the query's end (a race between serf's parts).
serf_logs_clean() {
  local f bad=""
  for f in "$TMP"/*.log; do
    [ -f "${f%.log}.events" ] && continue  # a haserf agent's log
    bad+=$(grep -E '\[(ERR|WARN)\]' "$f" |
      grep -Ev 'Shutdown without a Leave|Serf shutdown detected, quitting|agent\.ipc: Failed to stream query end to ipc\.client' |
      { if [ -n "${1:-}" ]; then grep -Ev "$1"; else cat; fi; } | sed "s|^|$(basename "$f"): |")
  done
  [ -z "$bad" ] && pass "no errors or warnings in the serf agents' logs" ||
    fail "no errors or warnings in the serf agents' logs" "$(printf '%s\n' "$bad" | head -n 20)"
}

# ---- network namespaces (see the header) ------------------------------------------------------
_it_netns_kill() {  # NS: SIGKILLs every process in NS (bounded wait), then deletes NS
  local ns=$1 pids i=0
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  if [ -n "${pids// /}" ]; then
    echo "# still in $ns, SIGKILL: $(ps -o pid=,comm= -p "${pids// /,}" 2>/dev/null | tr -s ' \n' ' ')"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    while [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  ip netns del "$ns" 2>/dev/null || echo "# could not delete network namespace $ns"
}

_it_netns_delete() {
  [ -n "$IT_NETNS" ] || return 0
  _it_netns_kill "$IT_NETNS"
  IT_NETNS=""
  IT_IN=()
  # The guard (a session leader: its group is it and its sleep).
  [ -n "${_IT_NETNS_GUARD:-}" ] && kill -TERM -- "-$_IT_NETNS_GUARD" 2>/dev/null
  _IT_NETNS_GUARD=""
}

# The guard: started through a subshell that exits at once, so it is nobody's child in the
# test's tree; setsid makes it a session (and group) leader. It compares the test shell's start
# time (field 22 of /proc/PID/stat) so that a reused pid does not keep it waiting.
_it_netns_guard() {
  local ns=$1
  # shellcheck disable=SC2016
  ( setsid bash -c '
      me=$1 ns=$2 tmp=$3 wd=$4 keep=$5
      trap "exit 0" TERM
      start=$(cut -d" " -f22 "/proc/$me/stat" 2>/dev/null)
      while [ -n "$start" ] && [ "$(cut -d" " -f22 "/proc/$me/stat" 2>/dev/null)" = "$start" ]; do sleep 1; done
      [ -n "$wd" ] && kill -TERM "$wd" 2>/dev/null
      if ip netns list | grep -q "^$ns\( \|$\)"; then
        pids=$(ip netns pids "$ns" 2>/dev/null)
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
        sleep 1
        ip netns del "$ns" 2>/dev/null
      fi
      [ -z "$keep" ] && rm -rf "$tmp"
      exit 0' haserf-netns-guard "$$" "$ns" "$TMP" "${_IT_WATCHDOG:-}" "${KEEP_TMP:-}" \
      >/dev/null 2>&1 </dev/null &
    echo $! >"$TMP/netns-guard.pid" )
  _IT_NETNS_GUARD=$(cat "$TMP/netns-guard.pid")
}

netns_create() {
  local tag=$1 ns old owner
  [ "$(id -u)" = 0 ] || { echo "SKIP - needs root (network namespaces)"; exit 77; }
  command -v ip >/dev/null || { echo "SKIP - needs ip (iproute2)"; exit 77; }
  # Namespaces of this tag whose test is gone (SIGKILLed: no EXIT trap ran).
  for old in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E "^haserf-$tag-[0-9]+\$"); do
    owner=${old##*-}
    kill -0 "$owner" 2>/dev/null && continue
    echo "# removing $old, left by a run that did not clean up (pid $owner is gone)"
    _it_netns_kill "$old"
  done
  ns="haserf-$tag-$$"
  if ! ip netns add "$ns" 2>"$TMP/netns.err"; then
    echo "SKIP - cannot make a network namespace: $(cat "$TMP/netns.err")"
    exit 77
  fi
  IT_NETNS=$ns
  IT_IN=(ip netns exec "$ns")
  _it_netns_guard "$ns"
  if ! in_ns ip link set lo up; then
    fail "loopback up in $ns"
    exit 1
  fi
  echo "# network namespace $ns"
}

netns_empty() {
  [ -n "$IT_NETNS" ] || return 0
  local pids
  pids=$(ip netns pids "$IT_NETNS" 2>/dev/null | tr '\n' ',' | sed 's/,$//')
  [ -z "$pids" ] && pass "no process left in $IT_NETNS" ||
    fail "no process left in $IT_NETNS" "$(ps -o pid=,args= -p "$pids" 2>/dev/null | head -n 10)"
}
