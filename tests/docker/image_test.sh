#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Dockerfile.ha, built and run, without a Docker engine or a registry.
#
# Build: the base images (debian:trixie, debian:trixie-slim) are made locally by
# scripts/base-images.sh when missing (kept between runs), then `buildah bud --pull=never
# --isolation chroot --format docker` (docker format: OCI has no HEALTHCHECK).
# Run: `podman run` cannot work here (crun cannot set RLIMIT_NPROC), so the image runs the way
# a runtime would start it, by hand: its root (`buildah from` + `buildah mount`), /proc and a
# minimal /dev mounted in a private mount namespace (gone with the process), chroot as the
# image's USER, the image's ENV (plus the test's), WORKDIR, ENTRYPOINT + CMD; the host's
# network (loopback only).
# Checks: the image's metadata (non-root USER, STOPSIGNAL SIGUSR1, HEALTHCHECK, Lua 5.4
# module, HAProxy 3.0); HAProxy runs as that user; 2 real serf agents with web apps join it
# and requests through its frontend reach both; its HEALTHCHECK passes; a master-CLI reload
# works as non-root and the cluster does not notice; the STOPSIGNAL makes it leave (peers see
# `left`, not `failed`) and exit 0; the HEALTHCHECK then fails.
#
# Usage: image_test.sh BUILD_DIR SOURCE_DIR (BUILD_DIR is unused: the image builds from the
# source). Addresses: 127.0.20.0/24 (loopback only): the image's HAProxy on .1 (frontend
# :8080, stats :1936, gossip :7946), backends w1 .11 and w2 .12 (web :3000, gossip :7946,
# RPC :7373). Needs root, buildah, podman, mmdebstrap (scripts/install-deps.sh); exits 77
# (skipped) only when buildah cannot be used at all. KEEP_IMAGE=1 keeps the built image.
#
# No `set -e`: the shared helpers (tests/integration/lib.sh) report failures as results and
# the summary decides the exit status. Every process is bounded and stopped on exit; every
# mount, buildah container and image this test made is removed on exit (the base images
# stay, cached).
BUILD=$1  # unused: the image builds from the source
: "$BUILD"
SRC=$(cd "$2" && pwd)
set -o pipefail
IT_BUDGET=${IT_BUDGET:-1400}  # below the ctest TIMEOUT (tests/docker/tests.cmake)

