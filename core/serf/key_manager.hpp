// SPDX-License-Identifier: MIT
// serf's KeyManager on top of our queries: the `_serf_*-key(s)` query a key operation sends,
// and how the answers add up (serf 0.9.4 keymanager.go's rules), for `haserf keys` and the
// RPC key commands alike.
#pragma once

#include <map>
#include <string>

#include "core/wire/messages.hpp"

namespace haserf::serf {

enum class KeyOp { kInstall, kUse, kRemove, kList };

std::string key_query_name(KeyOp op);  // "_serf_install-key", ..., "_serf_list-keys"
// Type byte + msgpack keyRequest{Key: raw key} (an empty key for a list).
wire::Bytes key_query_payload(KeyOp op, const wire::Bytes& key);

// One member's answer (nodeKeyResponse).
struct KeyAnswer {
  bool result = false;
  std::string message;
  std::vector<std::string> keys;
  std::string primary;
};
bool decode_key_answer(const wire::Bytes& payload, KeyAnswer& out);

// The answers so far (serf KeyResponse).
struct KeyResult {
  std::map<std::string, std::string> messages;  // node -> error or warning
  std::map<std::string, int> keys;              // key -> members holding it
  std::map<std::string, int> primary_keys;      // key -> members using it as primary
  int num_nodes = 0;  // members when the query went out (memberlist's count, us included)
  int num_resp = 0;
  int num_err = 0;
};
void add_key_answer(KeyResult& result, const std::string& from, const wire::Bytes& payload);
// serf's verdict: "" on success, else "N/M nodes reported failure|success".
std::string key_result_error(const KeyResult& result);

}  // namespace haserf::serf
