// Which member values may be interpolated into an HAProxy config line.
//
// HAProxy splits config lines on spaces, treats '#' as a comment and interprets quotes and
// backslashes, so a tag such as `eu west` or `x # y` could silently change the config. Each
// field has an allow-list charset (docs/templates.md); a member with any value outside it is
// left out of the render and reported, never interpolated.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/table/membership_table.hpp"

namespace haserf::render {

// Node names: HAProxy identifier characters. 1..128 bytes.
bool is_safe_name(std::string_view s);
// Tag keys: identifier characters plus '/', 1..128 bytes.
bool is_safe_tag_key(std::string_view s);
// Tag values: identifier characters plus / @ + = , ; 0..512 bytes.
bool is_safe_tag_value(std::string_view s);
// Addresses: a textual IPv4 or IPv6 address (inet_pton accepts it).
bool is_safe_addr(std::string_view s);
// User variables come from the operator, not the network: only control characters
// (which would break the line structure) are refused.
bool is_safe_var_value(std::string_view s);

struct UnsafeField {
  std::string field;  // "name", "addr", "tags.zone", "tag key \"a b\""
  std::string value;  // printable rendition of the offending value (escaped)
};

// The first field of `m` that may not be interpolated, if any.
std::optional<UnsafeField> find_unsafe_field(const table::Member& m);

// Escapes non-printable bytes as \xNN so a value can be shown in a log line.
std::string printable(std::string_view s);

}  // namespace haserf::render
