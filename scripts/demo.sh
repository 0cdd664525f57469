#!/usr/bin/env bash
# `make demo`: renders the example template from the example members and prints it.
# (The live lab demo with HAProxy and serf agents replaces this once the gossip member and
# HAProxy glue exist: see examples/lab/.)
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
echo "== haserf render -t examples/haproxy.cfg.mustache -m examples/members.json" >&2
"$BUILD/cli/haserf" render -t examples/haproxy.cfg.mustache -m examples/members.json \
  --var listen=127.0.0.42:8080
