// SPDX-License-Identifier: MIT
// Serf RPC messages (rpc.hpp, docs/serf-rpc.md). Struct fields are written in Go declaration
// order, as go-msgpack does; reading accepts any order and skips unknown keys.
#include <algorithm>
#include <cstring>
#include <msgpack/pack.hpp>

#include "core/wire/msgpack_reader.hpp"
#include "core/wire/msgpack_writer.hpp"
#include "core/wire/rpc.hpp"

namespace haserf::wire::rpc {
namespace {

// go-msgpack with WriteExt (the RPC handle): str8 for strings of 32-255 bytes, bin for
// []byte; everything else as the gossip's writer.
class NewWriter : public mp::Writer {
 public:
  using mp::Writer::Writer;
  void str(std::string_view s) {
    pk_.pack_str(static_cast<std::uint32_t>(s.size()));
    pk_.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
  }
  // A nil Go slice is written as nil, an empty one as an empty bin.
  void bin(std::span<const std::uint8_t> b) {
    pk_.pack_bin(static_cast<std::uint32_t>(b.size()));
    pk_.pack_bin_body(reinterpret_cast<const char*>(b.data()),
                      static_cast<std::uint32_t>(b.size()));
  }
  void string_map(const StringMap& m) {
    map(static_cast<std::uint32_t>(m.size()));
    for (const auto& [k, v] : m) {
      str(k);
      str(v);
    }
  }
  void strings(const std::vector<std::string>& v) {
    array(static_cast<std::uint32_t>(v.size()));
    for (const auto& s : v) str(s);
  }
};

void write_member(NewWriter& w, const RpcMember& m) {
  static constexpr const char* kVsnNames[6] = {"ProtocolMin", "ProtocolMax", "ProtocolCur",
                                               "DelegateMin", "DelegateMax", "DelegateCur"};
  w.map(11);
  w.str("Name");
  w.str(m.name);
  w.str("Addr");
  w.bin(m.addr);
  w.str("Port");
  w.uint(m.port);
  w.str("Tags");
  w.string_map(m.tags);
  w.str("Status");
  w.str(m.status);
  for (int i = 0; i < 6; ++i) {
    w.str(kVsnNames[i]);
    w.uint(m.vsn[i]);
  }
}

void set_err(std::string* err, const std::string& msg) {
  if (err) *err = msg;
}

bool finish(const mp::Reader& r, bool ok, std::string_view what, std::string* err) {
  if (!ok) set_err(err, std::string(what) + ": " + (r.error().empty() ? "truncated" : r.error()));
  return ok;
}

bool read_string_map(mp::Reader& r, StringMap& out, std::string_view field) {
  std::uint32_t n = 0;
  if (!r.read_map_header(n, field)) return false;
  out.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!r.read_str(k, field) || !r.read_str(v, field)) return false;
    out[std::move(k)] = std::move(v);
  }
  return true;
}

bool read_strings(mp::Reader& r, std::vector<std::string>& out, std::string_view field) {
  std::uint32_t n = 0;
  if (!r.read_array_header(n, field)) return false;
  out.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string s;
    if (!r.read_str(s, field)) return false;
    out.push_back(std::move(s));
  }
  return true;
}

}  // namespace

bool command_has_body(std::string_view c) {
  return !(c == "members" || c == "leave" || c == "list-keys" || c == "stats");
}

bool decode_request_header(std::span<const std::uint8_t> data, RequestHeader& out,
                           std::string* err) {
  mp::Reader r(data);
  static constexpr std::string_view kOrder[] = {"Command", "Seq"};
  const bool ok = mp::read_struct(r, "request header", kOrder, [&](std::string_view k) {
    if (k == "Command") return r.read_str(out.command, k) ? 1 : -1;
    if (k == "Seq") return r.read_u64(out.seq, k) ? 1 : -1;
    return 0;
  });
  return finish(r, ok, "request header", err);
}