skip() { echo "SKIP - $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (buildah, chroot, mounts)"
command -v buildah >/dev/null || skip "buildah is missing (bash scripts/install-deps.sh)"
timeout 60 buildah info >/dev/null 2>&1 || skip "buildah does not work here: $(timeout 60 buildah info 2>&1 | tail -n 1)"

HASERF=unused
. "$SRC/tests/integration/lib.sh"
for c in podman mmdebstrap unshare chroot haproxy curl socat setsid; do
  command -v "$c" >/dev/null || { fail "$c is installed (bash scripts/install-deps.sh)"; finish; exit 1; }
done

IP=127.0.20.1
TAG=localhost/haserf-haproxy:test-$$
CTR_NAME=haserf-image-test-$$
CTR=""          # buildah container of the run
MNT=""          # its mounted root
HA_PID=""       # the image's HAProxy master
IMAGE_MADE=0
BUILD_PGID=""   # process group of a running base-image or image build
BUILD_GUARD=""  # its time guard
T0=$(date +%s)
elapsed() { echo $(($(date +%s) - T0)); }

overlays() { grep -c ' overlay ' /proc/mounts; }
# "ID IMAGE NAME" of every container buildah or podman knows.
containers() { buildah containers --all --format '{{.ContainerID}} {{.ImageName}} {{.ContainerName}}' 2>/dev/null | sort; }
OVERLAYS0=$(overlays)
CONTAINERS0=$(containers)

# Leftovers of a run that could not clean up (kill -9): containers named haserf-image-test-PID
# and images localhost/haserf-haproxy:test-PID whose PID is gone.
for name in $(buildah containers --format '{{.ContainerName}}' 2>/dev/null | grep '^haserf-image-test-[0-9]*$'); do
  kill -0 "${name##*-}" 2>/dev/null && continue
  echo "# removing $name (left by an earlier run)"
  buildah umount "$name" >/dev/null 2>&1
  buildah rm "$name" >/dev/null 2>&1
done
for img in $(buildah images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep '^localhost/haserf-haproxy:test-[0-9]*$'); do
  kill -0 "${img##*-}" 2>/dev/null && continue
  echo "# removing $img (left by an earlier run)"
  buildah rmi "$img" >/dev/null 2>&1
done

# bounded NAME SECONDS CMD...: CMD in its own process group (a build spawns many processes),
# output in $TMP/NAME.out (not .log: lib.sh dumps *.log as serf logs); TERM to the group
# after SECONDS, KILL 30 s later. Waits with `wait`, so the watchdog's TERM interrupts it
# (cleanup then stops the group and the guard). Returns CMD's status.
bounded() {
  local name=$1 bound=$2 pid rc
  shift 2
  setsid "$@" >"$TMP/$name.out" 2>&1 </dev/null &
  pid=$!
  BUILD_PGID=$pid
  ( trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "$bound" & sp=$!
    wait "$sp" || exit 0
    kill -TERM -- "-$pid"
    sleep 30 & sp=$!
    wait "$sp" || exit 0
    kill -KILL -- "-$pid" ) 2>/dev/null &
  BUILD_GUARD=$!
  wait "$pid"
  rc=$?
  kill "$BUILD_GUARD" 2>/dev/null
  wait "$BUILD_GUARD" 2>/dev/null
  BUILD_PGID=""
  BUILD_GUARD=""
  return "$rc"
}
stop_group() {
  local pg=$1 i=0
  [ -n "$pg" ] || return 0
  kill -TERM -- "-$pg" 2>/dev/null || return 0
  while kill -0 -- "-$pg" 2>/dev/null && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  kill -KILL -- "-$pg" 2>/dev/null
  wait "$pg" 2>/dev/null
}

# Processes whose root is the mounted image (HAProxy, its workers, a health check...).
in_root_pids() {
  local p
  [ -n "$MNT" ] || return 0
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$MNT" ] && echo "${p#/proc/}"
  done
}

# Removes what this test made; idempotent. With RECORD=1, records the checks.
remove_image_things() {
  local record=${1:-0} pids left
  if [ -n "$HA_PID" ] && _it_alive "$HA_PID"; then
    kill -TERM "$HA_PID" 2>/dev/null
    poll 10 eval '! _it_alive "$HA_PID"'
    kill -KILL "$HA_PID" 2>/dev/null
  fi
  [ -n "$HA_PID" ] && wait "$HA_PID" 2>/dev/null
  HA_PID=""
  pids=$(in_root_pids)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    sleep 0.5
  fi
  left=$(in_root_pids)
  if [ "$record" = 1 ]; then
    [ -z "$pids" ] && pass "no process left in the image's root" || fail "no process left in the image's root" "$pids"
  fi
  [ -n "$left" ] && echo "# still running in $MNT: $left"
  if [ -n "$CTR" ]; then
    buildah umount "$CTR" >/dev/null 2>&1
    buildah rm "$CTR" >/dev/null 2>&1
    CTR=""
    MNT=""
  fi
  # A build stopped half-way may leave its working containers: those new since the start,
  # from the base images or from our image.
  local id image rest
  while read -r id image rest; do
    [ -n "$id" ] || continue
    case "$image" in
      docker.io/library/debian:trixie | docker.io/library/debian:trixie-slim | "$TAG")
        buildah rm "$id" >/dev/null 2>&1 ;;
    esac
  done < <(comm -13 <(printf '%s\n' "$CONTAINERS0") <(containers))
  if [ "$IMAGE_MADE" = 1 ] && [ -z "${KEEP_IMAGE:-}" ]; then
    buildah rmi "$TAG" >/dev/null 2>&1
    IMAGE_MADE=0
  fi
  if [ "$record" = 1 ]; then
    [ "$(overlays)" = "$OVERLAYS0" ] && pass "no overlay mount left ($OVERLAYS0 before and after)" ||
      fail "no overlay mount left" "$OVERLAYS0 before, $(overlays) after"
    [ "$(containers)" = "$CONTAINERS0" ] && pass "no buildah container left" ||
      fail "no buildah container left" "$(comm -13 <(printf '%s\n' "$CONTAINERS0") <(containers))"
    if [ -z "${KEEP_IMAGE:-}" ]; then
      ! buildah inspect --type image "$TAG" >/dev/null 2>&1 && pass "the built image is removed" ||
        fail "the built image is removed"
    fi
  fi
}

_img_cleanup() {
  trap - EXIT
  [ -n "$BUILD_GUARD" ] && { kill "$BUILD_GUARD" 2>/dev/null; wait "$BUILD_GUARD" 2>/dev/null; }
  stop_group "$BUILD_PGID"
  remove_image_things 0
  if [ "$FAILED" -gt 0 ] && [ -f "$TMP/image.out" ]; then
    echo "# == the image's HAProxy log (last 40 lines)"
    tail -n 40 "$TMP/image.out" | sed 's/^/#  /'
  fi
  _it_cleanup
}
trap '_img_cleanup' EXIT

# ---- base images ---------------------------------------------------------------------------
if bounded base-images 1000 bash "$SRC/scripts/base-images.sh"; then
  pass "base images debian:trixie and debian:trixie-slim are there (made or cached, $(elapsed) s)"
else
  fail "scripts/base-images.sh makes the base images" "$(tail -n 15 "$TMP/base-images.out")"
  finish
  exit 1
fi

# ---- build ---------------------------------------------------------------------------------
T_BUILD=$(date +%s)
if bounded build 1100 buildah bud --pull=never --isolation chroot --format docker --layers=false \
  -f "$SRC/Dockerfile.ha" -t "$TAG" "$SRC"; then
  IMAGE_MADE=1
  pass "buildah builds Dockerfile.ha ($(($(date +%s) - T_BUILD)) s)"
else
  buildah inspect --type image "$TAG" >/dev/null 2>&1 && IMAGE_MADE=1
  fail "buildah builds Dockerfile.ha" "$(grep -v '^Get:\|^Selecting\|^Preparing\|^Unpacking\|^Setting up' "$TMP/build.out" | tail -n 30)"
  finish
  exit 1
fi
echo "# build log: $(grep -c 'warning:' "$TMP/build.out") compiler warnings"

# ---- the image's metadata ------------------------------------------------------------------
CONFIG=$(buildah inspect --type image "$TAG" | jq -c '.Docker.config')
cfg() { printf '%s' "$CONFIG" | jq -r "$1"; }
USER_SPEC=$(cfg '.User // ""')
STOPSIG=$(cfg '.StopSignal // ""')
WORKDIR=$(cfg '.WorkingDir // ""')
[ -n "$WORKDIR" ] || WORKDIR=/
mapfile -t IMG_ENV < <(cfg '.Env // [] | .[]')
mapfile -t ENTRY < <(cfg '.Entrypoint // [] | .[]')
mapfile -t CMD < <(cfg '.Cmd // [] | .[]')
mapfile -t HC_TEST < <(cfg '.Healthcheck.Test // [] | .[]')
HC_TIMEOUT=$(( $(cfg '.Healthcheck.Timeout // 30000000000') / 1000000000 ))

[ "$STOPSIG" = SIGUSR1 ] && pass "STOPSIGNAL is SIGUSR1" || fail "STOPSIGNAL is SIGUSR1" "'$STOPSIG'"
case "${HC_TEST[0]:-}" in
  CMD | CMD-SHELL) pass "the image has a HEALTHCHECK (${HC_TEST[*]}, timeout ${HC_TIMEOUT}s)" ;;
  *) fail "the image has a HEALTHCHECK" "$(cfg '.Healthcheck')" ;;
