# SPDX-License-Identifier: MIT
# Helpers for the HAProxy glue tests (sourced after setting BUILD and SRC: $1 and $2).
# Reuses tests/integration/lib.sh (serf agents, bounded polling, watchdog, cleanup, summary)
# and examples/lab/ (ha-start.sh / ha-stop.sh / web.cfg / haproxy.cfg.mustache).
#
# Each test file owns a block of 127.0.X.* addresses (see its header): HAProxy on .1
# (frontend :8080, stats :1936, gossip :7946), backends on .11 and up (web :3000,
# gossip :7946, RPC :7373).
#
#   start_ha IP [VAR=VALUE...]      lab HAProxy in $HA (= $TMP/ha); VARs go to ha-start.sh's env
#   stop_ha                         ha-stop.sh (soft-stop, TERM, KILL; bounded)
#   start_web NAME IP               the tiny web app answering NAME on IP:3000
#   start_backend NAME IP HAIP [serf args...]   web app + serf agent (role=backend, port=3000)
#   hits N                          N requests to the frontend; prints "NAME COUNT" lines
#   routed NAME / not_routed NAME   12 requests do / do not reach NAME
#   admin CMD...                    a command for the current worker, through the master CLI (@1)
#   slot_field SLOT FIELD           a field of `show servers state nodes` (srv_addr, srv_admin_state...)
#   slot_of MEMBER                  the slot whose address is MEMBER's IP and is in use
#   ha_at_least VERSION             the balancer's HAProxy ($HA_VERSION) is VERSION or newer
# After netns_create (tests/integration/lib.sh), HAProxy, the web apps and the requests of
# these helpers run in the test's network namespace.
HASERF=${HASERF:-unused}
. "$SRC/tests/integration/lib.sh"
command -v haproxy >/dev/null || { echo "FAIL - haproxy is required"; exit 1; }
command -v socat >/dev/null || { echo "FAIL - socat is required (apt-get install socat)"; exit 1; }
command -v curl >/dev/null || { echo "FAIL - curl is required"; exit 1; }
BUILD=$(cd "$BUILD" && pwd)
HA=$TMP/ha
HA_IP=""
LAB=$SRC/examples/lab
# HASERF_HAPROXY_ROOT=DIR (a root from scripts/debian13-root.sh): the balancer is that root's
# HAProxy 3.0 with the Lua 5.4 module; unset: the host's HAProxy 2.6 with Lua 5.3. Web apps
# always run on the host's HAProxy. lab_haproxy runs the balancer's HAProxy (haproxy -c).
. "$LAB/lib.sh"
LAB_BUILD=$BUILD
lab_haproxy_command
HA_VERSION=$(lab_haproxy -v | awk 'NR == 1 { sub(/-.*/, "", $3); print $3 }')
echo "# balancer: HAProxy $HA_VERSION, Lua $LAB_LUA module"
# ha_at_least 2.7: the balancer's HAProxy is that version or newer.
ha_at_least() { [ "$(printf '%s\n%s\n' "$1" "$HA_VERSION" | sort -V | head -n 1)" = "$1" ]; }

# Core files: HAProxy runs in $HA/cores with core dumps on, for stop_ha's crash check. With
# the kernel's default pattern ("core", no %p) every crash of a run would overwrite the one
# before, so each crash could not be judged by its own core: when the pattern has no %p we ask
# the kernel to append the pid (kernel.core_uses_pid=1, which changes only that file name).
# Left set: parallel tests share it.
ha_core_file() {  # PID [only-crash] -> the core file that crash left, or ""
  if [ -f "$HA/cores/core.$1" ]; then
    echo "$HA/cores/core.$1"
  elif [ "${2:-}" = only-crash ] && [ -f "$HA/cores/core" ]; then
    echo "$HA/cores/core"  # no pid in the name: it can only be this crash's core
  fi
}

start_ha() {
  HA_IP=$1
  shift
  mkdir -p "$HA"
  mkdir -p "$HA/cores"
  if ! grep -q '%p' /proc/sys/kernel/core_pattern 2>/dev/null &&
    [ "$(cat /proc/sys/kernel/core_uses_pid 2>/dev/null)" = 0 ] &&
    [ -w /proc/sys/kernel/core_uses_pid ]; then
    echo 1 >/proc/sys/kernel/core_uses_pid 2>/dev/null || true
  fi
  if ! (cd "$HA/cores" && ulimit -c unlimited &&
    "${IT_IN[@]}" env BUILD="$BUILD" LAB_IP="$HA_IP" "$@" bash "$LAB/ha-start.sh" "$HA") >"$TMP/ha-start.out" 2>&1; then
    fail "HAProxy starts on $HA_IP" "$(cat "$TMP/ha-start.out")"
    return 1
  fi
  ALL_PIDS+=("$(cat "$HA/haproxy.pid")")
}

# upstream_exit_crash PID [only-crash]: true when that worker's core shows HAProxy 2.6.12's own exit-path
# crash (deinit -> protocol_unbind_all -> _fd_delete_orphan, docs/haproxy.md "Known limits").
upstream_exit_crash() {
  local core
  core=$(ha_core_file "$1" "${2:-}")
  [ -n "$core" ] && command -v gdb >/dev/null &&
    timeout 60 gdb -q -batch -ex bt "$(command -v haproxy)" "$core" 2>/dev/null |
    tr '\n' ' ' | grep -q "_fd_delete_orphan.*protocol_unbind_all.*deinit"
}

