#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Debian's default haproxy.cfg: `chroot /var/lib/haproxy` + `user haproxy` (docs/systemd.md).
# HAProxy's worker drops to user haproxy and chroots to a folder this test makes (root-owned,
# 0755, empty but for what a phase puts there). What the glue needs there works, or is refused
# with a message that names the path and the chroot:
#   a. slots (the default mode), with insecure-fork-wanted: the member joins a serf agent
#      (HASERF_JOIN), routes to it and to a backend that joins later, is alive in
#      `serf members`; a reload hands it to the new (chrooted) worker without a leave; a
#      stop leaves.
#   b. without insecure-fork-wanted: the glue logs "cannot start a thread: RLIMIT_NPROC is 0
#      ..." and HAProxy still serves.
#   c. rendered reloads with HASERF_TEMPLATE and HASERF_OUT outside the chroot: refused,
#      naming the template and the chroot; the running config is kept, no reload happens.
#   d. template and HASERF_OUT's folder inside the chroot (at the same path inside and out):
#      refused while the chroot has no /bin/sh (the check and reload commands run with it);
#      once it has one, rendered, checked and written by the worker.
# Usage: chroot_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.41.0/24 (loopback only). Root.
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-170}
[ "$(id -u)" = 0 ] || { echo "SKIP - needs root (HAProxy chroots and changes user)"; exit 77; }
. "$SRC/tests/haproxy/lib.sh"

IP=127.0.41.1
# The user the worker runs as, in the passwd its HAProxy reads.
PASSWD=${HASERF_HAPROXY_ROOT:+$HASERF_HAPROXY_ROOT}/etc/passwd
HA_UID=$(awk -F: '$1 == "haproxy" { print $3 }' "$PASSWD")
HA_GID=$(awk -F: '$1 == "haproxy" { print $4 }' "$PASSWD")
if [ -z "$HA_UID" ]; then
  fail "user haproxy exists ($PASSWD)"
  stop_all
  finish
  exit
fi

CH=$TMP/chroot
mkdir -m 0755 "$CH"
chown 0:0 "$CH"

# The config (and the template renders use): Debian's global lines plus the glue; every knob
# comes from the environment (start_ha VAR=VALUE). T_FORK set: insecure-fork-wanted.
TPL=$TMP/chroot.cfg.mustache
cat >"$TPL" <<'EOF'
# chroot_test.sh: slots {{slots_nodes}}
global
    nbthread 2
    log stderr format raw local0 info
    hard-stop-after 15s
    chroot "${T_CHROOT}"
    user haproxy
    group haproxy
.if defined(T_FORK)
    insecure-fork-wanted
.endif
    lua-prepend-path "${LAB_BUILD}/bindings/lua${LAB_LUA}/?.so" cpath
    lua-load "${LAB_SRC}/lua/haserf-haproxy.lua"

defaults
    mode http
    option redispatch 1
    retries 2
    timeout connect 1s
    timeout client 30s
    timeout server 30s

frontend admin
    bind "${LAB_IP}:8404"
    http-request use-service lua.haserf-page if { path /haserf /haserf/ }
    http-request use-service lua.haserf-members if { path /haserf/members.json }
    http-request use-service lua.haserf-metrics if { path /haserf/metrics }
    http-request deny deny_status 404

frontend web
    bind "${LAB_IP}:8080"
    default_backend nodes

listen stats
    bind "${LAB_IP}:1936"
    stats enable
    stats uri /

backend nodes
    balance roundrobin
    default-server check inter 1s fastinter 250ms fall 2 rise 1
    server-template s 1-{{slots_nodes}} 127.0.0.1:1 disabled
EOF

# start_phase NAME [VAR=VALUE...]: HAProxy in $TMP/ha-NAME with the chroot and user haproxy.
start_phase() {
  HA=$TMP/ha-$1
  shift
  start_ha "$IP" LAB_TEMPLATE="$TPL" T_CHROOT="$CH" HASERF_BIND="$IP:7946" \
    HASERF_JOIN="127.0.41.11:7946" HASERF_PROFILE=local "$@"
}
worker() { echo "show proc" | socat -t 3 - "unix-connect:$HA/master.sock" | awk '$2 == "worker" {print $1; exit}'; }
reloads() { echo "show proc" | socat -t 3 - "unix-connect:$HA/master.sock" | awk '$2 == "master" {print $3}'; }
# in_chroot PID: the process runs as haproxy with the test's folder as its root.
in_chroot() {
  [ -n "$1" ] && [ "$(awk '/^Uid:/ { print $2 }' "/proc/$1/status")" = "$HA_UID" ] &&
    [ "$(stat -L -c %d:%i "/proc/$1/root/")" = "$(stat -c %d:%i "$CH")" ]
}
logged() { grep -qF -- "$1" "$HA/haproxy.log"; }
metrics() { curl -s --max-time 3 "http://$IP:8404/haserf/metrics"; }