esac

CTR=$(buildah from --pull=never --name "$CTR_NAME" "$TAG" 2>"$TMP/from.err") &&
  MNT=$(buildah mount "$CTR" 2>"$TMP/mount.err") || {
  fail "buildah from + mount of the image" "$(cat "$TMP/from.err" "$TMP/mount.err" 2>/dev/null)"
  finish
  exit 1
}

# The USER as uid:gid, resolved in the image's own /etc/passwd and /etc/group (as a runtime).
resolve_user() {
  local spec=$1 u g uid gid
  u=${spec%%:*}
  g=""
  [ "$u" != "$spec" ] && g=${spec#*:}
  [ -n "$u" ] || u=0
  if [[ "$u" =~ ^[0-9]+$ ]]; then uid=$u; else uid=$(awk -F: -v n="$u" '$1 == n {print $3}' "$MNT/etc/passwd"); fi
  if [ -z "$g" ]; then
    gid=$(awk -F: -v id="$uid" '$3 == id {print $4; exit}' "$MNT/etc/passwd")
    [ -n "$gid" ] || gid=0
  elif [[ "$g" =~ ^[0-9]+$ ]]; then gid=$g; else gid=$(awk -F: -v n="$g" '$1 == n {print $3}' "$MNT/etc/group"); fi
  [ -n "$uid" ] && [ -n "$gid" ] && echo "$uid:$gid"
}
RUN_USER=$(resolve_user "$USER_SPEC")
RUN_UID=${RUN_USER%%:*}
[ -n "$RUN_USER" ] && [ "$RUN_UID" != 0 ] && pass "the image's USER is not root ($USER_SPEC = $RUN_USER)" ||
  fail "the image's USER is not root" "USER '$USER_SPEC' -> '$RUN_USER'"
[ -n "$RUN_USER" ] || RUN_USER=65534:65534  # never run the rest as root

# What the test sets on top of the image's ENV, as `docker run -e` would.
RUN_ENV=("${IMG_ENV[@]}" "HASERF_BIND=$IP:7946" "LISTEN_ADDR=$IP" "HASERF_NODE=lb")

# "${IN_IMAGE[@]}" CMD...: CMD in the image's root as a container runtime would run it: the
# image's user, its ENV plus RUN_ENV's additions, WORKDIR; /proc and a minimal /dev (null,
# zero, full, random, urandom, tty, shm) mounted in a private mount namespace, so nothing is
# mounted on the host and the mounts go with the last process. Host network. Every step
# execs: started with &, $! is CMD's own pid (hence an array, not a function).
IN_IMAGE_SH='set -e
root=$1 user=$2 wd=$3
shift 3
mount --bind /proc "$root/proc"
mount -t tmpfs -o mode=755,size=1m tmpfs "$root/dev"
for n in null zero full random urandom tty; do : >"$root/dev/$n"; mount --bind "/dev/$n" "$root/dev/$n"; done
mkdir "$root/dev/shm" "$root/dev/pts"
mount -t tmpfs -o mode=1777,size=64m tmpfs "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
exec chroot --userspec="$user" --groups="${user#*:}" "$root" /usr/bin/env -i -C "$wd" "$@"'
IN_IMAGE=(unshare --mount --propagation private -- /bin/sh -c "$IN_IMAGE_SH" sh "$MNT" "$RUN_USER"
  "$WORKDIR" "${RUN_ENV[@]}")
# in_image SECONDS CMD...: the same, in the foreground, bounded.
in_image() {
  local bound=$1
  shift
  timeout -k 2 "$bound" "${IN_IMAGE[@]}" "$@"
}
# The health check as a runtime runs it: CMD's arguments or CMD-SHELL's string, bounded by
# the HEALTHCHECK's timeout.
healthcheck() {
  case "${HC_TEST[0]:-}" in
    CMD) in_image "$HC_TIMEOUT" "${HC_TEST[@]:1}" ;;
    CMD-SHELL) in_image "$HC_TIMEOUT" /bin/sh -c "${HC_TEST[1]}" ;;
    *) return 1 ;;
  esac
}

