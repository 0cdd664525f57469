#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# False failures under packet loss: haserf's members against serf's, measured in the same run
# (the "faults and scale" issue). Not part of `make test`; tests/faults/loss_test.sh is the
# short CI version of the same set-up.
#
# usage: bench/faults/loss.sh [BUILD_DIR]      (default: build; needs cli/haserf and the Lua
#                                                module: BUILD_DIR/bindings/lua5.3/haserf.so)
# Root only (network namespaces, nftables). Env: RATES ("10 30 50", percent), DURATION (120 s
# of loss per rate), N_SERF (10), RECOVER (120 s at most, after each rate, for the cluster to
# be whole again before the next).
#
# In a private network namespace (tests/faults/lib.sh: haserf-bench-loss-PID, 127.0.44.0/24):
# the lab HAProxy with the glue (HAProxy's member, node "haproxy"), N_SERF lab backends (web
# app + real `serf agent`, b1..bN) and one `haserf agent` (h1). For each rate: RATE % of every
# gossip packet (UDP and TCP, to or from port 7946) is dropped at random for DURATION s, then
# the loss stops and the cluster recovers. Counted from the serf agents' logs, from the start
# of the loss until the cluster is whole again:
#   * false failures: `EventMemberFailed: NAME` lines (nobody really fails). Per node, the
#     count is divided by the number of serf agents that observe it (N_SERF for haserf's
#     nodes, N_SERF-1 for a serf node): about the number of times the cluster declared it
#     failed. Averaged over haserf's 2 nodes and over the N_SERF serf nodes; ratio haserf/serf.
#   * suspicions: "Suspect NAME has failed, no acks received" (a serf agent's probe of the node
#     failed: direct, indirect and TCP), per node and observer, the same way.
#   * the other way round: failures the haserf agent declared (its member-failed events)
#     against the average serf agent's EventMemberFailed lines.
#   * requests through HAProxy (one every 200 ms; web traffic is not dropped): sent, failed.
#   * the measured loss (nft counters: gossip packets seen and dropped).
# Prints key=value lines and a markdown table; keeps them in
# BUILD_DIR/bench-results/faults-loss-YYYYmmdd-HHMMSS.txt and plots
# BUILD_DIR/bench-results/faults-loss.svg (bench/faults/plot.py).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$SRC/$BUILD" ;; esac
HASERF=$BUILD/cli/haserf
RATES=${RATES:-"10 30 50"}
DURATION=${DURATION:-120}
N_SERF=${N_SERF:-10}
RECOVER=${RECOVER:-120}
[ -x "$HASERF" ] || { echo "faults: no $HASERF (build first)" >&2; exit 1; }
n_rates=$(echo $RATES | wc -w)
IT_BUDGET=$((180 + (DURATION + RECOVER + 30) * n_rates))
FAULT_TAG=bench-loss
. "$SRC/tests/faults/lib.sh"

OUT_DIR="$BUILD/bench-results"
mkdir -p "$OUT_DIR"
STAMP=$(date +%Y%m%d-%H%M%S)
RES="$OUT_DIR/faults-loss-$STAMP.txt"
: >"$RES"
result() { echo "$1=$2" >>"$RES"; echo "$1=$2"; }
result date "$(date -u '+%Y-%m-%d %H:%M UTC')"
result machine "$(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -r)"
result serf "$(dpkg-query -W -f '${Version}' serf 2>/dev/null)"
result haproxy "$HA_VERSION"
result haserf "$("$HASERF" --version | head -1)"
# The binary may come from an export of a commit (no .git): HASERF_COMMIT names it then.
result haserf_commit "${HASERF_COMMIT:-$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)}"
result haserf_build "$(grep -m1 '^CMAKE_BUILD_TYPE' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2)"
result rates "$RATES"
result duration_s "$DURATION"
result n_serf "$N_SERF"

HAIP=127.0.44.1
SERF_NODES=$(seq -f 'b%g' 1 "$N_SERF" | tr '\n' ' ' | sed 's/ $//')
HASERF_NODES="h1 haproxy"
ALL=$((N_SERF + 2))
declare -A IP_OF=()
slots=$(((N_SERF + 3) / 4 * 4))

start_ha "$HAIP" LAB_SLOTS="$slots" || { stop_all; finish; exit 1; }
i=11
for n in $SERF_NODES; do
  IP_OF[$n]=127.0.44.$i
  start_backend "$n" "${IP_OF[$n]}" "$HAIP" || { stop_ha; stop_all; finish; exit 1; }
  i=$((i + 1))
done
IP_OF[h1]=127.0.44.21
start_haserf_agent h1 "${IP_OF[h1]}" --retry-join "$HAIP" --retry-interval 1s --tag role=member ||
  { stop_ha; stop_all; finish; exit 1; }

converged() {
  local n
  ha_metric_is "haserf_members{status=\"alive\"} $ALL" || return 1
  for n in $SERF_NODES h1; do is_alive_count "${IP_OF[$n]}" "$ALL" || return 1; done
}
wait_for "all $ALL members alive everywhere" 90 converged || { stop_ha; stop_all; finish; exit 1; }
wait_for "HAProxy routes to the $N_SERF backends" 30 routes_exactly "$(printf '%s\n' $SERF_NODES | sort | tr '\n' ' ' | sed 's/ $//')"

