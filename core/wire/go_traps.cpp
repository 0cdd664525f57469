// SPDX-License-Identifier: MIT
#include "core/wire/go_traps.hpp"

#include "core/wire/codec.hpp"
#include "core/wire/msgpack_reader.hpp"
#include "core/wire/msgpack_writer.hpp"

namespace haserf::wire {

namespace {

std::optional<std::string> incarnation_trap(std::uint32_t inc) {
  if (inc >= kMaxIncarnation) return "incarnation " + std::to_string(inc) + " near the 32-bit wrap";
  return std::nullopt;
}

// Node names end up in serf's -snapshot file one per line, event and query names in metric
// keys and logs: a newline there writes lines of the attacker's choosing (serf has no check).
std::optional<std::string> name_trap(std::string_view what, const std::string& name) {
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return std::string(what) + " with a control character";
  }
  return std::nullopt;
}

std::optional<std::string> ltime_trap(std::uint64_t ltime) {
  if (ltime >= kMaxLamportTime)
    return "Lamport time " + std::to_string(ltime) + " near the 64-bit wrap";
  return std::nullopt;
}

// memberlist 0.2.2 reads Vsn[0..5] of any non-empty Vsn (a shorter one panics), stores a
// missing one as all zeros (every later push/pull merge then fails "protocol version
// incompatible"), and checks every node's versions against the ranges of all others in each
// merge: one node announcing ranges that exclude the cluster's breaks merges everywhere.
std::optional<std::string> vsn_trap(const Bytes& vsn) {
  if (vsn.empty()) return "no Vsn (poisons every push/pull merge)";
  if (vsn.size() < 6) return "Vsn of " + std::to_string(vsn.size()) + " bytes (panics Go)";
  const auto in = [](std::uint8_t v, std::uint8_t lo, std::uint8_t hi) {
    return v >= lo && v <= hi;
  };
  const std::uint8_t pmin = vsn[0], pmax = vsn[1], pcur = vsn[2];
  const std::uint8_t dmin = vsn[3], dmax = vsn[4], dcur = vsn[5];
  // Ours (and every real serf's): protocol 1..5 speaking 2, delegate 2..5 speaking 5.
  if (pmin == 0 || pmin > pmax || !in(pcur, pmin, pmax) || dmin == 0 || dmin > dmax ||
      !in(dcur, dmin, dmax) || !in(kOurVsn[2], pmin, pmax) || !in(pcur, kOurVsn[0], kOurVsn[1]) ||
      !in(kOurVsn[5], dmin, dmax) || !in(dcur, kOurVsn[3], kOurVsn[4])) {
    return "Vsn " + std::to_string(pmin) + "/" + std::to_string(pmax) + "/" + std::to_string(pcur) +
           " " + std::to_string(dmin) + "/" + std::to_string(dmax) + "/" + std::to_string(dcur) +
           " incompatible with the cluster (breaks push/pull merges)";
  }
  return std::nullopt;
}

struct Filter {
  std::uint8_t type = 0;
  std::vector<std::string> nodes;  // type 0
  std::string tag, expr;           // type 1
};

// serf shouldProcessQuery indexes filter[0] of every filter (an empty one panics) and drops
// queries whose filters it cannot decode; relaying those helps nobody.
std::optional<std::string> parse_filter(const Bytes& f, Filter& out) {
  if (f.empty()) return "empty query filter (panics Go at filter[0])";
  mp::Reader r(std::span<const std::uint8_t>(f).subspan(1));
  out.type = f[0];
  switch (f[0]) {
    case 0: {  // node names
      std::uint32_t n = 0;
      if (!r.read_array_header(n, "node filter")) return "undecodable node filter";
      out.nodes.resize(n);
      for (auto& name : out.nodes) {
        if (!r.read_str(name, "node filter")) return "undecodable node filter";
      }
      return std::nullopt;
    }
    case 1: {  // tag regexp
      static constexpr std::string_view kOrder[] = {"Tag", "Expr"};
      const bool ok = mp::read_struct(r, "tag filter", kOrder, [&](std::string_view k) {
        if (k == "Tag") return r.read_str(out.tag, "Tag") ? 1 : -1;
        if (k == "Expr") return r.read_str(out.expr, "Expr") ? 1 : -1;
        return 0;
      });
      if (!ok) return "undecodable tag filter";
      return std::nullopt;
    }
    default:
      return "unknown query filter type " + std::to_string(f[0]);
  }
}

Bytes encode_filter(const Filter& f) {
  Bytes out{f.type};
  mp::Writer w(out);
  if (f.type == 0) {
    w.array(static_cast<std::uint32_t>(f.nodes.size()));
    for (const auto& n : f.nodes) w.str(n);
  } else {
    w.map(2);  // keys sorted, as go-msgpack writes struct fields
    w.str("Expr");
    w.str(f.expr);
    w.str("Tag");
    w.str(f.tag);
  }
  return out;
}

bool is_key_query(const std::string& name) {
  return name == "_serf_install-key" || name == "_serf_use-key" || name == "_serf_remove-key";
}

// `07` + keyRequest{Key}: serf decodes Payload[1:] before anything else.
std::optional<Bytes> parse_key_request(const std::optional<Bytes>& payload) {
  if (!payload || payload->empty() || (*payload)[0] != 7) return std::nullopt;
  mp::Reader r(std::span<const std::uint8_t>(*payload).subspan(1));
  static constexpr std::string_view kOrder[] = {"Key"};
  Bytes key;
  const bool ok = mp::read_struct(r, "keyRequest", kOrder, [&](std::string_view k) {
    if (k == "Key") return r.read_bytes(key, "Key") ? 1 : -1;
    return 0;
  });
  if (!ok) return std::nullopt;
  return key;
}

}  // namespace