bool decode_request_body(std::span<const std::uint8_t> data, RequestBody& out, std::string* err) {
  mp::Reader r(data);
  // Never positional in practice (every client writes maps); no order is assumed.
  const bool ok = mp::read_struct(r, "request", {}, [&](std::string_view k) {
    bool good = true;
    if (k == "Version") {
      good = r.read_i64(out.version, k);
    } else if (k == "AuthKey") {
      good = r.read_str(out.auth_key, k);
    } else if (k == "Name") {
      good = r.read_str(out.name, k);
    } else if (k == "Payload") {
      good = r.read_bytes(out.payload, k);
    } else if (k == "Coalesce") {
      good = r.read_bool(out.coalesce, k);
    } else if (k == "Node") {
      good = r.read_str(out.node, k);
    } else if (k == "Prune") {
      good = r.read_bool(out.prune, k);
    } else if (k == "Existing") {
      good = read_strings(r, out.existing, k);
    } else if (k == "Replay") {
      good = r.read_bool(out.replay, k);
    } else if (k == "Tags") {
      good = read_string_map(r, out.tags, k);
    } else if (k == "Status") {
      good = r.read_str(out.status, k);
    } else if (k == "Key") {
      good = r.read_str(out.key, k);
    } else if (k == "LogLevel") {
      good = r.read_str(out.log_level, k);
    } else if (k == "Type") {
      good = r.read_str(out.type, k);
    } else if (k == "Stop") {
      good = r.read_u64(out.stop, k);
    } else if (k == "DeleteTags") {
      good = read_strings(r, out.delete_tags, k);
    } else if (k == "FilterNodes") {
      good = read_strings(r, out.filter_nodes, k);
    } else if (k == "FilterTags") {
      good = read_string_map(r, out.filter_tags, k);
    } else if (k == "RequestAck") {
      good = r.read_bool(out.request_ack, k);
    } else if (k == "RelayFactor") {
      good = r.read_uint(out.relay_factor, k);
    } else if (k == "Timeout") {
      good = r.read_i64(out.timeout_ns, k);
    } else if (k == "ID") {
      good = r.read_u64(out.id, k);
    } else {
      return 0;
    }
    return good ? 1 : -1;
  });
  return finish(r, ok, "request body", err);
}

Bytes encode_response_header(std::uint64_t seq, std::string_view error) {
  Bytes out;
  NewWriter w(out);
  w.map(2);
  w.str("Seq");
  w.uint(seq);
  w.str("Error");
  w.str(error);
  return out;
}

Bytes encode_members(const std::vector<RpcMember>& members) {
  Bytes out;
  NewWriter w(out);
  w.map(1);
  w.str("Members");
  w.array(static_cast<std::uint32_t>(members.size()));
  for (const auto& m : members) write_member(w, m);
  return out;
}

Bytes encode_member_event(std::string_view event, const std::vector<RpcMember>& members) {
  Bytes out;
  NewWriter w(out);
  w.map(2);
  w.str("Event");
  w.str(event);
  w.str("Members");
  w.array(static_cast<std::uint32_t>(members.size()));
  for (const auto& m : members) write_member(w, m);
  return out;
}

Bytes encode_join_response(std::int32_t num) {
  Bytes out;
  NewWriter w(out);
  w.map(1);
  w.str("Num");
  w.int64(num);
  return out;
}

Bytes encode_key_response(const KeyResponse& r) {
  Bytes out;
  NewWriter w(out);
  w.map(5);
  w.str("Messages");
  w.string_map(r.messages);
  w.str("Keys");
  if (r.keys) {
    w.map(static_cast<std::uint32_t>(r.keys->size()));
    for (const auto& [k, n] : *r.keys) {
      w.str(k);
      w.int64(n);
    }
  } else {
    w.nil();
  }
  w.str("NumNodes");
  w.int64(r.num_nodes);
  w.str("NumErr");
  w.int64(r.num_err);
  w.str("NumResp");
  w.int64(r.num_resp);
  return out;
}

Bytes encode_stats(const std::map<std::string, StringMap>& stats) {
  Bytes out;
  NewWriter w(out);
  w.map(static_cast<std::uint32_t>(stats.size()));
  for (const auto& [section, values] : stats) {
    w.str(section);
    w.string_map(values);
  }
  return out;
}

