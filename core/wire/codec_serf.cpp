// SPDX-License-Identifier: MIT
// serf 0.9.4 message bodies (§7.3) and tags in memberlist Meta (§7.5).
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

constexpr std::uint8_t kTagMagic = 0xff;

// Go declaration order of each struct, for the positional-array form (§1.2).
constexpr std::array<string_view, 2> kJoinOrder = {"LTime", "Node"};
constexpr std::array<string_view, 3> kLeaveOrder = {"LTime", "Node", "Prune"};
constexpr std::array<string_view, 4> kUserEventOrder = {"LTime", "Name", "Payload", "CC"};
constexpr std::array<string_view, 2> kUserEventsOrder = {"LTime", "Events"};
constexpr std::array<string_view, 2> kEventOrder = {"Name", "Payload"};
constexpr std::array<string_view, 6> kPushPullOrder = {"LTime",      "StatusLTimes", "LeftMembers",
                                                       "EventLTime", "Events",       "QueryLTime"};
constexpr std::array<string_view, 11> kQueryOrder = {
    "LTime", "ID",          "Addr",    "Port", "SourceNode", "Filters",
    "Flags", "RelayFactor", "Timeout", "Name", "Payload"};
constexpr std::array<string_view, 5> kResponseOrder = {"LTime", "ID", "From", "Flags", "Payload"};

bool read_join(Reader& r, SerfJoin& m) {
  return read_struct(r, "struct", kJoinOrder, [&](string_view k) {
    if (k == "LTime") return ok(r.read_u64(m.LTime, k));
    if (k == "Node") return ok(r.read_str(m.Node, k));
    return 0;
  });
}

bool read_leave(Reader& r, SerfLeave& m) {
  return read_struct(r, "struct", kLeaveOrder, [&](string_view k) {
    if (k == "LTime") return ok(r.read_u64(m.LTime, k));
    if (k == "Node") return ok(r.read_str(m.Node, k));
    if (k == "Prune") return ok(r.read_bool(m.Prune, k));
    return 0;
  });
}

bool read_user_event(Reader& r, SerfUserEvent& m) {
  return read_struct(r, "struct", kUserEventOrder, [&](string_view k) {
    if (k == "LTime") return ok(r.read_u64(m.LTime, k));
    if (k == "Name") return ok(r.read_str(m.Name, k));
    if (k == "Payload") return ok(r.read_bytes(m.Payload, k));
    if (k == "CC") return ok(r.read_bool(m.CC, k));
    return 0;
  });
}

// One userEvent{Name, Payload} inside a ring slot.
bool read_event(Reader& r, std::pair<std::string, Bytes>& e) {
  return read_struct(r, "struct", kEventOrder, [&](string_view k) {
    if (k == "Name") return ok(r.read_str(e.first, k));
    if (k == "Payload") return ok(r.read_bytes(e.second, k));
    return 0;
  });
}

bool read_user_events(Reader& r, SerfUserEvents& m) {
  return read_struct(r, "struct", kUserEventsOrder, [&](string_view k) {
    if (k == "LTime") return ok(r.read_u64(m.LTime, k));
    if (k == "Events") {
      std::uint32_t n = 0;
      if (!r.read_array_header(n, k)) return -1;
      m.Events.clear();
      m.Events.reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) {
        std::pair<std::string, Bytes> e;
        if (!read_event(r, e)) return -1;
        m.Events.push_back(std::move(e));
      }
      return 1;
    }
    return 0;
  });
}

bool read_push_pull(Reader& r, SerfPushPull& m) {
  return read_struct(r, "struct", kPushPullOrder, [&](string_view k) {
    if (k == "LTime") return ok(r.read_u64(m.LTime, k));
    if (k == "EventLTime") return ok(r.read_u64(m.EventLTime, k));
    if (k == "QueryLTime") return ok(r.read_u64(m.QueryLTime, k));
    if (k == "StatusLTimes") {
      std::uint32_t n = 0;
      if (!r.read_map_header(n, k)) return -1;
      m.StatusLTimes.clear();
      for (std::uint32_t i = 0; i < n; ++i) {
        std::string name;
        std::uint64_t t = 0;
        if (!r.read_str(name, k) || !r.read_u64(t, k)) return -1;
        m.StatusLTimes[std::move(name)] = t;
      }
      return 1;
    }
    if (k == "LeftMembers") {
      std::uint32_t n = 0;
      if (!r.read_array_header(n, k)) return -1;
      m.LeftMembers.assign(n, std::string());
      for (auto& s : m.LeftMembers) {
        if (!r.read_str(s, k)) return -1;
      }
      return 1;
    }
    if (k == "Events") {
      // Serf's 512-slot ring, mostly nil (§7.3).
      std::uint32_t n = 0;
      if (!r.read_array_header(n, k)) return -1;
      m.Events.clear();
      m.Events.reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) {
        if (r.take_nil()) {
          m.Events.emplace_back(std::nullopt);
          continue;
        }
        SerfUserEvents e;
        if (!read_user_events(r, e)) return -1;
        m.Events.emplace_back(std::move(e));
      }
      return 1;
    }
    return 0;
  });
}

