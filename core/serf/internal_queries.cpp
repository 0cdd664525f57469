// SPDX-License-Identifier: MIT
// serf's internal queries (§7.10): `_serf_ping`, `_serf_conflict` and the key queries.
// They never reach the application handler.
#include "core/serf/serf.hpp"
#include "core/wire/codec.hpp"
#include "core/wire/msgpack_reader.hpp"
#include "core/wire/msgpack_writer.hpp"

namespace haserf::serf {

namespace {

// `06` + msgpack Member (keys sorted as go-msgpack writes struct fields), or `06 c0`.
wire::Bytes encode_conflict_response(const MemberState* m) {
  // Reserve first: growing a one-byte vector trips a GCC 12 -O3 -Warray-bounds false positive.
  wire::Bytes out;
  out.reserve(256);
  out.push_back(static_cast<std::uint8_t>(wire::SerfMsgType::kConflictResponse));
  wire::mp::Writer w(out);
  if (m == nullptr) {
    w.nil();
    return out;
  }
  const auto v = [&](std::size_t i) -> std::uint8_t { return i < m->vsn.size() ? m->vsn[i] : 0; };
  w.map(11);
  w.str("Addr");
  w.bytes(m->addr);
  w.str("DelegateCur");
  w.uint(v(5));
  w.str("DelegateMax");
  w.uint(v(4));
  w.str("DelegateMin");
  w.uint(v(3));
  w.str("Name");
  w.str(m->name);
  w.str("Port");
  w.uint(m->port);
  w.str("ProtocolCur");
  w.uint(v(2));
  w.str("ProtocolMax");
  w.uint(v(1));
  w.str("ProtocolMin");
  w.uint(v(0));
  w.str("Status");
  w.uint(static_cast<std::uint8_t>(m->status));
  w.str("Tags");
  w.map(static_cast<std::uint32_t>(m->tags.size()));
  for (const auto& [k, val] : m->tags) {
    w.str(k);
    w.str(val);
  }
  return out;
}

// `08` + nodeKeyResponse{Keys, Message, PrimaryKey, Result}: fields in go-msgpack's order.
wire::Bytes encode_key_response(bool result, std::string_view message,
                                const std::vector<std::string>* keys, std::string_view primary) {
  // Reserve first: growing a one-byte vector trips a GCC 12 -O3 -Warray-bounds false positive.
  wire::Bytes out;
  out.reserve(256);
  out.push_back(static_cast<std::uint8_t>(wire::SerfMsgType::kKeyResponse));
  wire::mp::Writer w(out);
  w.map(4);
  w.str("Keys");
  if (keys == nullptr) {
    w.nil();
  } else {
    w.array(static_cast<std::uint32_t>(keys->size()));
    for (const auto& k : *keys) w.str(k);
  }
  w.str("Message");
  w.str(message);
  w.str("PrimaryKey");
  w.str(primary);
  w.str("Result");
  w.boolean(result);
  return out;
}

wire::Bytes encode_key_failure(std::string_view message) {
  return encode_key_response(false, message, nullptr, "");
}

// serf decodes keyRequest{Key} from payload[1:] before anything else.
bool decode_key_request(const wire::Bytes& payload, wire::Bytes& key) {
  if (payload.empty()) return false;
  wire::mp::Reader r(std::span<const std::uint8_t>(payload).subspan(1));
  static constexpr std::string_view kOrder[] = {"Key"};
  return wire::mp::read_struct(r, "keyRequest", kOrder, [&](std::string_view k) {
    if (k == "Key") return r.read_bytes(key, "Key") ? 1 : -1;
    return 0;
  });
}

// Go's net.IP.Equal: a 4-byte IPv4 address equals its 16-byte IPv4-mapped form.
bool same_ip(const wire::Bytes& a, const wire::Bytes& b) {
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  const auto v4 = [](const wire::Bytes& ip) -> std::optional<wire::Bytes> {
    if (ip.size() == 4) return ip;
    if (ip.size() == 16 && std::equal(ip.begin(), ip.begin() + 12, kMapped)) {
      return wire::Bytes(ip.begin() + 12, ip.end());
    }
    return std::nullopt;
  };
  const auto a4 = v4(a), b4 = v4(b);
  if (a4 || b4) return a4 && b4 && *a4 == *b4;
  return a == b;
}

}  // namespace

void Serf::handle_internal_query(const Query& q) {
  const std::string_view name = q.name;
  if (name == "_serf_ping") return;  // the ack was all it wanted
  if (name == "_serf_conflict") {
    // Payload is a node name; a query about us is not ours to answer.
    const std::string node(q.payload.begin(), q.payload.end());
    if (node == config_.node_name) return;
    send_response(q, encode_conflict_response(member(node)), nullptr);
    return;
  }
  if (name == "_serf_install-key" || name == "_serf_use-key" || name == "_serf_remove-key") {
    handle_key_change(q);
    return;
  }
  if (name == "_serf_list-keys") {
    handle_list_keys(q);
    return;
  }
  ++stats_.queries_unhandled;
}

// serf handleInstallKey/UseKey/RemoveKey: an undecodable request gets an empty failure; an
// error of the keyring or of persisting it is the response's Message.
void Serf::handle_key_change(const Query& q) {
  wire::Bytes key;
  if (!decode_key_request(q.payload, key)) {
    ++stats_.key_queries_failed;
    send_response(q, encode_key_failure(""), nullptr);
    return;
  }
  if (config_.keyring == nullptr || !config_.keyring->enabled()) {
    ++stats_.key_queries_failed;
    send_response(q, encode_key_failure("No keyring to modify (encryption not enabled)"), nullptr);
    return;
  }
  std::string err;
  bool ok = false;
  if (q.name == "_serf_install-key") {
    ok = config_.keyring->add(key, &err);
  } else if (q.name == "_serf_use-key") {
    ok = config_.keyring->use(key, &err);
  } else {
    ok = config_.keyring->remove(key, &err);
  }
  if (ok && config_.keyring_changed) ok = config_.keyring_changed(*config_.keyring, &err);
  ok ? ++stats_.key_queries_applied : ++stats_.key_queries_failed;
  send_response(q, ok ? encode_key_response(true, "", nullptr, "") : encode_key_failure(err),
                nullptr);
}

// serf handleListKeys: base64 keys, primary first; the list is cut until the response fits
// query_response_size_limit, and the Message says so.
void Serf::handle_list_keys(const Query& q) {
  if (config_.keyring == nullptr || !config_.keyring->enabled()) {
    send_response(q, encode_key_failure("Keyring is empty (encryption not enabled)"), nullptr);
    return;
  }
  std::vector<std::string> keys;
  for (const auto& k : config_.keyring->keys) keys.push_back(wire::key_to_base64(k));
  const std::string primary = keys.front();
  const std::size_t total = keys.size();
  std::string message;
  for (;;) {
    std::string err;
    if (send_response(q, encode_key_response(true, message, &keys, primary), &err)) return;
    if (keys.empty() || err.find("exceeds limit") == std::string::npos) return;
    keys.pop_back();
    message = "truncated key list response, showing first " + std::to_string(keys.size()) + " of " +
              std::to_string(total) + " keys";
  }
}

// serf handleNodeConflict / resolveNodeConflict: ask everyone what they know under our name;
// if fewer than a majority of the answers hold our address, we are the impostor.
void Serf::notify_conflict(const swim::NodeInfo& existing, const swim::NodeInfo& other) {
  if (existing.name != config_.node_name) {
    ++stats_.name_conflicts_others;
    return;
  }
  ++stats_.name_conflicts;
  if (!config_.enable_name_conflict_resolution || resolving_conflict_ ||
      state_ != SerfState::kAlive) {
    return;
  }
  const auto now = sched_.now();
  if (stats_.conflict_resolutions > 0 &&
      now - last_conflict_resolution_ < config_.conflict_resolution_interval) {
    return;
  }
  resolving_conflict_ = true;
  last_conflict_resolution_ = now;
  ++stats_.conflict_resolutions;
  const swim::NodeInfo local = memberlist_ != nullptr ? memberlist_->local_node() : existing;
  const std::string claimant = swim::to_string(other.address());
  auto counts = std::make_shared<std::pair<int, int>>(0, 0);  // (responses, matching)
  QueryCallbacks cb;
  cb.response = [counts, local](const std::string&, const wire::Bytes& payload) {
    if (payload.empty() ||
        payload[0] != static_cast<std::uint8_t>(wire::SerfMsgType::kConflictResponse)) {
      return;
    }
    // `06 c0` (the node knows nobody by that name) counts as an answer that is not ours: Go
    // decodes nil into an empty Member without error.
    if (payload.size() == 2 && payload[1] == 0xc0) {
      ++counts->first;
      return;
    }
    wire::mp::Reader r(std::span<const std::uint8_t>(payload).subspan(1));
    wire::Bytes addr;
    std::uint64_t port = 0;
    static constexpr std::string_view kOrder[] = {"Name", "Addr", "Port"};
    const bool ok = wire::mp::read_struct(r, "Member", kOrder, [&](std::string_view k) {
      if (k == "Addr") return r.read_bytes(addr, k) ? 1 : -1;
      if (k == "Port") return r.read_u64(port, k) ? 1 : -1;
      return 0;
    });
    if (!ok) return;  // undecodable: not counted (Go logs and skips it)
    ++counts->first;
    if (same_ip(addr, local.addr) && port == local.port) ++counts->second;
  };
  cb.done = [this, counts, claimant](int, int) {
    resolving_conflict_ = false;
    const int responses = counts->first, matching = counts->second;
    if (matching >= responses / 2 + 1) return;  // the majority knows us: the other one goes
    if (conflict_lost_) {
      conflict_lost_("name conflict: " + claimant + " also claims the name '" + config_.node_name +
                     "', and the cluster sides with it (" + std::to_string(matching) + " of " +
                     std::to_string(responses) + " answers know our address)");
    }
  };
  const std::string& name = config_.node_name;
  if (!query("_serf_conflict", wire::Bytes(name.begin(), name.end()), QueryParams{},
             std::move(cb))) {
    resolving_conflict_ = false;
  }
}

}  // namespace haserf::serf