Bytes encode_coordinate_response(const std::optional<RpcCoordinate>& coord) {
  Bytes out;
  NewWriter w(out);
  w.map(2);
  w.str("Coord");
  // Not found: Go sends a zero coordinate.Coordinate (Vec nil) with Ok false.
  const RpcCoordinate zero;
  const RpcCoordinate& c = coord ? *coord : zero;
  w.map(4);  // go-msgpack writes struct keys sorted
  w.str("Adjustment");
  w.f64(c.adjustment);
  w.str("Error");
  w.f64(c.error);
  w.str("Height");
  w.f64(c.height);
  w.str("Vec");
  if (c.vec.empty()) {
    w.nil();
  } else {
    w.array(static_cast<std::uint32_t>(c.vec.size()));
    for (double v : c.vec) w.f64(v);
  }
  w.str("Ok");
  w.boolean(coord.has_value());
  return out;
}

Bytes encode_user_event_record(std::uint64_t ltime, std::string_view name,
                               std::span<const std::uint8_t> payload, bool coalesce) {
  Bytes out;
  NewWriter w(out);
  w.map(5);
  w.str("Event");
  w.str("user");
  w.str("LTime");
  w.uint(ltime);
  w.str("Name");
  w.str(name);
  w.str("Payload");
  w.bin(payload);
  w.str("Coalesce");
  w.boolean(coalesce);
  return out;
}

Bytes encode_query_event_record(std::uint64_t id, std::uint64_t ltime, std::string_view name,
                                std::span<const std::uint8_t> payload) {
  Bytes out;
  NewWriter w(out);
  w.map(5);
  w.str("Event");
  w.str("query");
  w.str("ID");
  w.uint(id);
  w.str("LTime");
  w.uint(ltime);
  w.str("Name");
  w.str(name);
  w.str("Payload");
  w.bin(payload);
  return out;
}

Bytes encode_query_record(std::string_view type, std::string_view from,
                          std::optional<std::span<const std::uint8_t>> payload) {
  Bytes out;
  NewWriter w(out);
  w.map(3);
  w.str("Type");
  w.str(type);
  w.str("From");
  w.str(from);
  w.str("Payload");
  if (payload) {
    w.bin(*payload);
  } else {
    w.nil();
  }
  return out;
}

Bytes encode_log_record(std::string_view line) {
  Bytes out;
  NewWriter w(out);
  w.map(1);
  w.str("Log");
  w.str(line);
  return out;
}

Bytes encode_request_header(std::string_view command, std::uint64_t seq) {
  Bytes out;
  NewWriter w(out);
  w.map(2);
  w.str("Command");
  w.str(command);
  w.str("Seq");
  w.uint(seq);
  return out;
}

Bytes encode_request_body(std::string_view c, const RequestBody& b) {
  Bytes out;
  NewWriter w(out);
  if (c == "handshake") {
    w.map(1);
    w.str("Version");
    w.int64(b.version);
  } else if (c == "auth") {
    w.map(1);
    w.str("AuthKey");
    w.str(b.auth_key);
  } else if (c == "event") {
    w.map(3);
    w.str("Name");
    w.str(b.name);
    w.str("Payload");
    w.bin(b.payload);
    w.str("Coalesce");
    w.boolean(b.coalesce);
  } else if (c == "force-leave") {
    w.map(2);
    w.str("Node");
    w.str(b.node);
    w.str("Prune");
    w.boolean(b.prune);
  } else if (c == "join") {
    w.map(2);
    w.str("Existing");
    w.strings(b.existing);
    w.str("Replay");
    w.boolean(b.replay);
  } else if (c == "members-filtered") {
    w.map(3);
    w.str("Tags");
    w.string_map(b.tags);
    w.str("Status");
    w.str(b.status);
    w.str("Name");
    w.str(b.name);
  } else if (c == "install-key" || c == "use-key" || c == "remove-key") {
    w.map(1);
    w.str("Key");
    w.str(b.key);
  } else if (c == "monitor") {
    w.map(1);
    w.str("LogLevel");
    w.str(b.log_level);
  } else if (c == "stream") {
    w.map(1);
    w.str("Type");
    w.str(b.type);
  } else if (c == "stop") {
    w.map(1);
    w.str("Stop");
    w.uint(b.stop);
  } else if (c == "tags") {
    w.map(2);
    w.str("Tags");
    w.string_map(b.tags);
    w.str("DeleteTags");
    w.strings(b.delete_tags);
  } else if (c == "query") {
    w.map(7);
    w.str("FilterNodes");
    w.strings(b.filter_nodes);
    w.str("FilterTags");
    w.string_map(b.filter_tags);
    w.str("RequestAck");
    w.boolean(b.request_ack);
    w.str("RelayFactor");
    w.uint(b.relay_factor);
    w.str("Timeout");
    w.int64(b.timeout_ns);
    w.str("Name");
    w.str(b.name);
    w.str("Payload");
    w.bin(b.payload);
  } else if (c == "respond") {
    w.map(2);
    w.str("ID");
    w.uint(b.id);
    w.str("Payload");
    w.bin(b.payload);
  } else if (c == "get-coordinate") {
    w.map(1);
    w.str("Node");
    w.str(b.node);
  }
  return out;
}

