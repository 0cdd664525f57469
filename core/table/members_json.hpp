// SPDX-License-Identifier: MIT
// Reading and writing members in the JSON shape of `serf members -format=json`, and choosing
// which members a listing shows (filters and pages).
#pragma once

#include <cstddef>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
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

// Which members a listing shows (haserf.members, members.json, the HAProxy members page):
// every criterion that is set must hold. Listings filter and page here, on the snapshot, so a
// page of 100 out of 10,000 members converts 100 members, not 10,000.
struct MemberFilter {
  std::optional<MemberStatus> status;
  std::string name;              // a substring of the member's name; "" matches every name
  std::optional<bool> rejected;  // true: only members the policy rejects; false: only the others
  Tags tags;                     // each of these tags, with exactly this value
  std::string exclude;           // a name left out (our own node); "" leaves nobody out
  std::size_t offset = 0;        // matching members skipped, in name order
  std::size_t limit = std::numeric_limits<std::size_t>::max();  // most members returned
};

bool member_matches(const Member& member, const MemberFilter& filter);

struct MemberSelection {
  std::vector<MemberPtr> members;  // the matching members from `offset`, at most `limit`
  std::size_t matching = 0;        // all matching members, before offset and limit
  std::size_t total = 0;           // all members of the list, matching or not
};

// `members` in their order (a snapshot's: by name), filtered and paged.
MemberSelection select_members(const std::vector<MemberPtr>& members, const MemberFilter& filter);

}  // namespace haserf::table
