// SPDX-License-Identifier: MIT
// Which members may be routed and rendered: one policy for every consumer (the renderer, the
// HAProxy glue's slots, the Lua and C APIs, the members page and JSON).
//
// HAProxy splits config lines on spaces, treats '#' as a comment and interprets quotes and
// backslashes, so a tag such as `eu west` or `x # y` could silently change a rendered config,
// and a `port` tag of `abc` must never become a server on some default port. A member with any
// field outside its allow-list (docs/templates.md "Member validation"), or whose port or
// weight tag is not a number in range, is rejected: it keeps its place in the table (and
// shows there with the reason) but is routed nowhere and rendered nowhere.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace haserf::table {

struct Member;

struct MemberPolicy {
  std::string port_tag = "port";      // when present: a decimal port 1-65535
  std::string weight_tag = "weight";  // when present: a decimal weight 0-256
  bool require_port = false;          // a member without the port tag is rejected too
  bool operator==(const MemberPolicy&) const = default;
};

// Node names: HAProxy identifier characters (letters, digits, - _ . :). 1..128 bytes.
bool is_safe_name(std::string_view s);
// Tag keys: identifier characters plus '/', 1..128 bytes.
bool is_safe_tag_key(std::string_view s);
// Tag values: identifier characters plus / @ + = , 0..512 bytes.
bool is_safe_tag_value(std::string_view s);
// Addresses: a textual IPv4 or IPv6 address (inet_pton accepts it).
bool is_safe_addr(std::string_view s);
// A decimal integer in [lo, hi], no sign, no spaces, no leading zeros beyond "0".
bool is_decimal_in(std::string_view s, long lo, long hi);

// Why `m` may not be routed or rendered, as one line ("field tags.port is not a port (1-65535):
// \"abc\""), or nullopt when it may.
std::optional<std::string> reject_reason(const Member& m, const MemberPolicy& policy);

// Escapes non-printable bytes, '\\' and '"' as \xNN so a value can be shown in a log line.
std::string printable(std::string_view s);

}  // namespace haserf::table
