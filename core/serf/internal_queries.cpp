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

}  // namespace haserf::serf
