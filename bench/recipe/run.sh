#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# haserf (HAProxy as a Serf member, server-template slots driven live) against the classic
# lab recipe (serf agent -event-handler -> serf members -> handlebars-cmd -> HAProxy reload),
# both on loopback, measured in the same run. Usage: bash bench/recipe/run.sh BUILD_DIR
#
#   a. join -> first request served by the new backend (TRIALS times per side)
#   b. serf leave -> last request served by the leaving backend (TRIALS times per side)
#   c. wrk under churn (one backend joins or leaves every second), failed requests
#   d. wrk across RELOADS master-CLI reloads (no membership change), failed requests
#   e. kill -9 of a backend's web app -> HAProxy stops sending it requests (KILL_TRIALS per
#      side), and the requests that failed meanwhile
#
# Addresses (127.0.10.x only): haserf LB .41 (frontend :8080, gossip :7946), recipe LB .42
# (HAProxy frontend :8080, serf agent :7946, RPC :7373); haserf-side backends .101-.107,
# recipe-side backends .201-.207 (web app :3000, serf agent :7946, RPC :7373). The two sides
# are separate Serf clusters.
#
# Knobs (env): TRIALS (10), CHURN_S (30), STEADY_S (10: the same wrk without churn, a control), QUIET (2: seconds a leaving backend must stay unseen),
# RELOADS (20, one per RELOAD_GAP_S=1 s), KILL_TRIALS (20),
# REJOIN_TRIALS (4), JOIN_MAX (15) / LEAVE_MAX (20) per-trial bounds in seconds, BUDGET (1500: watchdog for the whole
# run), PROBE_SLEEP_MS (2), KEEP_TMP=1 (keep logs; kept anyway on failure), SKIP="churn" etc.
# Prints key=value results and a markdown table; keeps them in BUILD/bench-results/.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
LAB=$SRC/examples/lab
. "$LAB/lib.sh"
[ $# -ge 1 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
BUILD=$(lab_abs "$1")
TRIALS=${TRIALS:-10}
REJOIN_TRIALS=${REJOIN_TRIALS:-4}
CHURN_S=${CHURN_S:-30}
STEADY_S=${STEADY_S:-10}
QUIET=${QUIET:-2}
JOIN_MAX=${JOIN_MAX:-15}
LEAVE_MAX=${LEAVE_MAX:-20}
BUDGET=${BUDGET:-1500}
SKIP=${SKIP:-}
RELOADS=${RELOADS:-20}
RELOAD_GAP_S=${RELOAD_GAP_S:-1}
KILL_TRIALS=${KILL_TRIALS:-20}
export PROBE_SLEEP_MS=${PROBE_SLEEP_MS:-2}

H_IP=127.0.10.41
R_IP=127.0.10.42
# side -> backend IP prefix / name prefix
declare -A PFX=([haserf]=127.0.10.10 [recipe]=127.0.10.20)
declare -A LBIP=([haserf]=$H_IP [recipe]=$R_IP)

# Benchmark-only tools: Debian packages, and handlebars-cmd from npm (pinned by the lock file).
missing=()
for pair in haproxy:haproxy serf:serf wrk:wrk python3:python3 jq:jq socat:socat curl:curl bc:bc \
            node:nodejs npm:npm; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "recipe: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { echo "recipe: cannot install ${missing[*]}" >&2; exit 1; }
fi
if [ ! -f "$HERE/node_modules/handlebars-cmd/index.js" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null) ||
    { echo "recipe: npm ci failed in bench/recipe" >&2; exit 1; }
fi
for f in "$BUILD/bindings/lua5.3/haserf.so" "$BUILD/cli/haserf"; do
  [ -e "$f" ] || { echo "recipe: $f missing (build first)" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/haserf-recipe-XXXXXX)
HD=$TMP/haserf RD=$TMP/recipe BD=$TMP/backends
mkdir -p "$HD" "$RD" "$BD"
STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$BUILD/bench-results"
OUT=$BUILD/bench-results/recipe-$STAMP.txt
: >"$OUT"
FAILED=0
BG_PIDS=()

res() { echo "$*" | tee -a "$OUT"; }
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# ---------------------------------------------------------------------------- cleanup
cleanup() {
  local rc=$? f
  trap - EXIT INT TERM
  log "stopping everything"
  for f in "${BG_PIDS[@]}"; do lab_stop_pid "$f" 3; done
  for f in "$BD"/*.serf.pid "$BD"/*.web.pid; do [ -e "$f" ] && lab_stop_pidfile "$f" 5; done
  [ -f "$RD/serf.pid" ] && lab_stop_pidfile "$RD/serf.pid" 5
  bash "$LAB/ha-stop.sh" "$HD" >/dev/null 2>&1
  bash "$LAB/ha-stop.sh" "$RD" >/dev/null 2>&1
  # old workers still soft-stopping (their master is gone): bounded by hard-stop-after, but
  # stop them now
  for f in "$HD"/workers "$RD"/workers; do
    [ -f "$f" ] && for p in $(sort -u "$f"); do lab_stop_pid "$p" 2; done
  done
  if [ -n "${WD:-}" ]; then kill "$WD" 2>/dev/null; wait "$WD" 2>/dev/null; fi
  wait 2>/dev/null
  if [ -n "${KEEP_TMP:-}" ] || [ "$rc" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
    log "logs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'log "watchdog/TERM: stopping"; exit 124' TERM
# Watchdog for the whole run.
( trap 'kill $sp 2>/dev/null; exit 0' TERM; sleep "$BUDGET" & sp=$!; wait $sp; kill -TERM $$ ) &
WD=$!

# Records the current workers of an HAProxy master (for cleanup).
note_workers() { pgrep -P "$(cat "$1/haproxy.pid" 2>/dev/null)" >>"$1/workers" 2>/dev/null || true; }

# ---------------------------------------------------------------------------- backends
# name of backend N on a side: h1.. / r1..; IP: PFX + N (N in 1..7)
# Backend 3 (the join/leave trials) takes a per-trial suffix: B3SUF (e.g. "-4" -> h3-4).
B3SUF=
bname() {
  local s=r
  [ "$1" = haserf ] && s=h
  if [ "$2" = 3 ]; then echo "$s$2$B3SUF"; else echo "$s$2"; fi
}
bip() { echo "${PFX[$1]}$2"; }

web_start() { # SIDE N
  local n ip
  n=$(bname "$1" "$2") ip=$(bip "$1" "$2")
  WEB_NAME=$n WEB_ADDR=$ip:3000 haproxy -db -f "$LAB/web.cfg" >>"$BD/$n.web.log" 2>&1 </dev/null &
  echo $! >"$BD/$n.web.pid"
  lab_wait 10 curl -sf -o /dev/null --max-time 1 "http://$ip:3000/" ||
    { log "web app $n does not answer"; return 1; }
}
web_stop() { lab_stop_pidfile "$BD/$(bname "$1" "$2").web.pid" 5; }
serf_start() { # SIDE N: returns once the process is started (not joined)
  local n ip
  n=$(bname "$1" "$2") ip=$(bip "$1" "$2")
  serf agent -node "$n" -bind "$ip:7946" -rpc-addr "$ip:7373" -join "${LBIP[$1]}:7946" \
    -tag role=backend -tag port=3000 >>"$BD/$n.serf.log" 2>&1 </dev/null &
  echo $! >"$BD/$n.serf.pid"
}
serf_leave() { # SIDE N: graceful leave, the agent exits
  local n ip pid
  n=$(bname "$1" "$2") ip=$(bip "$1" "$2")
  timeout 20 serf leave -rpc-addr "$ip:7373" >/dev/null 2>&1
  pid=$(cat "$BD/$n.serf.pid" 2>/dev/null)
  [ -n "$pid" ] && lab_wait 10 bash -c "! kill -0 $pid 2>/dev/null"
  lab_stop_pidfile "$BD/$n.serf.pid" 5
}
backend_up() { web_start "$@" && serf_start "$@"; }
backend_down() { serf_leave "$@"; web_stop "$@"; }
# routed SIDE NAME yes|no SECONDS: bounded wait until NAME is (not) among 12 answers of the LB
routed() {
  local lb=${LBIP[$1]} name=$2 want=$3 deadline=$(($(date +%s) + $4)) got i
  while true; do
    got=no
    for i in $(seq 12); do
      [ "$(curl -s --max-time 1 "http://$lb:8080/" 2>/dev/null)" = "$name" ] && { got=yes; break; }
    done
    [ "$got" = "$want" ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------- the two LBs
haserf_lb_start() {
  BUILD=$BUILD LAB_IP=$H_IP LAB_NODE=haserf-lb LAB_SLOTS=8 bash "$LAB/ha-start.sh" "$HD" >&2 ||
    return 1
  note_workers "$HD"
}
recipe_lb_start() {
  export RECIPE_DIR=$RD RECIPE_IP=$R_IP RECIPE_HERE=$HERE
  echo '{"members":[]}' >"$RD/members.json"
  node "$HERE/node_modules/handlebars-cmd/index.js" "$RD/members.json" <"$HERE/haproxy.cfg.hbs" >"$RD/haproxy.cfg" ||
    return 1
  haproxy -c -q -f "$RD/haproxy.cfg" || { log "recipe config does not pass haproxy -c"; return 1; }
  setsid haproxy -W -db -S "$RD/master.sock" -p "$RD/haproxy.pid" -f "$RD/haproxy.cfg" \
    >>"$RD/haproxy.log" 2>&1 </dev/null &
  echo $! >"$RD/haproxy.pid"
  lab_wait 20 curl -s -o /dev/null --max-time 1 "http://$R_IP:8080/" ||
    { log "recipe HAProxy does not answer"; return 1; }
  note_workers "$RD"
  serf agent -node recipe-lb -bind "$R_IP:7946" -rpc-addr "$R_IP:7373" -tag role=lb \
    -event-handler "member-join,member-leave,member-failed,member-update=$HERE/handler.sh" \
    >>"$RD/serf.log" 2>&1 </dev/null &
  echo $! >"$RD/serf.pid"
  # its own member-join runs the handler once (render + reload): wait for it
  lab_wait 20 grep -q reload "$RD/handler.log" || { log "recipe handler did not run"; return 1; }
}

haserf_debug() { # dumps slot states and the log tail (for a failed trial)
  {
    echo "--- haserf members / slots at $(date +%T.%N)"
    echo "@1 haserf members" | timeout 3 socat - "unix-connect:$HD/master.sock" 2>&1
    echo "@1 show servers state nodes" | timeout 3 socat - "unix-connect:$HD/master.sock" 2>&1
    tail -n 20 "$HD/haproxy.log"
  } >>"$TMP/debug.txt" 2>&1
}

# ---------------------------------------------------------------------------- a + b
# join_trial SIDE N -> prints seconds (or "timeout")
join_trial() {
  local side=$1 n name lb t0 first rc
  name=$(bname "$side" "$2") lb=${LBIP[$side]}
  web_start "$side" "$2" || return 1
  rm -f "$TMP/probe.ready"
  PROBE_READY=$TMP/probe.ready timeout $((JOIN_MAX + 5)) python3 "$HERE/probe.py" join "$lb:8080" \
    "$name" "$JOIN_MAX" >"$TMP/probe.out" 2>&1 &
  local pp=$!
  BG_PIDS+=("$pp")
  lab_wait 5 test -e "$TMP/probe.ready" || { log "probe does not get answers from $lb"; }
  t0=$EPOCHREALTIME
  serf_start "$side" "$2"
  wait "$pp"
  rc=$?
  first=$(sed -n 's/^first=//p' "$TMP/probe.out")
  cat "$TMP/probe.out" >>"$TMP/probe-$side-join.log"
  if [ "$rc" -ne 0 ] || [ -z "$first" ]; then
    [ "$side" = haserf ] && haserf_debug
    echo timeout
  else
    echo "$first - $t0" | bc -l | awk '{printf "%.4f\n", $1}'
  fi
}
# leave_trial SIDE N -> seconds from `serf leave` to the last answer from the backend
leave_trial() {
  local side=$1 n name lb t0 last rc lp
  name=$(bname "$side" "$2") lb=${LBIP[$side]}
  rm -f "$TMP/probe.ready"
  PROBE_READY=$TMP/probe.ready timeout $((LEAVE_MAX + 5)) python3 "$HERE/probe.py" leave "$lb:8080" \
    "$name" "$QUIET" "$LEAVE_MAX" >"$TMP/probe.out" 2>&1 &
  local pp=$!
  BG_PIDS+=("$pp")
  lab_wait 5 test -e "$TMP/probe.ready" || log "probe does not get answers from $lb"
  # A random phase (0-199 ms) against the leaving agent's 200 ms gossip tick: the script's own
  # fixed delays would otherwise put every leave at the same point of the tick.
  sleep "0.$(printf '%03d' $((200 + RANDOM % 200)))"
  t0=$EPOCHREALTIME
  serf_leave "$side" "$2" &
  lp=$!
  wait "$pp"
  rc=$?
  wait "$lp"
  web_stop "$side" "$2"
  last=$(sed -n 's/^last=//p' "$TMP/probe.out")
  cat "$TMP/probe.out" >>"$TMP/probe-$side-leave.log"
  if [ "$rc" -ne 0 ] || [ -z "$last" ] || [ "$last" = 0.000000 ]; then
    [ "$side" = haserf ] && haserf_debug
    echo timeout
  else
    echo "$last - $t0" | bc -l | awk '{printf "%.4f\n", ($1 < 0 ? 0 : $1)}'
  fi
}

# ---------------------------------------------------------------------------- c
# churn SIDE: wrk for CHURN_S against the LB; from 1 s on, every second one of the 4 churn
# backends (N=4..7) toggles: up -> serf leave + web app stopped, down -> web app + serf agent
# -join. Each backend's previous operation must have finished (else that tick is skipped).
churn_setup() { # SIDE: backends 4 and 5 up (6 and 7 stay down)
  local side=$1 n
  for n in 4 5; do backend_up "$side" "$n" || return 1; done
  routed "$side" "$(bname "$side" 5)" yes 20 || log "churn: $(bname "$side" 5) not routed before start"
}
steady() { # SIDE: control, the same load and the same 4 backends, no membership change
  local side=$1 lb=${LBIP[$1]}
  res "loadavg_steady_$side=$(cut -d' ' -f1-3 /proc/loadavg)"
  timeout -k 5 $((STEADY_S + 15)) wrk -t2 -c16 -d"${STEADY_S}s" --timeout 2s -s "$HERE/count.lua" \
    "http://$lb:8080/" >"$TMP/wrk-steady-$side.out" 2>&1
  sed -n 's/^\([a-z_0-9]*\)=\(.*\)$/steady_'"$side"'_\1=\2/p' "$TMP/wrk-steady-$side.out" | tee -a "$OUT"
}
churn() {
  local side=$1 lb=${LBIP[$1]} i k ops=0 skipped=0
  local -A state=([4]=up [5]=up [6]=down [7]=down) opid=()
  res "loadavg_churn_$side=$(cut -d' ' -f1-3 /proc/loadavg)"
  timeout -k 5 $((CHURN_S + 15)) wrk -t2 -c16 -d"${CHURN_S}s" --timeout 2s -s "$HERE/count.lua" \
    "http://$lb:8080/" >"$TMP/wrk-$side.out" 2>&1 &
  local wp=$!
  BG_PIDS+=("$wp")
  sleep 1
  for ((i = 0; i < CHURN_S - 3; i++)); do
    k=$((4 + i % 4))
    if [ -n "${opid[$k]:-}" ] && kill -0 "${opid[$k]}" 2>/dev/null; then
      skipped=$((skipped + 1))
    else
      [ -n "${opid[$k]:-}" ] && wait "${opid[$k]}" 2>/dev/null
      if [ "${state[$k]}" = up ]; then
        (echo "$EPOCHREALTIME leave $(bname "$side" "$k")" >>"$TMP/churn-$side.log"; backend_down "$side" "$k") &
        state[$k]=down
      else
        (echo "$EPOCHREALTIME join $(bname "$side" "$k")" >>"$TMP/churn-$side.log"; backend_up "$side" "$k") &
        state[$k]=up
      fi
      opid[$k]=$!
      BG_PIDS+=("${opid[$k]}")
      ops=$((ops + 1))
    fi
    sleep 1
  done
  for k in 4 5 6 7; do [ -n "${opid[$k]:-}" ] && wait "${opid[$k]}" 2>/dev/null; done
  wait "$wp"
  sed 's/^/wrk: /' "$TMP/wrk-$side.out" >&2
  res "churn_${side}_ops=$ops"
  res "churn_${side}_skipped=$skipped"
  sed -n 's/^\([a-z_0-9]*\)=\(.*\)$/churn_'"$side"'_\1=\2/p' "$TMP/wrk-$side.out" | tee -a "$OUT"
  for k in 4 5 6 7; do [ "${state[$k]}" = up ] && backend_down "$side" "$k"; done
  return 0
}

# ---------------------------------------------------------------------------- d
# reloads SIDE: wrk (keep-alive) for the whole run, RELOADS reloads on the master CLI, one at a
# time (the next once the master counted the previous), RELOAD_GAP_S apart. No membership
# change: what a config edit or a certificate renewal does to live traffic.
master_reloads() { echo "show proc" | timeout 3 socat - "unix-connect:$1/master.sock" 2>/dev/null | awk '$2 == "master" {print $3}'; }
reload_counted() { [ "$(master_reloads "$1")" -gt "$2" ]; }
reloads() {
  local side=$1 lb=${LBIP[$1]} dir i before done_n=0
  dir=$HD
  [ "$side" = recipe ] && dir=$RD
  local lb_events0
  lb_events0=$(grep -c "EventMember[A-Za-z]*: haserf-lb" "$BD/h1.serf.log" 2>/dev/null)
  res "loadavg_reload_$side=$(cut -d' ' -f1-3 /proc/loadavg)"
  timeout -k 5 600 wrk -t2 -c16 -d600s --timeout 2s -s "$HERE/count.lua" "http://$lb:8080/" \
    >"$TMP/wrk-reload-$side.out" 2>&1 &
  local wp=$!
  BG_PIDS+=("$wp")
  sleep 1
  before=$(master_reloads "$dir")
  for ((i = 0; i < RELOADS; i++)); do
    for _ in $(seq 50); do
      echo reload | timeout 6 socat -t 5 - "unix-connect:$dir/master.sock" >/dev/null 2>&1 && break
      sleep 0.1
    done
    if lab_wait 10 reload_counted "$dir" "$before"; then
      done_n=$((done_n + 1))
      before=$(master_reloads "$dir")
    fi
    note_workers "$dir"
    sleep "$RELOAD_GAP_S"
  done
  sleep 1
  kill -INT "$wp" 2>/dev/null
  wait "$wp"
  res "reload_${side}_reloads=$done_n"
  sed -n 's/^\([a-z_0-9]*\)=\(.*\)$/reload_'"$side"'_\1=\2/p' "$TMP/wrk-reload-$side.out" | tee -a "$OUT"
  if [ "$side" = haserf ]; then
    res "reload_haserf_lb_events=$(( $(grep -c "EventMember[A-Za-z]*: haserf-lb" "$BD/h1.serf.log") - lb_events0 ))"
    res "reload_haserf_takeovers=$(grep -oE 'took over from worker [0-9]+' "$HD/haproxy.log" | sort -u | grep -c '')"
  fi
}

# ---------------------------------------------------------------------------- e
# kill_trial SIDE T -> "SECONDS FAILED": kill -9 of backend 3's web app (its serf agent stays:
# membership says alive, only HAProxy can notice) until HAProxy has the server down, under the
# probe's traffic; FAILED = requests the probe saw fail meanwhile.
kill_trial() {
  local side=$1 t=$2 name ip lb dir t0 t1 pid errors
  B3SUF=-k$t
  name=$(bname "$side" 3) ip=$(bip "$side" 3) lb=${LBIP[$side]}
  dir=$HD
  [ "$side" = recipe ] && dir=$RD
  backend_up "$side" 3 || return 1
  routed "$side" "$name" yes 20 || { echo "timeout 0"; return 0; }
  sleep 1.5  # the recipe's reload for this join settles
  rm -f "$TMP/probe.ready"
  PROBE_READY=$TMP/probe.ready timeout 15 python3 "$HERE/probe.py" leave "$lb:8080" "$name" 1 8 \
    >"$TMP/probe-kill.out" 2>&1 &
  local pp=$!
  BG_PIDS+=("$pp")
  lab_wait 5 test -e "$TMP/probe.ready"
  pid=$(cat "$BD/$name.web.pid")
  rm -f "$TMP/down.ready"
  PROBE_READY=$TMP/down.ready timeout 15 python3 "$HERE/probe.py" down "$dir/master.sock" "$ip" 10 \
    >"$TMP/probe-down.out" 2>&1 &
  local dp=$!
  BG_PIDS+=("$dp")
  lab_wait 5 test -e "$TMP/down.ready"
  t0=$EPOCHREALTIME
  kill -KILL "$pid"
  wait "$dp"
  t1=$(sed -n 's/^down=//p' "$TMP/probe-down.out")
  [ "$t1" = 0.000000 ] && t1=""
  wait "$pp"
  errors=$(sed -n 's/^errors=//p' "$TMP/probe-kill.out")
  cat "$TMP/probe-kill.out" >>"$TMP/probe-$side-kill.log"
  rm -f "$BD/$name.web.pid"
  lab_stop_pidfile "$BD/$name.serf.pid" 5
  B3SUF=
  if [ -z "$t1" ]; then echo "timeout ${errors:-0}"; else
    echo "$(echo "$t1 - $t0" | bc -l | awk '{printf "%.4f", $1}') ${errors:-0}"
  fi
}

# ---------------------------------------------------------------------------- stats
stats() { # NAME VALUES... -> name_median, name_p90, name_min, name_max, name_n, name_timeouts
  local name=$1
  shift
  python3 - "$name" "$@" <<'EOF' | tee -a "$OUT"
import math, sys
name, vals = sys.argv[1], sys.argv[2:]
nums = sorted(float(v) for v in vals if v != "timeout")
to = sum(1 for v in vals if v == "timeout")
def q(p):
    if not nums: return float("nan")
    return nums[max(0, math.ceil(p * len(nums)) - 1)]
med = float("nan")
if nums:
    m = len(nums)
    med = nums[m // 2] if m % 2 else (nums[m // 2 - 1] + nums[m // 2]) / 2
print(f"{name}_n={len(nums)}\n{name}_timeouts={to}\n{name}_median={med:.4f}\n{name}_p90={q(0.9):.4f}"
      f"\n{name}_min={(nums[0] if nums else float('nan')):.4f}\n{name}_max={(nums[-1] if nums else float('nan')):.4f}")
EOF
}
val() { sed -n "s/^$1=//p" "$OUT" | tail -n 1; }

# ============================================================================ run
log "results: $OUT (tmp $TMP)"
{
  echo "date=$(date -u +%FT%TZ)"
  echo "host_cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "host_cores=$(nproc)"
  echo "host_mem_gib=$(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)"
  echo "os=$(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "haproxy=$(haproxy -v | head -1 | awk '{print $3}')"
  echo "serf=$(dpkg-query -W -f='${Version}' serf 2>/dev/null || serf version | head -1)"
  echo "wrk=$(dpkg-query -W -f='${Version}' wrk 2>/dev/null)"
  echo "node=$(node -v)"
  echo "handlebars_cmd=$(node -p 'require(process.argv[1]).version' "$HERE/node_modules/handlebars-cmd/package.json")"
  echo "handlebars=$(node -p 'require(process.argv[1]).version' "$HERE/node_modules/handlebars/package.json")"
  echo "build=$BUILD ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null))"
  echo "trials=$TRIALS rejoin_trials=$REJOIN_TRIALS churn_s=$CHURN_S quiet_s=$QUIET probe_sleep_ms=$PROBE_SLEEP_MS"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$OUT"

log "starting both LBs and their stable backends (1, 2)"
haserf_lb_start || { FAILED=1; exit 1; }
recipe_lb_start || { FAILED=1; exit 1; }
for side in haserf recipe; do
  for n in 1 2; do backend_up "$side" "$n" || { FAILED=1; exit 1; }; done
  routed "$side" "$(bname "$side" 2)" yes 20 || { log "$side: stable backends not routed"; FAILED=1; exit 1; }
done

declare -A JOIN=() LEAVE=()
if [[ " $SKIP " != *" joinleave "* ]]; then
  log "a/b: join and leave trials ($TRIALS per side, backend 3)"
  res "loadavg_trials=$(cut -d' ' -f1-3 /proc/loadavg)"
  # Trials 1..TRIALS: a new node name each time (h3-1, h3-2, ...: a new backend). Then
  # REJOIN_TRIALS more with the name of trial 1 again (a restarted backend rejoining under a
  # name the LB has as "left": serf's refute cycle applies, see the README).
  for ((t = 1; t <= TRIALS + REJOIN_TRIALS; t++)); do
    if ((t % 2)); then order="haserf recipe"; else order="recipe haserf"; fi
    if ((t <= TRIALS)); then B3SUF=-$t kind=""; else B3SUF=-1 kind=_rejoin; fi
    for side in $order; do
      j=$(join_trial "$side" 3)
      routed "$side" "$(bname "$side" 3)" yes 10 >/dev/null || true
      sleep 1.5   # let the recipe's coalescer and reload settle before the leave
      note_workers "$RD"
      l=$(leave_trial "$side" 3)
      note_workers "$RD"
      JOIN[$side$kind]+="$j "
      LEAVE[$side$kind]+="$l "
      log "trial $t$kind $side ($(bname "$side" 3)): join ${j}s leave ${l}s"
      sleep 1
    done
  done
  B3SUF=
  for side in haserf recipe; do
    for kind in "" _rejoin; do
      [ -n "${JOIN[$side$kind]:-}" ] || continue
      # shellcheck disable=SC2086
      stats "join${kind}_$side" ${JOIN[$side$kind]}
      # shellcheck disable=SC2086
      stats "leave${kind}_$side" ${LEAVE[$side$kind]}
      res "join${kind}_${side}_samples=${JOIN[$side$kind]% }"
      res "leave${kind}_${side}_samples=${LEAVE[$side$kind]% }"
    done
  done
fi

if [[ " $SKIP " != *" churn "* ]]; then
  for side in haserf recipe; do churn_setup "$side" || { FAILED=1; exit 1; }; done
  sleep 1
  if [ "$STEADY_S" -gt 0 ]; then
    for side in haserf recipe; do
      log "c: control, no churn, against $side (wrk -t2 -c16 -d${STEADY_S}s)"
      steady "$side"
      sleep 1
    done
  fi
  for side in haserf recipe; do
    log "c: churn against $side (wrk -t2 -c16 -d${CHURN_S}s)"
    reloads_before=$(grep -c reload "$RD/handler.log" 2>/dev/null)
    churn "$side" || { log "churn $side failed"; FAILED=1; }
    note_workers "$RD"
    [ "$side" = recipe ] && res "churn_recipe_reloads=$(($(grep -c reload "$RD/handler.log") - reloads_before))"
    sleep 2
  done
fi

if [[ " $SKIP " != *" reload "* ]]; then
  for side in haserf recipe; do
    log "d: $RELOADS reloads under wrk against $side"
    reloads "$side"
    sleep 2
  done
fi

if [[ " $SKIP " != *" kill "* ]]; then
  declare -A KILL=() KILLFAIL=()
  log "e: kill -9 of a backend's web app ($KILL_TRIALS per side)"
  for ((t = 1; t <= KILL_TRIALS; t++)); do
    for side in haserf recipe; do
      read -r secs failed < <(kill_trial "$side" "$t")
      KILL[$side]+="$secs "
      KILLFAIL[$side]=$(( ${KILLFAIL[$side]:-0} + ${failed:-0} ))
      log "kill trial $t $side: down after ${secs}s, $failed failed requests"
      sleep 1
    done
  done
  for side in haserf recipe; do
    # shellcheck disable=SC2086
    stats "kill_$side" ${KILL[$side]}
    res "kill_${side}_samples=${KILL[$side]% }"
    res "kill_${side}_failed_requests=${KILLFAIL[$side]}"
  done
fi

res "recipe_handler_runs=$(wc -l <"$RD/handler.log")"
res "haserf_glue_errors=$(curl -s --max-time 2 "http://$H_IP:8080/metrics" | sed -n 's/^haserf_glue_errors_total \(.*\)/\1/p')"
res "haserf_reloads=$(curl -s --max-time 2 "http://$H_IP:8080/metrics" | sed -n 's/^haserf_reloads_total{result="ok"} \(.*\)/\1/p')"
res "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
cp "$RD/handler.log" "$BUILD/bench-results/recipe-$STAMP.handler.log" 2>/dev/null

# ---------------------------------------------------------------------------- summary
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.3f}' if b>0 and a==a else 'n/a')" "$1" "$2" 2>/dev/null || echo n/a; }
met() { python3 -c "import sys; r=sys.argv[1]; print('yes' if r!='n/a' and float(r)<=float(sys.argv[2]) else 'no')" "$1" "$2"; }
{
  echo
  echo "| metric | haserf | recipe | ratio (haserf/recipe) | target | met? |"
  echo "|---|---|---|---|---|---|"
  if [[ " $SKIP " != *" joinleave "* ]]; then
    for m in join leave; do
      for s in median p90; do
        h=$(val "${m}_haserf_$s") r=$(val "${m}_recipe_$s")
        rt=$(ratio "$h" "$r")
        if [ $m = join ]; then tg=0.05; tgs="≤ 1/20"; else tg=0.1; tgs="≤ 1/10"; fi
        if [ $s = median ]; then mt=$(met "$rt" $tg); else mt="(p90)"; fi
        if [ $m = join ]; then lbl="join → first request"; else lbl="leave → last request"; fi
        echo "| $lbl, $s (s) | $h | $r | $rt | $tgs | $mt |"
      done
      echo "| $m timeouts (of $TRIALS) | $(val "${m}_haserf_timeouts") | $(val "${m}_recipe_timeouts") | | 0 | |"
    done
    for m in join_rejoin leave_rejoin; do
      h=$(val "${m}_haserf_median") r=$(val "${m}_recipe_median")
      [ -n "$h$r" ] && echo "| $m (same name again), median (s) | $h | $r | $(ratio "$h" "$r") | | |"
    done
  fi
  if [[ " $SKIP " != *" churn "* ]]; then
    for k in non_2xx socket_errors requests rps lat_p99_ms; do
      h=$(val "churn_haserf_$k") r=$(val "churn_recipe_$k")
      tg="" mt=""
      if [ "$k" = non_2xx ] || [ "$k" = socket_errors ]; then tg="0 (haserf)"; [ "${h:-x}" = 0 ] && mt=yes || mt=no; fi
      echo "| churn $k | $h | $r | $(ratio "$h" "$r") | $tg | $mt |"
    done
    for k in non_2xx socket_errors rps lat_p50_ms lat_p99_ms; do
      h=$(val "steady_haserf_$k") r=$(val "steady_recipe_$k")
      [ -n "$h$r" ] && echo "| steady (no churn) $k | $h | $r | $(ratio "$h" "$r") | | |"
    done
    echo "| churn ops (join/leave) | $(val churn_haserf_ops) | $(val churn_recipe_ops) | | | |"
    echo "| churn reloads | $(val haserf_reloads) | $(val churn_recipe_reloads) | | | |"
  fi
  if [[ " $SKIP " != *" reload "* ]]; then
    for k in reloads requests non_2xx socket_errors rps lat_p99_ms; do
      h=$(val "reload_haserf_$k") r=$(val "reload_recipe_$k")
      tg="" mt=""
      if [ "$k" = non_2xx ] || [ "$k" = socket_errors ]; then tg="0 (haserf)"; [ "${h:-x}" = 0 ] && mt=yes || mt=no; fi
      echo "| reloads under load: $k | $h | $r | $(ratio "$h" "$r") | $tg | $mt |"
    done
    echo "| reloads: member events about the balancer | $(val reload_haserf_lb_events) | n/a (separate agent) | | 0 | $([ "$(val reload_haserf_lb_events)" = 0 ] && echo yes || echo no) |"
  fi
  if [[ " $SKIP " != *" kill "* ]]; then
    h=$(val kill_haserf_median) r=$(val kill_recipe_median)
    rt=$(ratio "$h" "$r")
    echo "| kill -9 → server down, median (s) | $h | $r | $rt | ≤ 1 | $(met "$rt" 1.0) |"
    echo "| kill -9 → server down, p90 (s) | $(val kill_haserf_p90) | $(val kill_recipe_p90) | $(ratio "$(val kill_haserf_p90)" "$(val kill_recipe_p90)") | | |"
    echo "| kill -9: requests failed (all trials) | $(val kill_haserf_failed_requests) | $(val kill_recipe_failed_requests) | | 0 | |"
  fi
} | tee -a "$OUT"
log "raw results: $OUT (run took $((SECONDS / 60)) min $((SECONDS % 60)) s)"
exit 0