bool decode_response_header(std::span<const std::uint8_t> data, ResponseHeader& out,
                            std::string* err) {
  mp::Reader r(data);
  static constexpr std::string_view kOrder[] = {"Seq", "Error"};
  const bool ok = mp::read_struct(r, "response header", kOrder, [&](std::string_view k) {
    if (k == "Seq") return r.read_u64(out.seq, k) ? 1 : -1;
    if (k == "Error") return r.read_str(out.error, k) ? 1 : -1;
    return 0;
  });
  return finish(r, ok, "response header", err);
}

bool decode_members(std::span<const std::uint8_t> data, std::vector<RpcMember>& out,
                    std::string* err) {
  mp::Reader r(data);
  static constexpr std::string_view kOrder[] = {"Members"};
  static constexpr std::string_view kMemberOrder[] = {
      "Name",        "Addr",        "Port",        "Tags",        "Status",     "ProtocolMin",
      "ProtocolMax", "ProtocolCur", "DelegateMin", "DelegateMax", "DelegateCur"};
  const bool ok = mp::read_struct(r, "members", kOrder, [&](std::string_view k) {
    if (k != "Members") return 0;
    std::uint32_t n = 0;
    if (!r.read_array_header(n, k)) return -1;
    out.clear();
    for (std::uint32_t i = 0; i < n; ++i) {
      RpcMember m;
      const bool good = mp::read_struct(r, "member", kMemberOrder, [&](std::string_view f) {
        bool g = true;
        if (f == "Name") {
          g = r.read_str(m.name, f);
        } else if (f == "Addr") {
          g = r.read_bytes(m.addr, f);
        } else if (f == "Port") {
          g = r.read_uint(m.port, f);
        } else if (f == "Tags") {
          g = read_string_map(r, m.tags, f);
        } else if (f == "Status") {
          g = r.read_str(m.status, f);
        } else {
          for (int j = 0; j < 6; ++j) {
            if (f == kMemberOrder[5 + j]) return r.read_uint(m.vsn[j], f) ? 1 : -1;
          }
          return 0;
        }
        return g ? 1 : -1;
      });
      if (!good) return -1;
      out.push_back(std::move(m));
    }
    return 1;
  });
  return finish(r, ok, "members", err);
}

bool decode_join_response(std::span<const std::uint8_t> data, std::int32_t& num, std::string* err) {
  mp::Reader r(data);
  static constexpr std::string_view kOrder[] = {"Num"};
  std::int64_t v = 0;
  const bool ok = mp::read_struct(r, "join response", kOrder, [&](std::string_view k) {
    if (k == "Num") return r.read_i64(v, k) ? 1 : -1;
    return 0;
  });
  num = static_cast<std::int32_t>(v);
  return finish(r, ok, "join response", err);
}