bool read_query(Reader& r, SerfQuery& m) {
  return read_struct(r, "struct", kQueryOrder, [&](string_view k) {
    if (k == "LTime") return ok(r.read_u64(m.LTime, k));
    if (k == "ID") return ok(r.read_uint(m.ID, k));
    if (k == "Addr") return ok(r.read_bytes(m.Addr, k));
    if (k == "Port") return ok(r.read_uint(m.Port, k));
    if (k == "SourceNode") return ok(r.read_str(m.SourceNode, k));
    if (k == "Filters") {
      std::uint32_t n = 0;
      if (!r.read_array_header(n, k)) return -1;
      m.Filters.assign(n, Bytes());
      for (auto& f : m.Filters) {
        if (!r.read_bytes(f, k)) return -1;
      }
      return 1;
    }
    if (k == "Flags") return ok(r.read_uint(m.Flags, k));
    if (k == "RelayFactor") return ok(r.read_uint(m.RelayFactor, k));
    if (k == "Timeout") return ok(r.read_i64(m.Timeout, k));
    if (k == "Name") return ok(r.read_str(m.Name, k));
    if (k == "Payload") return ok(r.read_opt_bytes(m.Payload, k));
    return 0;
  });
}

bool read_response(Reader& r, SerfQueryResponse& m) {
  return read_struct(r, "struct", kResponseOrder, [&](string_view k) {
    if (k == "LTime") return ok(r.read_u64(m.LTime, k));
    if (k == "ID") return ok(r.read_uint(m.ID, k));
    if (k == "From") return ok(r.read_str(m.From, k));
    if (k == "Flags") return ok(r.read_uint(m.Flags, k));
    if (k == "Payload") return ok(r.read_opt_bytes(m.Payload, k));
    return 0;
  });
}

}  // namespace

Bytes encode(const SerfJoin& m) {
  return encode_with([&](Writer& w) {
    w.map(2);
    w.str("LTime");
    w.uint(m.LTime);
    w.str("Node");
    w.str(m.Node);
  });
}

Bytes encode(const SerfLeave& m) {
  return encode_with([&](Writer& w) {
    w.map(3);
    w.str("LTime");
    w.uint(m.LTime);
    w.str("Node");
    w.str(m.Node);
    w.str("Prune");
    w.boolean(m.Prune);
  });
}

Bytes encode(const SerfUserEvent& m) {
  return encode_with([&](Writer& w) {
    w.map(4);
    w.str("CC");
    w.boolean(m.CC);
    w.str("LTime");
    w.uint(m.LTime);
    w.str("Name");
    w.str(m.Name);
    w.str("Payload");
    w.bytes(m.Payload);
  });
}

Bytes encode(const SerfPushPull& m) {
  return encode_with([&](Writer& w) {
    w.map(6);
    w.str("EventLTime");
    w.uint(m.EventLTime);
    w.str("Events");
    w.array(static_cast<std::uint32_t>(m.Events.size()));
    for (const auto& slot : m.Events) {
      if (!slot) {
        w.nil();
        continue;
      }
      w.map(2);
      w.str("Events");
      w.array(static_cast<std::uint32_t>(slot->Events.size()));
      for (const auto& [name, payload] : slot->Events) {
        w.map(2);
        w.str("Name");
        w.str(name);
        w.str("Payload");
        w.bytes(payload);
      }
      w.str("LTime");
      w.uint(slot->LTime);
    }
    w.str("LTime");
    w.uint(m.LTime);
    w.str("LeftMembers");
    w.array(static_cast<std::uint32_t>(m.LeftMembers.size()));
    for (const auto& s : m.LeftMembers) w.str(s);
    w.str("QueryLTime");
    w.uint(m.QueryLTime);
    w.str("StatusLTimes");
    w.map(static_cast<std::uint32_t>(m.StatusLTimes.size()));
    for (const auto& [name, t] : m.StatusLTimes) {
      w.str(name);
      w.uint(t);
    }
  });
}

Bytes encode(const SerfQuery& m) {
  return encode_with([&](Writer& w) {
    w.map(11);
    w.str("Addr");
    w.bytes(m.Addr);
    w.str("Filters");
    // Serf writes a nil slice when there are no filters (§7.3).
    if (m.Filters.empty()) {
      w.nil();
    } else {
      w.array(static_cast<std::uint32_t>(m.Filters.size()));
      for (const auto& f : m.Filters) w.bytes(f);
    }
    w.str("Flags");
    w.uint(m.Flags);
    w.str("ID");
    w.uint(m.ID);
    w.str("LTime");
    w.uint(m.LTime);
    w.str("Name");
    w.str(m.Name);
    w.str("Payload");
    w.opt_bytes(m.Payload);
    w.str("Port");
    w.uint(m.Port);
    w.str("RelayFactor");
    w.uint(m.RelayFactor);
    w.str("SourceNode");
    w.str(m.SourceNode);
    w.str("Timeout");
    w.int64(m.Timeout);
  });
}