start_web b1 127.0.41.11
start_serf b1 127.0.41.11 -tag role=backend -tag port=3000 || { stop_all; finish; exit; }

# ---- a. slots under chroot + user haproxy ------------------------------------------------
echo "# a. slots mode, chroot $CH, user haproxy, insecure-fork-wanted"
start_phase a HASERF_NODE=lb-a T_FORK=1 || { stop_all; finish; exit; }
W0=$(worker)
in_chroot "$W0" && pass "the worker ($W0) runs as haproxy (uid $HA_UID) inside the chroot" ||
  fail "the worker runs as haproxy inside the chroot" "pid '$W0': $(grep '^Uid:' "/proc/$W0/status" 2>&1), root $(stat -L -c %d:%i "/proc/$W0/root/" 2>&1)"
wait_for "the member joined b1 (HASERF_JOIN): b1 is routed to" 20 routes_exactly "b1"
wait_for "serf members on b1 lists lb-a alive" 20 is_status 127.0.41.11 lb-a alive
start_web b2 127.0.41.12
start_serf b2 127.0.41.12 -join 127.0.41.11:7946 -tag role=backend -tag port=3000
wait_for "b2 joining the cluster later is routed to" 20 routes_exactly "b1 b2"
# A reload (Debian's `systemctl reload`): the new worker, chrooted too, takes the member over.
echo reload | socat -t 5 - "unix-connect:$HA/master.sock" >/dev/null
wait_for "reload: a new worker runs" 20 eval '[ -n "$(worker)" ] && [ "$(worker)" != "$W0" ]'
W1=$(worker)
in_chroot "$W1" && pass "the new worker ($W1) runs as haproxy inside the chroot" ||
  fail "the new worker runs as haproxy inside the chroot" "pid '$W1'"
wait_for "the new worker's member took over from $W0 (no leave, no join)" 20 \
  logged "haserf: member lb-a took over from worker $W0 (reload): no leave, no join"
wait_for "after the reload, b1 and b2 are still routed to" 20 routes_exactly "b1 b2"
LEFT=$(grep -E "EventMember(Leave|Failed): lb-a" "$TMP/b1.log")
[ -z "$LEFT" ] && pass "b1 saw no leave or failure of lb-a across the reload" ||
  fail "b1 saw no leave or failure of lb-a across the reload" "$LEFT"
expect_contains "no Lua error caught in the glue" "$(metrics)" "haserf_glue_errors_total 0"
stop_ha
wait_for "after a stop (soft), serf sees lb-a left" 15 is_status 127.0.41.11 lb-a left

# ---- b. no insecure-fork-wanted ----------------------------------------------------------
echo "# b. chroot, user haproxy, without insecure-fork-wanted"
start_phase b HASERF_NODE=lb-b HASERF_START_RETRY_MS=200 || { stop_all; finish; exit; }
MSG="cannot start a thread: RLIMIT_NPROC is 0 (HAProxy allows a non-root worker no new thread or process unless its global section has insecure-fork-wanted)"
wait_for "the glue logs why the member cannot start" 15 logged "haserf: cannot start the member: $MSG"
W=$(worker)
FD0=$(ls "/proc/$W/fd" | wc -l)
sleep 3  # 15 more attempts (HASERF_START_RETRY_MS=200)
FD1=$(ls "/proc/$W/fd" | wc -l)
[ "$FD1" -le "$FD0" ] && pass "retrying leaks no descriptor ($FD0 -> $FD1 open in the worker)" ||
  fail "retrying leaks no descriptor" "$FD0 -> $FD1 open in the worker"
curl -sf -o /dev/null --max-time 3 "http://$IP:1936/" && pass "HAProxy still serves (stats page)" ||
  fail "HAProxy still serves (stats page)"
metrics | grep -q "^haserf_up 0" &&
  pass "the glue's pages still answer (metrics: haserf_up 0)" ||
  fail "the glue's pages still answer (metrics: haserf_up 0)" "$(metrics | grep haserf_up)"
[ -z "$(serf_status 127.0.41.11 lb-b)" ] && pass "lb-b never joined" || fail "lb-b never joined"
# HAProxy 2.6 also copies Lua log lines to stderr: one message may be two lines of the log.
N=$(grep -cF "$MSG" "$HA/haproxy.log")
[ "$N" -le 2 ] && pass "logged once, not at every retry" || fail "logged once, not at every retry" "$N lines"
expect_contains "not counted as a glue error" "$(metrics)" "haserf_glue_errors_total 0"
stop_ha

# ---- c. rendered reloads, paths outside the chroot ---------------------------------------
echo "# c. HASERF_TEMPLATE $TPL and HASERF_OUT outside the chroot"
start_phase c HASERF_NODE=lb-c T_FORK=1 LAB_SLOTS=1 HASERF_TEMPLATE="$TPL" \
  HASERF_OUT="$TMP/ha-c/haproxy.cfg" HASERF_RELOAD="master-cli:$TMP/ha-c/master.sock" \
  HASERF_DEBOUNCE_MS=200 || { stop_all; finish; exit; }
