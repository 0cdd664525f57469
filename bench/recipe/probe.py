#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Polls an HTTP load balancer and reports which backend answered, with wall-clock times.

Each request is a new TCP connection (`Connection: close`), so it always reaches the
LB's current worker (after a reload, the old worker keeps only its open connections).
The lab's web apps answer their name ("NAME\\n") in the body.

  probe.py join  IP:PORT NAME MAXDUR       # until NAME answers once
  probe.py leave IP:PORT NAME QUIET MAXDUR # until NAME has been absent QUIET seconds
  probe.py down  MASTER_SOCK IP MAXDUR     # until HAProxy has the server at IP:3000 down
                                           # (or in maintenance): polls `@1 show servers
                                           # state` every ms on one master-CLI connection

Optional env: PROBE_SLEEP_MS (pause between requests, default 2), PROBE_READY (a file
created once the first request was answered, so the caller knows polling runs).

Output (stdout, key=value lines, times are time.time() = the same clock as bash's
$EPOCHREALTIME): `first=T` (join: first answer from NAME), `last=T` (leave: last answer
from NAME; 0 if never seen), `down=T` (down: first poll that saw it down), `requests=N`, `errors=N` (connection failures, timeouts,
non-200), `seen_<name>=N` (answers per backend), `timed_out=0|1`, `err_<kind>=N`.
Exit 0 when the condition was met, 3 when MAXDUR ran out.
"""
import os
import socket
import sys
import time


def request(ip, port):
    """One GET /: returns (status, body) or raises OSError/ValueError."""
    s = socket.create_connection((ip, port), timeout=2.0)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"GET / HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
        chunks = []
        while True:
            b = s.recv(4096)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0].split()
    if len(line) < 2:
        raise ValueError("bad response")
    return int(line[1]), body.decode("ascii", "replace").strip()


def server_down(sock_path, ip, maxdur):
    """Polls HAProxy's master CLI (interactive mode; "@1 " routes to the current worker) until
    the server at ip:3000 of backend `nodes` is down (operational state 0) or in maintenance.
    Returns the time, or None."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2.0)
    s.connect(sock_path)
    buf = b""

    def until_prompt():
        nonlocal buf
        while b"\n> " not in buf and not buf.endswith(b"> "):
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("master CLI closed")
            buf += chunk
        out, buf = buf, b""
        return out.decode("ascii", "replace")

    s.sendall(b"prompt\n")
    until_prompt()
    ready = os.environ.get("PROBE_READY")
    if ready:
        open(ready, "w").close()
    start = time.time()
    while time.time() - start < maxdur:
        s.sendall(b"@1 show servers state nodes\n")
        t = time.time()
        for line in until_prompt().splitlines():
            f = line.split()
            # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ... srv_port(19)
            if len(f) > 18 and f[4] == ip and f[18] == "3000":
                if f[5] == "0" or int(f[6]) % 2 == 1:
                    s.close()
                    return t
        time.sleep(0.001)
    s.close()
    return None


def main():
    mode = sys.argv[1]
    if mode == "down":
        t = server_down(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        print("down=%.6f\ntimed_out=%d" % (t or 0, 0 if t else 1), flush=True)
        sys.exit(0 if t else 3)
    ip, port = sys.argv[2].rsplit(":", 1)
    port = int(port)
    name = sys.argv[3]
    if mode == "join":
        quiet, maxdur = None, float(sys.argv[4])
    elif mode == "leave":
        quiet, maxdur = float(sys.argv[4]), float(sys.argv[5])
    else:
        sys.exit("usage: probe.py join|leave ...")
    pause = float(os.environ.get("PROBE_SLEEP_MS", "2")) / 1000.0
    ready = os.environ.get("PROBE_READY")

    start = time.time()
    seen = {}
    errs = {}
    requests = 0
    first = 0.0
    last = 0.0
    met = False
    while True:
        now = time.time()
        if now - start > maxdur:
            break
        try:
            status, body = request(ip, port)
            t = time.time()
            requests += 1
            if ready and requests == 1:
                open(ready, "w").close()
            if status != 200:
                errs["status_%d" % status] = errs.get("status_%d" % status, 0) + 1
            else:
                seen[body] = seen.get(body, 0) + 1
                if body == name:
                    last = t
                    if mode == "join":
                        first = t
                        met = True
                        break
        except (OSError, ValueError) as e:
            t = time.time()
            requests += 1
            kind = type(e).__name__
            errs[kind] = errs.get(kind, 0) + 1
        if mode == "leave" and t - max(last, start) >= quiet:
            met = True
            break
        if pause > 0:
            time.sleep(pause)

    out = ["requests=%d" % requests, "errors=%d" % sum(errs.values()),
           "timed_out=%d" % (0 if met else 1)]
    if mode == "join":
        out.append("first=%.6f" % first)
    else:
        out.append("last=%.6f" % last)
    out += ["seen_%s=%d" % (k, v) for k, v in sorted(seen.items())]
    out += ["err_%s=%d" % (k, v) for k, v in sorted(errs.items())]
    print("\n".join(out), flush=True)
    sys.exit(0 if met else 3)


if __name__ == "__main__":
    main()