V=$(in_image 30 haproxy -vv 2>&1)
printf '%s\n' "$V" | grep -q '^HAProxy version 3\.0' && printf '%s\n' "$V" | grep -q 'Built with Lua version : Lua 5\.4' &&
  pass "the image's HAProxy is 3.0 with Lua 5.4" || fail "the image's HAProxy is 3.0 with Lua 5.4" "$(printf '%s\n' "$V" | head -n 3)"
[ -f "$MNT/usr/local/lib/lua/5.4/haserf.so" ] && pass "the Lua 5.4 module is /usr/local/lib/lua/5.4/haserf.so" ||
  fail "the Lua 5.4 module is /usr/local/lib/lua/5.4/haserf.so"
run in_image 30 haproxy -c -f /usr/local/etc/haproxy/haproxy.cfg
expect_rc "the image's config passes haproxy -c as the image's user (the module loads from the default cpath)" 0

# ---- run -----------------------------------------------------------------------------------
T_RUN=$(date +%s)
"${IN_IMAGE[@]}" "${ENTRY[@]}" "${CMD[@]}" >"$TMP/image.out" 2>&1 </dev/null &
HA_PID=$!
ALL_PIDS+=("$HA_PID")
wait_for "the image's HEALTHCHECK passes (frontend up, gossip member running)" 30 healthcheck ||
  { echo "#  last health check: $(healthcheck 2>&1)"; }
