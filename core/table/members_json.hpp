// SPDX-License-Identifier: MIT
// Reading and writing members in the JSON shape of `serf members -format=json`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/table/membership_table.hpp"

namespace haserf::table {

struct ParseMembersResult {
  std::vector<Member> members;
  std::string error;  // empty on success; otherwise one line naming source, position and field
  bool ok() const { return error.empty(); }
};

// Accepts exactly `serf members -format=json` output ({"members":[...]}) or a plain JSON array
// of member objects. `addr` may be "ip", "ip:port" or "[v6]:port"; `port` wins when both are
// given. Unknown keys are ignored; known keys with a wrong type are an error. `source` names
// the input in error messages (usually the file path).
ParseMembersResult parse_members_json(std::string_view text, std::string_view source);

// The inverse: {"members":[...]} with name, addr ("ip:port"), port, tags, status, protocol,
// pretty-printed with two-space indent like serf does.
std::string members_to_json(const std::vector<MemberPtr>& members);

// One member as `serf members -format=json` shows it (name, addr, port, tags, status,
// protocol, in serf's key order), plus "rejected": "reason" for a member the table's
// MemberPolicy keeps out of routing and renders.
nlohmann::ordered_json member_to_json(const Member& member);

// "[v6]:port" for IPv6, "ip:port" otherwise.
std::string host_port(const std::string& addr, std::uint16_t port);

}  // namespace haserf::table