# stop_ha: ha-stop.sh, then the check every HAProxy test makes: no worker or master exited
# on a signal or with an error ("exited with code N" in HAProxy's log, N other than 0).
# One exception, on HAProxy < 2.7 only: an old worker killed by HAProxy 2.6.12's own exit-path
# crash (docs/haproxy.md "Known limits"; upstream fix b98314583 in 2.7), proven by that
# worker's own core dump, is reported as that and not counted against haserf. Anything else, or
# a crash without such a core (each crash is judged by its own core), fails.
stop_ha() {
  [ -f "$HA/haproxy.pid" ] || return 0
  bash "$LAB/ha-stop.sh" "$HA" >/dev/null 2>&1
  local bad line pid core unexplained="" known=0 only=""
  bad=$(grep -E "exited with code [1-9]|exit-on-failure" "$HA/haproxy.log" 2>/dev/null)
  if [ -z "$bad" ]; then
    pass "every HAProxy process exited with code 0"
    return
  fi
  [ "$(printf '%s\n' "$bad" | grep -c '')" = 1 ] && only=only-crash
  while IFS= read -r line; do
    pid=$(printf '%s\n' "$line" | sed -n 's/.*Former worker (\([0-9]*\)) exited with code 139.*/\1/p')
    if [ -n "$pid" ] && ! ha_at_least 2.7 && upstream_exit_crash "$pid" "$only"; then
      known=$((known + 1))
      echo "# known upstream crash, not haserf's: $line"
    else
      unexplained+="$line"$'\n'
      # The backtrace goes into the test's output, so a crash in CI can be told apart.
      core=$(ha_core_file "$pid" "$only")
      if [ -n "$pid" ] && [ -n "$core" ] && command -v gdb >/dev/null; then
        echo "# backtrace of worker $pid ($core):"
        timeout 60 gdb -q -batch -ex 'thread apply all bt 12' "$(command -v haproxy)" "$core" 2>/dev/null |
          grep -E '^(#|Thread)' | head -n 80 | sed 's/^/#   /'
      fi
    fi
  done <<<"$bad"
  if [ -z "$unexplained" ]; then
    pass "every HAProxy process exited with code 0 but $known old worker(s), killed by HAProxy 2.6.12's exit-path bug (each core: deinit -> protocol_unbind_all -> _fd_delete_orphan; fixed in 2.7)"
  else
    fail "every HAProxy process exited with code 0" "$(printf '%s' "$unexplained" | head -n 5)"
  fi
}

# Cleanup: HAProxy first (it is not in PID_OF), then what integration/lib.sh knows about.
_ha_cleanup() {
  stop_ha
  if [ "$FAILED" -gt 0 ] && [ -f "$HA/haproxy.log" ]; then
    echo "# == $HA/haproxy.log (haserf lines, last 40)"
    grep -E 'haserf|ALERT|WARNING|Reloading|worker' "$HA/haproxy.log" | grep -vE '^(\[info\]|<6>)' | tail -n 40 | sed 's/^/#  /'
  fi
  _it_cleanup
}
trap '_ha_cleanup' EXIT

start_web() {
  WEB_NAME=$1 WEB_ADDR=$2:3000 "${IT_IN[@]}" haproxy -db -f "$LAB/web.cfg" >"$TMP/web-$1.log" 2>&1 </dev/null &
  PID_OF[web-$1]=$!
  ALL_PIDS+=("$!")
  poll 10 "${IT_IN[@]}" curl -sf -o /dev/null --max-time 2 "http://$2:3000/" || fail "web app $1 answers on $2:3000"
}

start_backend() {
  local name=$1 ip=$2 haip=$3
  shift 3
  start_web "$name" "$ip"
  start_serf "$name" "$ip" -retry-join "$haip:7946" -retry-interval 1s \
    -tag role=backend -tag port=3000 "$@"
}

hits() {
  local i
  for i in $(seq "$1"); do "${IT_IN[@]}" curl -s --max-time 3 "http://$HA_IP:8080/"; done | sort | uniq -c |
    awk '{print $2, $1}'
}
routed() { hits 12 | grep -q "^$1 "; }
not_routed() { local h; h=$(hits 12); ! printf '%s\n' "$h" | grep -q "^$1 " && [ -n "$h" ]; }
# routes_exactly "s1 s2": 12 requests reach exactly these names (sorted, space-separated).
routes_exactly() { [ "$(hits 12 | awk '{print $1}' | sort | tr '\n' ' ' | sed 's/ $//')" = "$1" ]; }

admin() { echo "@1 $*" | socat -t 3 - "unix-connect:$HA/master.sock"; }

# slot_field SLOT FIELD: from `show servers state nodes`, by column name.
slot_field() {
  admin "show servers state nodes" | awk -v s="$1" -v f="$2" '
    /^# be_id/ { for (i = 2; i <= NF; i++) col[$i] = i - 1; next }
    $4 == s { print $(col[f]) }'
}
# slot_of IP: the slot pointed at IP (srv_admin_state without forced maintenance, bit 0x01).
slot_of() {
  admin "show servers state nodes" | awk -v ip="$1" '$5 == ip && int($7) % 2 == 0 { print $4; exit }'
}