_it_alive "$HA_PID" && pass "HAProxy runs (entrypoint + CMD)" || fail "HAProxy runs (entrypoint + CMD)" "$(tail -n 5 "$TMP/image.out")"

# The master and its worker run as the image's user (real, effective, saved and fs uid).
WORKER=$(pgrep -P "$HA_PID" | head -n 1)
for p in "$HA_PID" "$WORKER"; do
  [ -n "$p" ] || { fail "HAProxy has a worker process"; continue; }
  uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$p/status" 2>/dev/null)
  [ "$uids" = "$RUN_UID $RUN_UID $RUN_UID $RUN_UID" ] && [ "$(cat "/proc/$p/comm")" = haproxy ] &&
    pass "HAProxy pid $p runs as uid $RUN_UID, not root" || fail "HAProxy pid $p runs as uid $RUN_UID" "Uid: $uids"
done

start_web() {
  WEB_NAME=$1 WEB_ADDR=$2:3000 haproxy -db -f "$SRC/examples/lab/web.cfg" >"$TMP/web-$1.log" 2>&1 </dev/null &
  PID_OF["web-$1"]=$!
  ALL_PIDS+=("$!")
  poll 10 curl -sf -o /dev/null --max-time 2 "http://$2:3000/" || fail "web app $1 answers on $2:3000"
}
hits() {
  local i
  for i in $(seq "$1"); do curl -s --max-time 3 "http://$IP:8080/"; done | sort | uniq -c | awk '{print $2, $1}'
}
routes_exactly() { [ "$(hits 12 | awk '{print $1}' | sort | tr '\n' ' ' | sed 's/ $//')" = "$1" ]; }

for n in 1 2; do
  start_web "w$n" "127.0.20.1$n"
  start_serf "w$n" "127.0.20.1$n" -join "$IP:7946" -tag role=backend -tag port=3000
done
wait_for "requests through the image's frontend reach w1 and w2" 30 routes_exactly "w1 w2"
H=$(hits 12)
[ "$(printf '%s\n' "$H" | awk '$1 == "w1" {print $2}')" -ge 3 ] && [ "$(printf '%s\n' "$H" | awk '$1 == "w2" {print $2}')" -ge 3 ] &&
  pass "roundrobin spreads requests over both" || fail "roundrobin spreads requests over both" "$H"
wait_for "the serf agents see the balancer alive" 15 eval 'is_status 127.0.20.11 lb alive && is_status 127.0.20.12 lb alive'
M=$(curl -s --max-time 3 "http://$IP:8404/haserf/members.json")
[ "$(printf '%s' "$M" | jq -r '[.members[] | select(.status == "alive") | .name] | sort | join(" ")' 2>/dev/null)" = "lb w1 w2" ] &&
  pass "members.json on the image's frontend lists lb, w1, w2 alive" || fail "members.json lists lb, w1, w2 alive" "$M"
