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

// `08` + nodeKeyResponse{Keys: nil, Message, PrimaryKey: "", Result: false}.
wire::Bytes encode_key_failure(std::string_view message) {
  // Reserve first: growing a one-byte vector trips a GCC 12 -O3 -Warray-bounds false positive.
  wire::Bytes out;
  out.reserve(256);
  out.push_back(static_cast<std::uint8_t>(wire::SerfMsgType::kKeyResponse));
  wire::mp::Writer w(out);
  w.map(4);
  w.str("Keys");
  w.nil();
  w.str("Message");
  w.str(message);
  w.str("PrimaryKey");
  w.str("");
  w.str("Result");
  w.boolean(false);
  return out;
}

// serf decodes keyRequest{Key} from payload[1:] before anything else.
bool key_request_decodes(const wire::Bytes& payload) {
  if (payload.empty()) return false;
  wire::mp::Reader r(std::span<const std::uint8_t>(payload).subspan(1));
  static constexpr std::string_view kOrder[] = {"Key"};
  wire::Bytes key;
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
  // TODO(serf): a real keyring (install/use/remove/list) once memberlist exposes one. Without
  // encryption serf answers Result=false with these messages (an undecodable request gets an
  // empty message, as in Go).
  if (name == "_serf_install-key" || name == "_serf_use-key" || name == "_serf_remove-key") {
    const bool ok = key_request_decodes(q.payload);
    send_response(q, encode_key_failure(ok ? "No keyring to modify (encryption not enabled)" : ""),
                  nullptr);
    return;
  }
  if (name == "_serf_list-keys") {
    send_response(q, encode_key_failure("Keyring is empty (encryption not enabled)"), nullptr);
    return;
  }
  ++stats_.queries_unhandled;
}

}  // namespace haserf::serf
