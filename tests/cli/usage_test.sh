#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The command line as serf users type it, and usage errors: every command has --help (exit 0,
# "usage:"), every usage error exits 2 and names the option, a typo gets a suggestion, and
# serf's (Go flag's) forms work: -name, -name=value, -flag=false.
# Usage: usage_test.sh HASERF SOURCE_DIR (no network: every run stops at the command line,
# or at an RPC address nobody listens on, 127.0.39.9:1).
HASERF=$1
SRC=$2
. "$SRC/tests/cli/lib.sh"

for c in render members agent event query rtt keys; do
  run "$HASERF" "$c" --help
  expect_rc "haserf $c --help: exit 0" 0
  expect_contains "haserf $c --help prints its usage" "$OUT" "usage: haserf $c"
  run "$HASERF" "$c" -help
  expect_rc "haserf $c -help (serf's spelling): exit 0" 0
  run "$HASERF" "$c" --no-such-option
  expect_rc "haserf $c --no-such-option: exit 2" 2
  expect_contains "haserf $c: the unknown option is named" "$ERR" "'--no-such-option'"
done

run "$HASERF" membres
expect_rc "a mistyped command: exit 2" 2
expect_contains "a mistyped command gets a suggestion" "$ERR" "did you mean 'members'?"
run "$HASERF" members --fromat json
expect_rc "a mistyped option: exit 2" 2
expect_contains "a mistyped option gets a suggestion" "$ERR" "did you mean '--format'?"
run "$HASERF" agent -bnid 127.0.39.1:7946
expect_contains "a mistyped serf-style option gets a suggestion" "$ERR" "did you mean '--bind'?"

# serf's forms reach the same options: the RPC address named in the error proves it was read.
for form in "-rpc-addr 127.0.39.9:1" "-rpc-addr=127.0.39.9:1" "--rpc-addr=127.0.39.9:1"; do
  # shellcheck disable=SC2086
  run "$HASERF" members $form -format json
  expect_rc "members $form: exit 1 (no agent there), not a usage error" 1
  expect_contains "members $form: the address was read" "$ERR" "127.0.39.9:1"
done
run "$HASERF" members -format=xml -rpc-addr 127.0.39.9:1
expect_rc "-format=xml: a bad value is a usage error" 2
run "$HASERF" event -coalesce=false -rpc-addr 127.0.39.9:1 deploy
expect_rc "event -coalesce=false (a Go boolean form) is accepted" 1
run "$HASERF" event -coalesce=maybe deploy
expect_rc "event -coalesce=maybe: exit 2" 2

# Bad values are usage errors too (exit 2), named.
run timeout 5 "$HASERF" agent -bind nonsense
expect_rc "agent -bind nonsense: exit 2" 2
expect_contains "agent: the bad address is named" "$ERR" '"nonsense" is not an IP address'
run timeout 5 "$HASERF" agent --bind 127.0.39.1:7946 --encrypt not-a-key
expect_rc "agent --encrypt with a bad key: exit 2" 2
run timeout 5 "$HASERF" agent --bind 127.0.39.1:7946 --profile moon
expect_rc "agent --profile moon: exit 2" 2
run "$HASERF" render
expect_rc "render without a template: exit 2" 2

# Agent logs: timestamp and level, --log-json (serf 0.10's keys), --log-level filters.
run timeout -s INT 2 "$HASERF" agent --bind 127.0.39.1:7946 --rpc-addr off
expect_contains "agent log lines: serf's layout, timestamp and level" "$ERR" "[INFO] haserf agent: "
printf '%s\n' "$ERR" | grep -Eq '^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]{8} \[INFO\] haserf agent: ' &&
  pass "agent log lines start with the date and time" || fail "agent log lines start with the date and time" "$ERR"
run timeout -s INT 2 "$HASERF" agent --bind 127.0.39.1:7946 --rpc-addr off -log-json
[ -n "$ERR" ] && printf '%s\n' "$ERR" | jq -e 'has("@timestamp") and .["@level"] == "info" and .["@module"] == "agent"' >/dev/null &&
  pass "--log-json: every line a JSON object with @timestamp, @level, @module, @message" ||
  fail "--log-json: every line a JSON object" "$ERR"