# per_node COUNTS_FUNC: "NAME PER_OBSERVER" for every node
per_node() {
  local -A c=()
  local subj cnt n obs
  while read -r subj cnt; do c[$subj]=$cnt; done < <("$1" "$SERF_NODES")
  for n in $SERF_NODES $HASERF_NODES; do
    case " $HASERF_NODES " in *" $n "*) obs=$N_SERF ;; *) obs=$((N_SERF - 1)) ;; esac
    awk -v n="$n" -v c="${c[$n]:-0}" -v o="$obs" 'BEGIN { printf "%s %.3f\n", n, c / o }'
  done
}
# means FILE: "HASERF_MEAN SERF_MEAN" of a per_node output
means() {
  awk -v hn=" $HASERF_NODES " '
    { if (index(hn, " " $1 " ")) { h += $2; nh++ } else { s += $2; ns++ } }
    END { printf "%.3f %.3f\n", h / nh, s / ns }' "$1"
}
ratio() { awk -v h="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.2f", h / s; else if (h == 0) print "-"; else print "inf" }'; }

for rate in $RATES; do
  echo "# ---- $rate % loss for $DURATION s"
  log_offsets $SERF_NODES
  h1_off=$(stat -c %s "$TMP/h1.events")
  T0=$(now)
  probe_start 0.2
  loss_on "$rate" || { fail "nft: loss rule at $rate %"; break; }
  sleep "$DURATION"
  loss_off
  if poll "$RECOVER" converged; then
    T1=$(now)
    result "loss${rate}_recovered_s" "$(awk -v a="$T0" -v b="$T1" -v d="$DURATION" 'BEGIN { printf "%.1f", b - a - d }')"
  else
    T1=$(now)
    fail "after $rate % loss: all $ALL members alive everywhere within ${RECOVER}s"
    result "loss${rate}_recovered_s" "none"
  fi
  sleep 1
  probe_stop
  mv "$TMP/probe.log" "$TMP/probe-$rate.log"
  result "loss${rate}_packets_seen" "$LOSS_SEEN"
  result "loss${rate}_packets_dropped" "$LOSS_DROPPED"
  result "loss${rate}_dropped_pct" "$(awk -v d="$LOSS_DROPPED" -v s="$LOSS_SEEN" 'BEGIN { printf "%.1f", s ? 100 * d / s : 0 }')"
  per_node failed_counts >"$TMP/failed-$rate"
  per_node suspect_counts >"$TMP/suspect-$rate"
  while read -r n v; do result "loss${rate}_failed_${n}" "$v"; done <"$TMP/failed-$rate"
  while read -r n v; do result "loss${rate}_suspect_${n}" "$v"; done <"$TMP/suspect-$rate"
  read -r fh fs < <(means "$TMP/failed-$rate")
  read -r sh ss < <(means "$TMP/suspect-$rate")
  result "loss${rate}_failed_haserf_mean" "$fh"
  result "loss${rate}_failed_serf_mean" "$fs"
  result "loss${rate}_failed_ratio" "$(ratio "$fh" "$fs")"
  result "loss${rate}_suspect_haserf_mean" "$sh"
  result "loss${rate}_suspect_serf_mean" "$ss"
  result "loss${rate}_suspect_ratio" "$(ratio "$sh" "$ss")"
  # Observers: the haserf agent's member-failed events against the mean serf agent's lines.
  result "loss${rate}_declared_by_h1" "$(tail -c +"$((h1_off + 1))" "$TMP/h1.events" | grep -c '"event":"member-failed"')"
  result "loss${rate}_declared_by_serf_mean" "$(for n in $SERF_NODES; do
    tail -c +"$((${LOG_OFFSET[$n]} + 1))" "$TMP/$n.log" | grep -c 'EventMemberFailed: '; done |
    awk '{ s += $1; n++ } END { printf "%.2f", s / n }')"
  read -r sent failed < <(awk '{ n++; if (!(NF == 3 && $3 == "200" && $2 ~ /^b[0-9]+$/)) f++ } END { print n + 0, f + 0 }' \
    "$TMP/probe-$rate.log")
  result "loss${rate}_requests" "$sent"
  result "loss${rate}_requests_failed" "$failed"
  result "loss${rate}_guard_activations" "$(ha_metric '^haserf_isolation_guard_activations_total' | awk '{ print $2 }')"
  result "loss${rate}_loadavg" "$(cut -d' ' -f1-3 /proc/loadavg)"
done

# ---- summary ---------------------------------------------------------------------------------
get() { sed -n "s/^$1=//p" "$RES" | tail -n 1; }
echo
echo "False failures per node (EventMemberFailed lines / observers), $N_SERF serf agents + haserf agent + HAProxy's member, $DURATION s of loss per rate:"
echo
echo "| loss (measured) | false failures, serf node (mean of $N_SERF) | haserf agent | HAProxy's member | haserf nodes (mean) | ratio | suspicions, serf / haserf (ratio) | requests failed |"
echo "|---|---|---|---|---|---|---|---|"
for rate in $RATES; do
  echo "| $rate % ($(get "loss${rate}_dropped_pct") %) | $(get "loss${rate}_failed_serf_mean") | $(get "loss${rate}_failed_h1") |" \
    "$(get "loss${rate}_failed_haproxy") | $(get "loss${rate}_failed_haserf_mean") | $(get "loss${rate}_failed_ratio") |" \
    "$(get "loss${rate}_suspect_serf_mean") / $(get "loss${rate}_suspect_haserf_mean") ($(get "loss${rate}_suspect_ratio")) |" \
    "$(get "loss${rate}_requests_failed") of $(get "loss${rate}_requests") |"
done
echo
echo "results: $RES"
SVG=$OUT_DIR/faults-loss.svg
if timeout 60 python3 "$HERE/plot.py" "$RES" "$SVG"; then echo "plot: $SVG"; else echo "faults: plot.py failed" >&2; fi
stop_ha
stop_all
netns_empty
finish
