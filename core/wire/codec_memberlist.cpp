// SPDX-License-Identifier: MIT
// memberlist 0.2.2 message bodies (§3). Map keys are written in bytewise order, which is what
// go-msgpack 0.5.5 does; positional-array decoding uses Go declaration order (§1.2).
#include <algorithm>
#include <array>

#include "core/wire/codec_detail.hpp"

namespace haserf::wire {
namespace {

using detail::decode_with;
using detail::encode_with;
using mp::read_struct;
using mp::Reader;
using mp::Writer;
using std::string_view;

int ok(bool b) {
  return b ? 1 : -1;
}

// Go declaration order of each struct, for the positional-array form.
constexpr std::array<string_view, 5> kPingOrder = {"SeqNo", "Node", "SourceAddr", "SourcePort",
                                                   "SourceNode"};
constexpr std::array<string_view, 8> kIndirectOrder = {
    "SeqNo", "Target", "Port", "Node", "Nack", "SourceAddr", "SourcePort", "SourceNode"};
constexpr std::array<string_view, 2> kAckOrder = {"SeqNo", "Payload"};
constexpr std::array<string_view, 1> kNackOrder = {"SeqNo"};
constexpr std::array<string_view, 3> kSuspectOrder = {"Incarnation", "Node", "From"};
constexpr std::array<string_view, 6> kAliveOrder = {"Incarnation", "Node", "Addr",
                                                    "Port",        "Meta", "Vsn"};
constexpr std::array<string_view, 1> kErrOrder = {"Error"};
constexpr std::array<string_view, 3> kHeaderOrder = {"Nodes", "UserStateLen", "Join"};
constexpr std::array<string_view, 7> kNodeStateOrder = {"Name",        "Addr",  "Port", "Meta",
                                                        "Incarnation", "State", "Vsn"};
constexpr std::array<string_view, 1> kUserHeaderOrder = {"UserMsgLen"};
constexpr std::array<string_view, 2> kCompressOrder = {"Algo", "Buf"};

bool read_ping(Reader& r, Ping& m) {
  return read_struct(r, "struct", kPingOrder, [&](string_view k) {
    if (k == "SeqNo") return ok(r.read_uint(m.SeqNo, k));
    if (k == "Node") return ok(r.read_str(m.Node, k));
    if (k == "SourceAddr") return ok(r.read_bytes(m.SourceAddr, k));
    if (k == "SourcePort") return ok(r.read_uint(m.SourcePort, k));
    if (k == "SourceNode") return ok(r.read_str(m.SourceNode, k));
    return 0;
  });
}

bool read_indirect(Reader& r, IndirectPing& m) {
  return read_struct(r, "struct", kIndirectOrder, [&](string_view k) {
    if (k == "SeqNo") return ok(r.read_uint(m.SeqNo, k));
    if (k == "Target") return ok(r.read_bytes(m.Target, k));
    if (k == "Port") return ok(r.read_uint(m.Port, k));
    if (k == "Node") return ok(r.read_str(m.Node, k));
    if (k == "Nack") return ok(r.read_bool(m.Nack, k));
    if (k == "SourceAddr") return ok(r.read_bytes(m.SourceAddr, k));
    if (k == "SourcePort") return ok(r.read_uint(m.SourcePort, k));
    if (k == "SourceNode") return ok(r.read_str(m.SourceNode, k));
    return 0;
  });
}

bool read_ack(Reader& r, Ack& m) {
  return read_struct(r, "struct", kAckOrder, [&](string_view k) {
    if (k == "SeqNo") return ok(r.read_uint(m.SeqNo, k));
    if (k == "Payload") return ok(r.read_opt_bytes(m.Payload, k));
    return 0;
  });
}

bool read_nack(Reader& r, Nack& m) {
  return read_struct(r, "struct", kNackOrder, [&](string_view k) {
    if (k == "SeqNo") return ok(r.read_uint(m.SeqNo, k));
    return 0;
  });
}

// suspect and dead share their layout.
template <typename T>
bool read_accusation(Reader& r, T& m) {
  return read_struct(r, "struct", kSuspectOrder, [&](string_view k) {
    if (k == "Incarnation") return ok(r.read_uint(m.Incarnation, k));
    if (k == "Node") return ok(r.read_str(m.Node, k));
    if (k == "From") return ok(r.read_str(m.From, k));
    return 0;
  });
}

bool read_alive(Reader& r, Alive& m) {
  return read_struct(r, "struct", kAliveOrder, [&](string_view k) {
    if (k == "Incarnation") return ok(r.read_uint(m.Incarnation, k));
    if (k == "Node") return ok(r.read_str(m.Node, k));
    if (k == "Addr") return ok(r.read_bytes(m.Addr, k));
    if (k == "Port") return ok(r.read_uint(m.Port, k));
    if (k == "Meta") return ok(r.read_opt_bytes(m.Meta, k));
    if (k == "Vsn") return ok(r.read_bytes(m.Vsn, k));
    return 0;
  });
}

bool read_err(Reader& r, ErrResp& m) {
  return read_struct(r, "struct", kErrOrder, [&](string_view k) {
    if (k == "Error") return ok(r.read_str(m.Error, k));
    return 0;
  });
}

bool read_header(Reader& r, PushPullHeader& m) {
  return read_struct(r, "struct", kHeaderOrder, [&](string_view k) {
    if (k == "Nodes") return ok(r.read_i64(m.Nodes, k));
    if (k == "UserStateLen") return ok(r.read_i64(m.UserStateLen, k));
    if (k == "Join") return ok(r.read_bool(m.Join, k));
    return 0;
  });
}

bool read_node_state(Reader& r, PushNodeState& m) {
  return read_struct(r, "struct", kNodeStateOrder, [&](string_view k) {
    if (k == "Name") return ok(r.read_str(m.Name, k));
    if (k == "Addr") return ok(r.read_bytes(m.Addr, k));
    if (k == "Port") return ok(r.read_uint(m.Port, k));
    if (k == "Meta") return ok(r.read_bytes(m.Meta, k));
    if (k == "Incarnation") return ok(r.read_uint(m.Incarnation, k));
    if (k == "State") {
      // Go's NodeStateType is an int; values beyond 3 are kept for the caller to ignore.
      std::uint8_t s = 0;
      if (!r.read_uint(s, k)) return -1;
      m.State = static_cast<NodeState>(s);
      return 1;
    }
    if (k == "Vsn") return ok(r.read_bytes(m.Vsn, k));
    return 0;
  });
}

bool read_user_header(Reader& r, UserMsgHeader& m) {
  return read_struct(r, "struct", kUserHeaderOrder, [&](string_view k) {
    if (k == "UserMsgLen") return ok(r.read_i64(m.UserMsgLen, k));
    return 0;
  });
}

bool read_compress(Reader& r, Compress& m) {
  return read_struct(r, "struct", kCompressOrder, [&](string_view k) {
    if (k == "Algo") return ok(r.read_uint(m.Algo, k));
    if (k == "Buf") return ok(r.read_bytes(m.Buf, k));
    return 0;
  });
}

template <typename T>
void write_accusation(Writer& w, const T& m) {
  w.map(3);
  w.str("From");
  w.str(m.From);
  w.str("Incarnation");
  w.uint(m.Incarnation);
  w.str("Node");
  w.str(m.Node);
}

void write_node_state(Writer& w, const PushNodeState& m) {
  w.map(7);
  w.str("Addr");
  w.bytes(m.Addr);
  w.str("Incarnation");
  w.uint(m.Incarnation);
  w.str("Meta");
  w.bytes(m.Meta);
  w.str("Name");
  w.str(m.Name);
  w.str("Port");
  w.uint(m.Port);
  w.str("State");
  w.uint(static_cast<std::uint8_t>(m.State));
  w.str("Vsn");
  w.bytes(m.Vsn);
}

void write_header(Writer& w, const PushPullHeader& m) {
  w.map(3);
  w.str("Join");
  w.boolean(m.Join);
  w.str("Nodes");
  w.int64(m.Nodes);
  w.str("UserStateLen");
  w.int64(m.UserStateLen);
}

}  // namespace

Bytes encode(const Ping& m) {
  return encode_with([&](Writer& w) {
    // Source* are `omitempty` in Go (§3): left out when zero.
    const bool addr = !m.SourceAddr.empty(), node = !m.SourceNode.empty(), port = m.SourcePort != 0;
    w.map(2 + addr + node + port);
    w.str("Node");
    w.str(m.Node);
    w.str("SeqNo");
    w.uint(m.SeqNo);
    if (addr) {
      w.str("SourceAddr");
      w.bytes(m.SourceAddr);
    }
    if (node) {
      w.str("SourceNode");
      w.str(m.SourceNode);
    }
    if (port) {
      w.str("SourcePort");
      w.uint(m.SourcePort);
    }
  });
}

Bytes encode(const IndirectPing& m) {
  return encode_with([&](Writer& w) {
    const bool addr = !m.SourceAddr.empty(), node = !m.SourceNode.empty(), port = m.SourcePort != 0;
    w.map(5 + addr + node + port);
    w.str("Nack");
    w.boolean(m.Nack);
    w.str("Node");
    w.str(m.Node);
    w.str("Port");
    w.uint(m.Port);
    w.str("SeqNo");
    w.uint(m.SeqNo);
    if (addr) {
      w.str("SourceAddr");
      w.bytes(m.SourceAddr);
    }
    if (node) {
      w.str("SourceNode");
      w.str(m.SourceNode);
    }
    if (port) {
      w.str("SourcePort");
      w.uint(m.SourcePort);
    }
    w.str("Target");
    w.bytes(m.Target);
  });
}

Bytes encode(const Ack& m) {
  return encode_with([&](Writer& w) {
    w.map(2);
    w.str("Payload");
    w.opt_bytes(m.Payload);
    w.str("SeqNo");
    w.uint(m.SeqNo);
  });
}

Bytes encode(const Nack& m) {
  return encode_with([&](Writer& w) {
    w.map(1);
    w.str("SeqNo");
    w.uint(m.SeqNo);
  });
}

Bytes encode(const Suspect& m) {
  return encode_with([&](Writer& w) { write_accusation(w, m); });
}

Bytes encode(const Dead& m) {
  return encode_with([&](Writer& w) { write_accusation(w, m); });
}

Bytes encode(const Alive& m) {
  return encode_with([&](Writer& w) {
    w.map(6);
    w.str("Addr");
    w.bytes(m.Addr);
    w.str("Incarnation");
    w.uint(m.Incarnation);
    w.str("Meta");
    w.opt_bytes(m.Meta);
    w.str("Node");
    w.str(m.Node);
    w.str("Port");
    w.uint(m.Port);
    w.str("Vsn");
    w.bytes(m.Vsn);
  });
}

Bytes encode(const ErrResp& m) {
  return encode_with([&](Writer& w) {
    w.map(1);
    w.str("Error");
    w.str(m.Error);
  });
}

Bytes encode(const PushPullHeader& m) {
  return encode_with([&](Writer& w) { write_header(w, m); });
}

Bytes encode(const PushNodeState& m) {
  return encode_with([&](Writer& w) { write_node_state(w, m); });
}

Bytes encode(const UserMsgHeader& m) {
  return encode_with([&](Writer& w) {
    w.map(1);
    w.str("UserMsgLen");
    w.int64(m.UserMsgLen);
  });
}

Bytes encode(const Compress& m) {
  return encode_with([&](Writer& w) {
    w.map(2);
    w.str("Algo");
    w.uint(m.Algo);
    w.str("Buf");
    w.bytes(m.Buf);
  });
}

bool decode(ByteSpan b, Ping& out, std::string* err) {
  return decode_with(b, out, err, "ping", read_ping);
}
bool decode(ByteSpan b, IndirectPing& out, std::string* err) {
  return decode_with(b, out, err, "indirectPing", read_indirect);
}
bool decode(ByteSpan b, Ack& out, std::string* err) {
  return decode_with(b, out, err, "ack", read_ack);
}
bool decode(ByteSpan b, Nack& out, std::string* err) {
  return decode_with(b, out, err, "nack", read_nack);
}
bool decode(ByteSpan b, Suspect& out, std::string* err) {
  return decode_with(b, out, err, "suspect", read_accusation<Suspect>);
}
bool decode(ByteSpan b, Alive& out, std::string* err) {
  return decode_with(b, out, err, "alive", read_alive);
}
bool decode(ByteSpan b, Dead& out, std::string* err) {
  return decode_with(b, out, err, "dead", read_accusation<Dead>);
}
bool decode(ByteSpan b, ErrResp& out, std::string* err) {
  return decode_with(b, out, err, "errResp", read_err);
}
bool decode(ByteSpan b, PushPullHeader& out, std::string* err) {
  return decode_with(b, out, err, "pushPullHeader", read_header);
}
bool decode(ByteSpan b, PushNodeState& out, std::string* err) {
  return decode_with(b, out, err, "pushNodeState", read_node_state);
}
bool decode(ByteSpan b, UserMsgHeader& out, std::string* err) {
  return decode_with(b, out, err, "userMsgHeader", read_user_header);
}
bool decode(ByteSpan b, Compress& out, std::string* err) {
  return decode_with(b, out, err, "compress", read_compress);
}

Bytes prefixed(std::uint8_t type, ByteSpan rest) {
  // Sized once, then filled (reserve + push_back + insert: a false -Wfree-nonheap-object
  // from GCC 14).
  Bytes out(1 + rest.size());
  out[0] = type;
  std::copy(rest.begin(), rest.end(), out.begin() + 1);
  return out;
}

Bytes user_message(ByteSpan serf_bytes) {
  return prefixed(static_cast<std::uint8_t>(MsgType::kUser), serf_bytes);
}

Bytes encode_push_pull(const PushPull& pp) {
  Bytes out{static_cast<std::uint8_t>(MsgType::kPushPull)};
  Writer w(out);
  write_header(w, PushPullHeader{static_cast<std::int64_t>(pp.Nodes.size()),
                                 static_cast<std::int64_t>(pp.UserState.size()), pp.Join});
  for (const auto& n : pp.Nodes) write_node_state(w, n);
  out.insert(out.end(), pp.UserState.begin(), pp.UserState.end());
  return out;
}

bool decode_push_pull(ByteSpan msg, PushPull& out, std::string* err) {
  out = PushPull{};
  auto fail = [&](const std::string& e) {
    if (err) *err = "pushPull: " + e;
    out = PushPull{};
    return false;
  };
  if (msg.empty() || msg[0] != static_cast<std::uint8_t>(MsgType::kPushPull)) {
    return fail("message does not start with type 6");
  }
  Reader r(msg.subspan(1));
  PushPullHeader h;
  if (!read_header(r, h)) return fail(r.error());
  // Every node state takes at least one byte, so larger counts are lies (§5.2).
  if (h.Nodes < 0 || static_cast<std::uint64_t>(h.Nodes) > r.remaining()) {
    return fail("bad node count " + std::to_string(h.Nodes));
  }
  out.Join = h.Join;
  out.Nodes.reserve(static_cast<std::size_t>(h.Nodes));
  for (std::int64_t i = 0; i < h.Nodes; ++i) {
    PushNodeState n;
    if (!read_node_state(r, n)) return fail(r.error());
    out.Nodes.push_back(std::move(n));
  }
  if (h.UserStateLen < 0 || static_cast<std::uint64_t>(h.UserStateLen) > r.remaining()) {
    return fail("user state length " + std::to_string(h.UserStateLen) + " exceeds the data");
  }
  const auto rest = msg.subspan(1 + r.pos(), static_cast<std::size_t>(h.UserStateLen));
  out.UserState.assign(rest.begin(), rest.end());
  return true;
}

}  // namespace haserf::wire
