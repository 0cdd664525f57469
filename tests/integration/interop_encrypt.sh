#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interop: gossip encryption (serf agent -encrypt) between haserf and the real serf agent.
# Usage: interop_encrypt.sh HASERF SOURCE_DIR
# Addresses: 127.0.0.85 - 127.0.0.89 (loopback only).
HASERF=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

KEY=cYyrjdSx7vBdLnU5WM2mgu6KRumBKEDdbZjYCGBws9I=
OTHER_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=

start_serf x-serf1 127.0.0.85 -encrypt "$KEY" -tag role=web || { stop_all; finish; exit; }
start_haserf_agent x-ours 127.0.0.86 --encrypt "$KEY" --tag role=lb --join 127.0.0.85:7946 ||
  { stop_all; finish; exit; }
EV=$TMP/x-ours.events

# Ours joins an encrypted serf agent.
wait_for "encrypted: serf sees our node alive" 20 is_status 127.0.0.85 x-ours alive
wait_for "encrypted: we see x-serf1 join with its tags" 20 \
  has_event "$EV" '.event == "member-join" and .member.name == "x-serf1" and .member.tags.role == "web"'

# An encrypted serf agent joins us.
start_serf x-serf2 127.0.0.87 -encrypt "$KEY" -join 127.0.0.86:7946 &&
  pass "encrypted: serf agent -join OUR_IP succeeds" || fail "encrypted: serf agent -join OUR_IP succeeds"
wait_for "encrypted: x-serf2 sees us alive" 20 is_status 127.0.0.87 x-ours alive
wait_for "encrypted: x-serf2 sees x-serf1 alive" 20 is_status 127.0.0.87 x-serf1 alive
wait_for "encrypted: we see x-serf2 join" 20 has_event "$EV" '.event == "member-join" and .member.name == "x-serf2"'

# A user event reaches us.
run rpc 127.0.0.85 event secret-deploy v3
expect_rc "serf event on the encrypted cluster" 0
wait_for "encrypted: user event reaches us" 20 \
  has_event "$EV" '.event == "user" and .name == "secret-deploy" and .payload == "v3"'

# UDP both ways: probes and the reachability query.
sleep 3
run rpc 127.0.0.87 reachability
case "$OUT" in *"Missing acks"*) fail "encrypted: reachability, no missing acks" "$OUT" ;;
  *) expect_contains "encrypted: reachability, all live nodes acked" "$OUT" "Successfully contacted all live nodes" ;; esac
grep -qE 'Suspect x-ours|EventMemberFailed: x-ours' "$TMP"/x-serf*.log &&
  fail "encrypted: no serf agent suspects us" "$(grep -h 'x-ours' "$TMP"/x-serf*.log)" ||
  pass "encrypted: no serf agent suspects us"

# One-shot members with the key, and without.
run timeout 40 "$HASERF" members --join 127.0.0.85:7946 --bind 127.0.0.85:17946 --encrypt "$KEY" --node x-probe --format json
expect_rc "encrypted: haserf members with the key exits 0" 0
[ "$(jq -r '[.members[] | select(.status == "alive") | .name] | sort | join(",")' <<<"$OUT" 2>/dev/null)" = "x-ours,x-serf1,x-serf2" ] &&
  pass "encrypted: haserf members lists the 3 members" ||
  fail "encrypted: haserf members lists the 3 members" "$OUT $ERR"
run timeout 40 "$HASERF" members --join 127.0.0.85:7946 --bind 127.0.0.85:17947 --node x-nokey-probe --timeout 5
[ "$RC" -ne 0 ] && pass "no key: haserf members fails (exit $RC)" || fail "no key: haserf members fails" "exit 0: $OUT"
expect_lines "no key: one line on stderr" "$ERR" 1
case "$ERR" in *[Ee]ncrypt*) pass "no key: the error mentions encryption" ;;
  *) fail "no key: the error mentions encryption" "$ERR" ;; esac
run timeout 40 "$HASERF" members --join 127.0.0.85:7946 --bind 127.0.0.85:17948 --node x-badkey-probe --timeout 5 --encrypt "$OTHER_KEY"
[ "$RC" -ne 0 ] && pass "wrong key: haserf members fails (exit $RC)" || fail "wrong key: haserf members fails" "exit 0: $OUT"
expect_lines "wrong key: one line on stderr" "$ERR" 1
run timeout 40 "$HASERF" members --join 127.0.0.85:7946 --bind 127.0.0.85:17949 --encrypt not-a-key
[ "$RC" -ne 0 ] && pass "malformed key: refused (exit $RC)" || fail "malformed key: refused" "exit 0"
expect_lines "malformed key: one line on stderr" "$ERR" 1
expect_contains "malformed key: the error names the key" "$ERR" "key"

# Our agent without the key (and with the wrong key): the join fails, clearly, without a crash.
start_haserf_agent x-nokey 127.0.0.88 --join 127.0.0.85:7946 || true
start_haserf_agent x-badkey 127.0.0.89 --encrypt "$OTHER_KEY" --join 127.0.0.85:7946 || true
wait_for "no key: our agent logs that the join failed" 20 grep -qi 'join failed' "$TMP/x-nokey.log"
wait_for "wrong key: our agent logs that the join failed" 20 grep -qi 'join failed' "$TMP/x-badkey.log"
grep -i 'join failed' "$TMP/x-nokey.log" | grep -qi 'encrypt' && pass "no key: the log line mentions encryption" ||
  fail "no key: the log line mentions encryption" "$(cat "$TMP/x-nokey.log")"
sleep 3
is_running x-nokey && pass "no key: our agent is still running (no crash)" ||
  fail "no key: our agent is still running (no crash)" "$(tail -n 5 "$TMP/x-nokey.log")"
is_running x-badkey && pass "wrong key: our agent is still running (no crash)" ||
  fail "wrong key: our agent is still running (no crash)" "$(tail -n 5 "$TMP/x-badkey.log")"
NAMES=$(serf_members 127.0.0.85 | jq -r '[.members[].name] | join(",")')
case "$NAMES" in *x-nokey,*|*x-nokey|*x-badkey*) fail "the keyless agents never became members" "$NAMES" ;;
  *) pass "the keyless agents never became members" ;; esac
[ "$(ev_count "$TMP/x-nokey.events" '.event == "member-join" and .member.name != "x-nokey"')" -eq 0 ] &&
  pass "no key: our agent saw no member join" || fail "no key: our agent saw no member join" "$(cat "$TMP/x-nokey.events")"
stop_proc x-nokey
[ "$STOP_RC" -eq 0 ] && pass "no key: SIGTERM, exit 0" || fail "no key: SIGTERM, exit 0" "exit $STOP_RC"
stop_proc x-badkey
[ "$STOP_RC" -eq 0 ] && pass "wrong key: SIGTERM, exit 0" || fail "wrong key: SIGTERM, exit 0" "exit $STOP_RC"
# The keyed members are unaffected by the rejected traffic.
is_alive_count 127.0.0.85 3 && pass "encrypted cluster still 3 alive" || fail "encrypted cluster still 3 alive" "$(serf_members 127.0.0.85)"

serf_logs_clean 'failed to receive: (No installed keys could decrypt the message|Encryption is configured but remote state is not encrypted)'
stop_all
finish
