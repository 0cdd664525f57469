# SPDX-License-Identifier: MIT
# What a master-worker HAProxy and its workers hold, for the reload storm checks
# (tests/haproxy/reload_soak_test.sh). Sourced after tests/haproxy/lib.sh ($HA is set).
#
#   ha_master_pid / ha_worker_pids / ha_old_worker_pids   from the master CLI's `show proc`
#   proc_fds PID / proc_threads PID / proc_rss_kb PID    open descriptors, threads, resident kB
#   haserf_threads PID      haserf's threads in PID, by name (core/net/threads.hpp names them
#                           haserf-loop, -janitor, -reload, -snapshot, -rpc), sorted, one line
#   gossip_holders IP PORT  pids holding a listening TCP or an unconnected UDP socket on IP:PORT
#   resources_of PID        "fds N threads N rss_kb N" (for the logs)
#   fd_kinds PID            its descriptors counted by kind (socket, pipe, file paths)
#   own_fds PID PORT        its descriptors, less its established TCP connections to PORT

ha_show_proc() { echo "show proc" | socat -t 3 - "unix-connect:$HA/master.sock" 2>/dev/null; }
ha_master_pid() { ha_show_proc | awk '$2 == "master" { print $1; exit }'; }
# `show proc` lists the current workers under "# workers" and the ones still finishing
# their connections after a reload under "# old workers".
ha_worker_pids() { ha_show_proc | awk '/^# workers/ { s = 1; next } /^#/ { s = 0 } s && $2 == "worker" { print $1 }'; }
ha_old_worker_pids() { ha_show_proc | awk '/^# old workers/ { s = 1; next } /^#/ { s = 0 } s && $2 == "worker" { print $1 }'; }

proc_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | grep -c ""; }
proc_threads() { find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | grep -c ""; }
proc_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
haserf_threads() { cat /proc/"$1"/task/*/comm 2>/dev/null | grep '^haserf-' | sort | tr '\n' ' ' | sed 's/ $//'; }
gossip_holders() {
  ss -H -lnp -t -u "src $1:$2" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u | tr '\n' ' ' | sed 's/ $//'
}
# fd_kinds PID: its descriptors by kind ("28 socket; 9 pipe; ..."), for failure messages.
fd_kinds() {
  ls -l "/proc/$1/fd" 2>/dev/null | tail -n +2 | awk '{print $NF}' | sed 's/:\[[0-9]*\]$//' |
    sort | uniq -c | sort -rn | awk '{printf "%s%s %s", (NR > 1 ? "; " : ""), $1, $2}'
}
# own_fds PID PORT: descriptors minus established TCP connections to PORT (a worker's idle
# connections to its servers, which HAProxy keeps for reuse after traffic: not a leak).
own_fds() {
  echo $(($(proc_fds "$1") - $(ss -Htn state established "dport = :$2" -p 2>/dev/null | grep -c "pid=$1,")))
}
resources_of() { echo "fds $(proc_fds "$1") threads $(proc_threads "$1") rss_kb $(proc_rss_kb "$1")"; }