bool decode_coordinate_response(std::span<const std::uint8_t> data,
                                std::optional<RpcCoordinate>& out, std::string* err) {
  mp::Reader r(data);
  static constexpr std::string_view kOrder[] = {"Coord", "Ok"};
  static constexpr std::string_view kCoordOrder[] = {"Vec", "Error", "Adjustment", "Height"};
  RpcCoordinate c;
  bool found = false;
  const bool ok = mp::read_struct(r, "coordinate response", kOrder, [&](std::string_view k) {
    if (k == "Ok") return r.read_bool(found, k) ? 1 : -1;
    if (k != "Coord") return 0;
    const bool good = mp::read_struct(r, "coordinate", kCoordOrder, [&](std::string_view f) {
      if (f == "Vec") {
        std::uint32_t n = 0;
        if (!r.read_array_header(n, f)) return -1;
        if (n > 64) return r.fail("Vec: too many dimensions") ? -1 : -1;
        c.vec.assign(n, 0.0);
        for (auto& v : c.vec) {
          if (!r.read_f64(v, f)) return -1;
        }
        return 1;
      }
      if (f == "Error") return r.read_f64(c.error, f) ? 1 : -1;
      if (f == "Adjustment") return r.read_f64(c.adjustment, f) ? 1 : -1;
      if (f == "Height") return r.read_f64(c.height, f) ? 1 : -1;
      return 0;
    });
    return good ? 1 : -1;
  });
  if (ok && found) {
    out = std::move(c);
  } else {
    out.reset();
  }
  return finish(r, ok, "coordinate response", err);
}

bool decode_key_response(std::span<const std::uint8_t> data, KeyResponse& out, std::string* err) {
  mp::Reader r(data);
  static constexpr std::string_view kOrder[] = {"Messages", "Keys", "NumNodes", "NumErr",
                                                "NumResp"};
  std::int64_t nodes = 0, errs = 0, resps = 0;
  const bool ok = mp::read_struct(r, "key response", kOrder, [&](std::string_view k) {
    if (k == "Messages") return read_string_map(r, out.messages, k) ? 1 : -1;
    if (k == "NumNodes") return r.read_i64(nodes, k) ? 1 : -1;
    if (k == "NumErr") return r.read_i64(errs, k) ? 1 : -1;
    if (k == "NumResp") return r.read_i64(resps, k) ? 1 : -1;
    if (k != "Keys") return 0;
    if (r.take_nil()) return 1;
    std::uint32_t n = 0;
    if (!r.read_map_header(n, k)) return -1;
    auto& keys = out.keys.emplace();
    for (std::uint32_t i = 0; i < n; ++i) {
      std::string key;
      std::int64_t count = 0;
      if (!r.read_str(key, k) || !r.read_i64(count, k)) return -1;
      keys[key] = static_cast<int>(count);
    }
    return 1;
  });
  // Counts are cluster sizes: clamp what a hostile agent might send into int's range.
  const auto clamp = [](std::int64_t v) {
    return static_cast<int>(std::clamp<std::int64_t>(v, 0, 1 << 30));
  };
  out.num_nodes = clamp(nodes);
  out.num_err = clamp(errs);
  out.num_resp = clamp(resps);
  return finish(r, ok, "key response", err);
}

bool decode_stats(std::span<const std::uint8_t> data, std::map<std::string, StringMap>& out,
                  std::string* err) {
  mp::Reader r(data);
  std::uint32_t n = 0;
  bool ok = r.read_map_header(n, "stats");
  for (std::uint32_t i = 0; ok && i < n; ++i) {
    std::string section;
    ok = r.read_str(section, "stats") && read_string_map(r, out[section], "stats");
  }
  return finish(r, ok, "stats", err);
}

bool decode_query_record(std::span<const std::uint8_t> data, QueryRecord& out, std::string* err) {
  mp::Reader r(data);
  static constexpr std::string_view kOrder[] = {"Type", "From", "Payload"};
  const bool ok = mp::read_struct(r, "query record", kOrder, [&](std::string_view k) {
    if (k == "Type") return r.read_str(out.type, k) ? 1 : -1;
    if (k == "From") return r.read_str(out.from, k) ? 1 : -1;
    if (k == "Payload") return r.read_bytes(out.payload, k) ? 1 : -1;
    return 0;
  });
  return finish(r, ok, "query record", err);
}

}  // namespace haserf::wire::rpc
