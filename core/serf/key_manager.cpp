// SPDX-License-Identifier: MIT
// serf's KeyManager arithmetic (key_manager.hpp).
#include "core/serf/key_manager.hpp"

#include "core/wire/codec.hpp"
#include "core/wire/msgpack_reader.hpp"
#include "core/wire/msgpack_writer.hpp"

namespace haserf::serf {

std::string key_query_name(KeyOp op) {
  switch (op) {
    case KeyOp::kInstall:
      return "_serf_install-key";
    case KeyOp::kUse:
      return "_serf_use-key";
    case KeyOp::kRemove:
      return "_serf_remove-key";
    case KeyOp::kList:
      break;
  }
  return "_serf_list-keys";
}

wire::Bytes key_query_payload(KeyOp op, const wire::Bytes& key) {
  // Body first, then the type byte in front (GCC 14 misreads a writer appending to a
  // one-byte vector as an out-of-bounds copy, -Warray-bounds).
  wire::Bytes body;
  wire::mp::Writer w(body);
  w.map(1);
  w.str("Key");
  w.bytes(op == KeyOp::kList ? wire::Bytes{} : key);
  return wire::prefixed(static_cast<std::uint8_t>(wire::SerfMsgType::kKeyRequest), body);
}

bool decode_key_answer(const wire::Bytes& payload, KeyAnswer& out) {
  if (payload.empty() || payload[0] != static_cast<std::uint8_t>(wire::SerfMsgType::kKeyResponse)) {
    return false;
  }
  wire::mp::Reader r(std::span<const std::uint8_t>(payload).subspan(1));
  static constexpr std::string_view kOrder[] = {"Result", "Message", "Keys", "PrimaryKey"};
  return wire::mp::read_struct(r, "nodeKeyResponse", kOrder, [&](std::string_view k) {
    if (k == "Result") return r.read_bool(out.result, k) ? 1 : -1;
    if (k == "Message") return r.read_str(out.message, k) ? 1 : -1;
    if (k == "PrimaryKey") return r.read_str(out.primary, k) ? 1 : -1;
    if (k == "Keys") {
      std::uint32_t n = 0;  // nil reads as an empty array
      if (!r.read_array_header(n, k)) return -1;
      out.keys.resize(n);
      for (auto& key : out.keys) {
        if (!r.read_str(key, k)) return -1;
      }
      return 1;
    }
    return 0;
  });
}

void add_key_answer(KeyResult& result, const std::string& from, const wire::Bytes& payload) {
  ++result.num_resp;
  KeyAnswer a;
  if (!decode_key_answer(payload, a)) {
    result.messages[from] = "Failed to decode key query response";
    ++result.num_err;
    return;
  }
  if (!a.result) {
    result.messages[from] = a.message;
    ++result.num_err;
  } else if (!a.message.empty()) {
    result.messages[from] = a.message;
  }
  for (const auto& k : a.keys) ++result.keys[k];
  ++result.primary_keys[a.primary];
}

std::string key_result_error(const KeyResult& result) {
  if (result.num_err != 0) {
    return std::to_string(result.num_err) + "/" + std::to_string(result.num_nodes) +
           " nodes reported failure";
  }
  if (result.num_resp != result.num_nodes) {
    return std::to_string(result.num_resp) + "/" + std::to_string(result.num_nodes) +
           " nodes reported success";
  }
  return {};
}

}  // namespace haserf::serf