Bytes encode(const SerfQueryResponse& m) {
  return encode_with([&](Writer& w) {
    w.map(5);
    w.str("Flags");
    w.uint(m.Flags);
    w.str("From");
    w.str(m.From);
    w.str("ID");
    w.uint(m.ID);
    w.str("LTime");
    w.uint(m.LTime);
    w.str("Payload");
    w.opt_bytes(m.Payload);
  });
}

bool decode(ByteSpan b, SerfJoin& out, std::string* err) {
  return decode_with(b, out, err, "serf join", read_join);
}
bool decode(ByteSpan b, SerfLeave& out, std::string* err) {
  return decode_with(b, out, err, "serf leave", read_leave);
}
bool decode(ByteSpan b, SerfUserEvent& out, std::string* err) {
  return decode_with(b, out, err, "serf userEvent", read_user_event);
}
bool decode(ByteSpan b, SerfPushPull& out, std::string* err) {
  return decode_with(b, out, err, "serf pushPull", read_push_pull);
}
bool decode(ByteSpan b, SerfQuery& out, std::string* err) {
  return decode_with(b, out, err, "serf query", read_query);
}
bool decode(ByteSpan b, SerfQueryResponse& out, std::string* err) {
  return decode_with(b, out, err, "serf queryResponse", read_response);
}

Bytes encode_relay_message(const SerfRelayHeader& h, ByteSpan inner) {
  Bytes out;  // the type byte goes in front at the end (see key_manager.cpp on GCC 14)
  Writer w(out);
  w.map(2);
  w.str("DestAddr");
  w.map(3);
  w.str("IP");
  w.bytes(h.DestIP);
  w.str("Port");
  w.uint(h.DestPort);
  w.str("Zone");
  w.str(h.DestZone);
  w.str("DestName");
  w.str(h.DestName);
  out.insert(out.end(), inner.begin(), inner.end());
  return prefixed(static_cast<std::uint8_t>(SerfMsgType::kRelay), out);
}

bool decode_relay_message(ByteSpan body, SerfRelayHeader& h, ByteSpan& inner, std::string* err) {
  h = SerfRelayHeader{};
  Reader r(body);
  static constexpr std::array<string_view, 2> kOrder = {"DestAddr", "DestName"};
  static constexpr std::array<string_view, 3> kAddrOrder = {"IP", "Port", "Zone"};
  const bool good = read_struct(r, "relayHeader", kOrder, [&](string_view k) {
    if (k == "DestName") return ok(r.read_str(h.DestName, k));
    if (k != "DestAddr") return 0;
    return ok(read_struct(r, "DestAddr", kAddrOrder, [&](string_view f) {
      if (f == "IP") return ok(r.read_bytes(h.DestIP, f));
      if (f == "Port") return ok(r.read_uint(h.DestPort, f));
      if (f == "Zone") return ok(r.read_str(h.DestZone, f));
      return 0;
    }));
  });
  if (!good) {
    if (err) *err = "serf relay: " + (r.error().empty() ? "malformed msgpack" : r.error());
    h = SerfRelayHeader{};
    return false;
  }
  inner = body.subspan(r.pos());
  return true;
}

Bytes encode_serf_push_pull(const SerfPushPull& pp) {
  return serf_message(SerfMsgType::kPushPull, pp);
}

bool decode_serf_push_pull(ByteSpan user_state, SerfPushPull& out, std::string* err) {
  if (user_state.empty() || user_state[0] != static_cast<std::uint8_t>(SerfMsgType::kPushPull)) {
    out = SerfPushPull{};
    if (err) *err = "serf pushPull: user state does not start with 02";
    return false;
  }
  return decode(user_state.subspan(1), out, err);
}

Bytes encode_tags(const Tags& tags) {
  Bytes out{kTagMagic};
  Writer w(out);
  w.map(static_cast<std::uint32_t>(tags.size()));
  for (const auto& [k, v] : tags) {
    w.str(k);
    w.str(v);
  }
  return out;
}

bool decode_tags(ByteSpan meta, Tags& out, std::string* err) {
  out.clear();
  // Legacy (serf protocol < 3) form: the whole Meta is the role (§7.5).
  if (meta.empty() || meta[0] != kTagMagic) {
    out["role"] = std::string(meta.begin(), meta.end());
    return true;
  }
  Reader r(meta.subspan(1));
  std::uint32_t n = 0;
  bool good = r.read_map_header(n, "tags");
  for (std::uint32_t i = 0; good && i < n; ++i) {
    std::string k, v;
    good = r.read_str(k, "tag name") && r.read_str(v, "tag value");
    if (good) out[std::move(k)] = std::move(v);
  }
  if (good) return true;
  if (err) *err = "tags: " + r.error();
  out.clear();
  return false;
}

}  // namespace haserf::wire