SUM=$(md5sum <"$HA/haproxy.cfg")
W0=$(worker)
R0=$(reloads)
wait_for "b1 and b2 for 1 slot: the glue refuses the render, naming the template and the chroot" 30 \
  logged "haserf: reload refused (running config kept): HASERF_TEMPLATE $TPL is not readable inside HAProxy's chroot $CH (the worker looks for $CH$TPL)"
grep "reload refused" "$HA/haproxy.log" | head -n 1 | sed 's/^/#   /'
[ "$(md5sum <"$HA/haproxy.cfg")" = "$SUM" ] && [ ! -e "$HA/haproxy.cfg.candidate" ] && [ ! -e "$HA/haproxy.cfg.bak" ] &&
  pass "the running config is kept (haproxy.cfg untouched, no candidate, no .bak)" ||
  fail "the running config is kept" "$(ls "$HA")"
[ "$(reloads)" = "$R0" ] && [ "$(worker)" = "$W0" ] && pass "no reload happened" ||
  fail "no reload happened" "reloads $R0 -> $(reloads), worker $W0 -> $(worker)"
expect_contains "the members page lists the refusal" "$(curl -s --max-time 3 "http://$IP:8404/haserf")" \
  "HASERF_TEMPLATE $TPL is not readable inside HAProxy&#39;s chroot $CH"
expect_contains "the refusal is counted" "$(metrics)" 'haserf_reloads_total{result="refused"} 1'
H=$(hits 6 | awk '{print $1}' | tr '\n' ' ')
case "$H" in "b1 " | "b2 ") pass "HAProxy keeps routing with its 1 slot ($H)" ;;
  *) fail "HAProxy keeps routing with its 1 slot" "$H" ;; esac
expect_contains "no Lua error caught in the glue" "$(metrics)" "haserf_glue_errors_total 0"
stop_ha

# ---- d. paths inside the chroot ----------------------------------------------------------
# The same absolute path must reach the template from the master (outside: it reads it when
# the glue loads) and from the worker (inside): $CH$CH is a symlink to the chroot's /.
echo "# d. HASERF_TEMPLATE and HASERF_OUT inside the chroot"
mkdir -p "$CH$(dirname "$CH")" "$CH/haserf/out"
ln -s / "$CH$CH"
cp "$TPL" "$CH/haserf/haproxy.cfg.mustache"
chown "$HA_UID:$HA_GID" "$CH/haserf/out"
OUT=$CH/haserf/out/haproxy.cfg
start_phase d HASERF_NODE=lb-d T_FORK=1 LAB_SLOTS=1 HASERF_SLOT_STEP=1 \
  LAB_TEMPLATE="$CH/haserf/haproxy.cfg.mustache" HASERF_TEMPLATE="$CH/haserf/haproxy.cfg.mustache" \
  HASERF_OUT="$OUT" HASERF_CHECK='test -s {}' HASERF_DEBOUNCE_MS=200 HASERF_RELOAD_INTERVAL_MS=500 ||
  { stop_all; finish; exit; }
wait_for "b1 and b2 for 1 slot, no /bin/sh in the chroot: refused, naming /bin/sh and the chroot" 30 \
  logged "haserf: reload refused (running config kept): HASERF_CHECK runs with /bin/sh, which HAProxy's chroot $CH does not have (the worker looks for $CH/bin/sh)"
[ ! -e "$OUT" ] && pass "nothing written" || fail "nothing written"
# A shell in the chroot (dash and the libraries it needs), then a new structural change.
mkdir -p "$CH/bin"
cp /bin/dash "$CH/bin/sh"
for lib in $(ldd /bin/dash | grep -o '/[^ ]*'); do
  mkdir -p "$CH$(dirname "$lib")"
  cp -L "$lib" "$CH$lib"
done
start_web b3 127.0.41.13
start_serf b3 127.0.41.13 -join 127.0.41.11:7946 -tag role=backend -tag port=3000
wait_for "with /bin/sh in the chroot, a third member: the worker renders, checks and writes" 30 \
  logged "haserf: reload ok: wrote $OUT"
grep -q "server-template s 1-3 " "$OUT" 2>/dev/null && pass "the written config has 3 slots" ||
  fail "the written config has 3 slots" "$(grep server-template "$OUT" 2>&1)"
[ "$(stat -c %u "$OUT" 2>/dev/null)" = "$HA_UID" ] && pass "written by the worker (owner haproxy)" ||
  fail "written by the worker (owner haproxy)" "$(ls -l "$OUT" 2>&1)"
expect_contains "no Lua error caught in the glue" "$(metrics)" "haserf_glue_errors_total 0"
stop_ha
stop_all
finish