// Serf decodes tags from Meta with go-msgpack 0.5.5 on every join and update: a 4 GiB string
// header inside a 9-byte Meta is as deadly there as anywhere (MP-1, MP-3).
std::optional<std::string> meta_trap(std::span<const std::uint8_t> meta) {
  if (meta.empty() || meta[0] != 0xff) return std::nullopt;  // legacy role string: raw bytes
  Tags tags;
  if (!decode_tags(meta, tags)) return std::string("meta: tags that do not decode");
  return std::nullopt;
}

std::optional<std::string> go_trap(const Alive& m) {
  if (auto t = name_trap("node name", m.Node)) return t;
  if (auto t = incarnation_trap(m.Incarnation)) return t;
  // Go stores its own bind port instead: a conflict wherever ports differ.
  if (m.Port == 0) return std::string("port 0");
  if (m.Meta) {
    if (auto t = meta_trap(*m.Meta)) return t;
  }
  return vsn_trap(m.Vsn);
}

std::optional<std::string> go_trap(const Suspect& m) {
  if (auto t = name_trap("node name", m.Node)) return t;
  if (auto t = name_trap("accuser name", m.From)) return t;
  return incarnation_trap(m.Incarnation);
}

std::optional<std::string> go_trap(const Dead& m) {
  if (auto t = name_trap("node name", m.Node)) return t;
  if (auto t = name_trap("accuser name", m.From)) return t;
  return incarnation_trap(m.Incarnation);
}

std::optional<std::string> go_trap(const PushNodeState& m) {
  if (auto t = name_trap("node name", m.Name)) return t;
  if (auto t = incarnation_trap(m.Incarnation)) return t;
  if (m.Port == 0) return std::string("port 0");
  if (auto t = meta_trap(m.Meta)) return t;
  return vsn_trap(m.Vsn);
}

std::optional<std::string> go_trap(const SerfJoin& m) {
  if (auto t = name_trap("node name", m.Node)) return t;
  return ltime_trap(m.LTime);
}

std::optional<std::string> go_trap(const SerfLeave& m) {
  if (auto t = name_trap("node name", m.Node)) return t;
  return ltime_trap(m.LTime);
}

std::optional<std::string> go_trap(const SerfUserEvent& m) {
  if (auto t = name_trap("event name", m.Name)) return t;
  return ltime_trap(m.LTime);
}

std::optional<std::string> go_trap(const SerfQuery& m) {
  if (auto t = ltime_trap(m.LTime)) return t;
  if (auto t = name_trap("query name", m.Name)) return t;
  if (auto t = name_trap("source node", m.SourceNode)) return t;
  for (const auto& f : m.Filters) {
    Filter parsed;
    if (auto t = parse_filter(f, parsed)) return t;
  }
  if (is_key_query(m.Name) && !parse_key_request(m.Payload)) {
    return "key query " + m.Name + " without a key request (panics Go at Payload[1:])";
  }
  return std::nullopt;
}

void normalize(SerfQuery& m) {
  for (auto& f : m.Filters) {
    Filter parsed;
    if (!parse_filter(f, parsed)) f = encode_filter(parsed);
  }
  if (is_key_query(m.Name)) {
    if (const auto key = parse_key_request(m.Payload)) {
      Bytes payload{7};
      mp::Writer w(payload);
      w.map(1);
      w.str("Key");
      w.bytes(*key);
      m.Payload = std::move(payload);
    }
  }
}

}  // namespace haserf::wire