run timeout -s INT 2 "$HASERF" agent --bind 127.0.39.1:7946 --rpc-addr off --log-level warn
[ -z "$ERR" ] && pass "--log-level warn: no info lines" || fail "--log-level warn: no info lines" "$ERR"
printf '{"log_level": "warn"}' >"$TMP/quiet.json"
run timeout -s INT 2 "$HASERF" agent --bind 127.0.39.1:7946 --rpc-addr off --config-file "$TMP/quiet.json"
[ -z "$(printf '%s\n' "$ERR" | grep -v 'config file .* read')" ] && pass "log_level from serf's config file" ||
  fail "log_level from serf's config file" "$ERR"
run "$HASERF" agent --bind 127.0.39.1:7946 --log-level loud
expect_rc "--log-level loud: exit 2" 2
# Every option from the environment. The agent reads the glue's names (HASERF_BIND,
# HASERF_TAGS, ...): one container environment configures either. The command line wins, and
# the environment wins over config files.
run env HASERF_BIND=127.0.39.2:7946 HASERF_TAGS=role=backend,port=81 HASERF_LOG_JSON=true \
  HASERF_RPC_ADDR=off timeout -s INT 2 "$HASERF" agent
expect_contains "agent: --bind from HASERF_BIND" "$ERR" "listening on 127.0.39.2:7946"
expect_contains "agent: --log-json from HASERF_LOG_JSON=true" "$ERR" '"@level":"info"'
expect_contains "agent: the variables taken are logged" "$ERR" "options from the environment: HASERF_BIND, HASERF_TAGS"
expect_contains "agent: HASERF_TAGS (k=v,k=v, the glue's form) gives both tags" "$OUT" '"tags":{"port":"81","role":"backend"}'
run env HASERF_BIND=127.0.39.2:7946 HASERF_RPC_ADDR=off timeout -s INT 2 "$HASERF" agent --bind 127.0.39.3:7946
expect_contains "agent: --bind on the command line wins over HASERF_BIND" "$ERR" "listening on 127.0.39.3:7946"
printf '{"bind": "127.0.39.4:7946", "log_level": "warn"}' >"$TMP/bind.json"
run env HASERF_BIND=127.0.39.2:7946 HASERF_LOG_LEVEL=info HASERF_RPC_ADDR=off timeout -s INT 2 "$HASERF" agent --config-file "$TMP/bind.json"
expect_contains "agent: HASERF_BIND wins over a config file's bind" "$ERR" "listening on 127.0.39.2:7946"
run env HASERF_LOG_JSON=maybe "$HASERF" agent --bind 127.0.39.1:7946
expect_rc "agent: HASERF_LOG_JSON=maybe: exit 2" 2
expect_contains "agent: the bad variable is named" "$ERR" "HASERF_LOG_JSON='maybe'"
# Other commands read HASERF_<COMMAND>_*, never the glue's HASERF_JOIN: inside HAProxy's
# container `haserf members` still asks the local agent.
run env HASERF_JOIN=127.0.39.8 "$HASERF" members -rpc-addr 127.0.39.9:1
expect_contains "members ignores the glue's HASERF_JOIN (asks the agent)" "$ERR" "127.0.39.9:1"
run env HASERF_MEMBERS_FORMAT=xml "$HASERF" members -rpc-addr 127.0.39.9:1
expect_rc "members: HASERF_MEMBERS_FORMAT is read (xml: exit 2)" 2
run env HASERF_MEMBERS_JOIN=127.0.39.8 "$HASERF" members -rpc-addr 127.0.39.9:1
expect_contains "members: --rpc-addr on the command line outranks HASERF_MEMBERS_JOIN" "$ERR" "127.0.39.9:1"
run env HASERF_RENDER_TEMPLATE="$SRC/examples/haproxy.cfg.mustache" "$HASERF" render -m "$SRC/examples/members.json"
expect_contains "render: --template from HASERF_RENDER_TEMPLATE" "$OUT" "# Generated by haserf"
run env HASERF_RENDER_MEMBERS=/nonexistent HASERF_RENDER_QUIET=1 "$HASERF" render -t "$SRC/examples/haproxy.cfg.mustache" \
  -m "$SRC/examples/members.json"
expect_rc "render: -m on the command line wins over HASERF_RENDER_MEMBERS" 0
run env HASERF_RENDER_MEMBERS="$SRC/examples/members.json" "$HASERF" render -t /dev/null --join 127.0.39.9:1 --bind 127.0.39.5:0 --once -o /dev/null --dry-run --wait 1s
printf '%s\n' "$ERR" | grep -q "alternatives" &&
  fail "render: --join on the command line outranks HASERF_RENDER_MEMBERS" "$ERR" ||
  pass "render: --join on the command line outranks HASERF_RENDER_MEMBERS (not 'two sources')"
finish
