// SPDX-License-Identifier: MIT
// msgpack bodies of every memberlist (§3) and serf (§7.3) message, byte-compatible with
// go-msgpack 0.5.5 (§1). `encode` writes what Go writes (struct as a map with bytewise-sorted
// keys, raw-str strings and bytes, smallest unsigned ints); `decode` accepts everything Go
// accepts (§1.2). No function here throws or allocates more than the input justifies.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/wire/messages.hpp"

namespace haserf::wire {

using ByteSpan = std::span<const std::uint8_t>;

// ---- bodies (no type byte) ----
Bytes encode(const Ping& m);
Bytes encode(const IndirectPing& m);
Bytes encode(const Ack& m);
Bytes encode(const Nack& m);
Bytes encode(const Suspect& m);
Bytes encode(const Alive& m);
Bytes encode(const Dead& m);
Bytes encode(const ErrResp& m);
Bytes encode(const PushPullHeader& m);
Bytes encode(const PushNodeState& m);
Bytes encode(const UserMsgHeader& m);
Bytes encode(const Compress& m);
Bytes encode(const SerfJoin& m);
Bytes encode(const SerfLeave& m);
Bytes encode(const SerfUserEvent& m);
Bytes encode(const SerfPushPull& m);
Bytes encode(const SerfQuery& m);
Bytes encode(const SerfQueryResponse& m);

// Decode one msgpack body into `out` (reset first). Trailing bytes after the object are ignored,
// as Go's decoder does. On failure returns false and, if `err` is set, a message naming the
// field ("alive: Node: expected string, got bin8 (c4)").
bool decode(ByteSpan body, Ping& out, std::string* err = nullptr);
bool decode(ByteSpan body, IndirectPing& out, std::string* err = nullptr);
bool decode(ByteSpan body, Ack& out, std::string* err = nullptr);
bool decode(ByteSpan body, Nack& out, std::string* err = nullptr);
bool decode(ByteSpan body, Suspect& out, std::string* err = nullptr);
bool decode(ByteSpan body, Alive& out, std::string* err = nullptr);
bool decode(ByteSpan body, Dead& out, std::string* err = nullptr);
bool decode(ByteSpan body, ErrResp& out, std::string* err = nullptr);
bool decode(ByteSpan body, PushPullHeader& out, std::string* err = nullptr);
bool decode(ByteSpan body, PushNodeState& out, std::string* err = nullptr);
bool decode(ByteSpan body, UserMsgHeader& out, std::string* err = nullptr);
bool decode(ByteSpan body, Compress& out, std::string* err = nullptr);
bool decode(ByteSpan body, SerfJoin& out, std::string* err = nullptr);
bool decode(ByteSpan body, SerfLeave& out, std::string* err = nullptr);
bool decode(ByteSpan body, SerfUserEvent& out, std::string* err = nullptr);
bool decode(ByteSpan body, SerfPushPull& out, std::string* err = nullptr);
bool decode(ByteSpan body, SerfQuery& out, std::string* err = nullptr);
bool decode(ByteSpan body, SerfQueryResponse& out, std::string* err = nullptr);

// ---- whole messages ----

// `type` byte + body (§2.1), e.g. message(MsgType::kAlive, alive).
// `type` + bytes in one allocation.
Bytes prefixed(std::uint8_t type, ByteSpan rest);

template <typename T>
Bytes message(MsgType type, const T& m) {
  return prefixed(static_cast<std::uint8_t>(type), encode(m));
}

// Serf type byte + body (§7.1); wrap with user_message() to gossip it.
template <typename T>
Bytes serf_message(SerfMsgType type, const T& m) {
  return prefixed(static_cast<std::uint8_t>(type), encode(m));
}

// serf's relay message (§7.10): `09` + relay header + `inner` (a serf type byte and body).
Bytes encode_relay_message(const SerfRelayHeader& header, ByteSpan inner);
// `body`: the bytes after `09`. On success `inner` is what follows the header (not checked).
bool decode_relay_message(ByteSpan body, SerfRelayHeader& header, ByteSpan& inner,
                          std::string* err = nullptr);

// `08` + serf bytes: a memberlist user message (§7.1).
Bytes user_message(ByteSpan serf_bytes);

// ---- tags in Meta (§7.5) ----

// `ff` + msgpack map of the tags (keys sorted; Go's order is random, which is also fine).
Bytes encode_tags(const Tags& tags);
// Empty meta or no `ff` prefix: legacy form, {"role": meta}. Otherwise decodes the map; returns
// false (with `out` cleared) if it is not a valid map of strings.
bool decode_tags(ByteSpan meta, Tags& out, std::string* err = nullptr);

// ---- push/pull (§5.2) ----

// `06` + header{Join, Nodes, UserStateLen = UserState.size()} + node states + raw UserState.
Bytes encode_push_pull(const PushPull& pp);
// Decodes a complete push/pull message starting with `06`. Bytes after the user state are
// ignored. Incremental parsing of a socket lives in stream.hpp.
bool decode_push_pull(ByteSpan msg, PushPull& out, std::string* err = nullptr);

// Serf push/pull user state: `02` + msgpack messagePushPull (§7.3, §7.6).
Bytes encode_serf_push_pull(const SerfPushPull& pp);
bool decode_serf_push_pull(ByteSpan user_state, SerfPushPull& out, std::string* err = nullptr);

}  // namespace haserf::wire