curl -sf --max-time 3 -o /dev/null "http://$IP:1936/" && pass "the stats page answers on $IP:1936" ||
  fail "the stats page answers on $IP:1936"
[ -S "$MNT/var/lib/haserf/master.sock" ] && [ -f "$MNT/var/lib/haserf/haproxy.cfg" ] &&
  pass "the master socket and the running config are in the writable /var/lib/haserf" ||
  fail "the master socket and the running config are in /var/lib/haserf" "$(ls -la "$MNT/var/lib/haserf" 2>&1)"

# The glue's reload path (HASERF_RELOAD=master-cli:...), as a non-root master: it re-executes
# itself and the new worker takes the member over; the cluster sees nothing.
lb_events() { cat "$TMP/w1.log" "$TMP/w2.log" | grep -c 'EventMember[A-Za-z]*: lb '; }
EV_BEFORE=$(lb_events)
# From inside the image, as `docker exec` would (the host's path to the socket is longer than a
# Unix socket address may be).
R=$(in_image 40 /bin/sh -c 'echo reload | socat -t 30 - unix-connect:/var/lib/haserf/master.sock' 2>&1)
case "$R" in
  Success=1*) pass "a reload through the master CLI succeeds as non-root (Success=1)" ;;
  *) fail "a reload through the master CLI succeeds as non-root" "$R" ;;
esac
wait_for "after the reload, requests still reach w1 and w2" 20 routes_exactly "w1 w2"
wait_for "the new worker took the member over (hitless reload)" 15 grep -q "haserf: member lb took over from worker" "$TMP/image.out" ||
  echo "#  $(grep 'haserf:' "$TMP/image.out" | tail -n 5)"
EV_AFTER=$(lb_events)
is_status 127.0.20.11 lb alive && [ "$EV_AFTER" = "$EV_BEFORE" ] &&
  pass "the serf agents saw no event about the balancer across the reload" ||
  fail "the serf agents saw no event about the balancer across the reload" "$(grep -h 'EventMember[A-Za-z]*: lb ' "$TMP/w1.log" "$TMP/w2.log")"
healthcheck >/dev/null && pass "the HEALTHCHECK passes after the reload" || fail "the HEALTHCHECK passes after the reload"

# ---- stop: the STOPSIGNAL ------------------------------------------------------------------
kill -s "${STOPSIG#SIG}" "$HA_PID" 2>/dev/null
T_STOP=$(date +%s)
poll 40 eval '! _it_alive "$HA_PID"'
if _it_alive "$HA_PID"; then
  fail "HAProxy exits within 40 s of $STOPSIG" "still running"
  remove_image_things 0
else
  wait "$HA_PID"
  RC=$?
  HA_PID=""
  [ "$RC" = 0 ] && pass "HAProxy exits 0 after $STOPSIG ($(($(date +%s) - T_STOP)) s)" ||
    fail "HAProxy exits 0 after $STOPSIG" "exit $RC; $(grep -E 'exited|Exiting' "$TMP/image.out" | tail -n 3)"
fi
wait_for "w1 sees the balancer left" 15 is_status 127.0.20.11 lb left
wait_for "w2 sees the balancer left" 15 is_status 127.0.20.12 lb left
! grep -q 'EventMemberFailed: lb ' "$TMP/w1.log" "$TMP/w2.log" && pass "no agent saw the balancer fail" ||
  fail "no agent saw the balancer fail" "$(grep -h 'EventMemberFailed: lb ' "$TMP/w1.log" "$TMP/w2.log")"
bad=$(grep -E "exited with code [1-9]|exit-on-failure" "$TMP/image.out" | head -n 3)
[ -z "$bad" ] && pass "every HAProxy process (both workers) exited with code 0" ||
  fail "every HAProxy process exited with code 0" "$bad"
! healthcheck >/dev/null 2>&1 && pass "the HEALTHCHECK fails once HAProxy is gone" ||
  fail "the HEALTHCHECK fails once HAProxy is gone"
echo "# times: base images + build $((T_RUN - T0)) s (build $((T_RUN - T_BUILD)) s), run $(($(date +%s) - T_RUN)) s"

stop_all
remove_image_things 1
finish
