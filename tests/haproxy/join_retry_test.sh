#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# HAProxy's member joins a seed that is down at start once it comes up (HASERF_JOIN_RETRY_MS),
# and the member it finds is routed.
# Usage: join_retry_test.sh BUILD_DIR SOURCE_DIR. Addresses: 127.0.16.0/24 (loopback only).
BUILD=$1
SRC=$2
IT_BUDGET=${IT_BUDGET:-170}
. "$SRC/tests/haproxy/lib.sh"

start_ha 127.0.16.1 LAB_JOIN=127.0.16.11:7946 HASERF_JOIN_RETRY_MS=1000 || { stop_all; finish; exit; }
sleep 3  # a few attempts against nobody
# The backend comes up without joining HAProxy itself: only HAProxy's retry can connect them.
start_web m1 127.0.16.11
start_serf m1 127.0.16.11 -tag role=backend -tag port=3000 || { stop_all; finish; exit; }
wait_for "HAProxy's member joins the seed once it is up" 20 is_status 127.0.16.11 haproxy alive
wait_for "and routes to it" 30 routes_exactly "m1"
stop_ha
stop_all
finish
