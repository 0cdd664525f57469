#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The HAProxy glue's modules (lua/haserf/*.lua) under a plain Lua interpreter, with fake
# servers and a fake module (tests/lua/glue/fakes.lua); config checks use the real module.
# Usage: run_glue_tests.sh LUA MODULE_DIR SOURCE_DIR
set -u
LUA=$1
MODULE_DIR=$2
SRC=$3
rc=0
for t in "$SRC"/tests/lua/glue/*_test.lua; do
  echo "# $(basename "$t")"
  LUA_PATH="$SRC/lua/?.lua;$SRC/tests/lua/glue/?.lua;;" LUA_CPATH="$MODULE_DIR/?.so" \
    timeout -k 5 60 "$LUA" "$t" || rc=1
done
exit $rc
