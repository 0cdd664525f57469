// SPDX-License-Identifier: MIT
// Query filters (§7.3, §7.10): `00` + msgpack array of node names, `01` + map{Expr, Tag}.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/wire/messages.hpp"

namespace haserf::serf {

wire::Bytes encode_node_filter(const std::vector<std::string>& nodes);
wire::Bytes encode_tag_filter(std::string_view tag, std::string_view expr);

struct RegexLimits {
  std::size_t max_length = 256;
  std::size_t max_repeat = 1000;  // product of all {n,m} counts
};

enum class FilterResult : std::uint8_t { kMatch, kNoMatch, kInvalid };

// One filter against our name and tags, as serf's shouldProcessQuery: node filter = our name
// listed; tag filter = Go regexp.MatchString(Expr, tags[Tag]), i.e. an unanchored search (a
// missing tag is matched as ""). kInvalid (undecodable, unknown type, bad or oversized
// regexp) means "does not match" to the caller, as in Go.
FilterResult match_filter(std::span<const std::uint8_t> filter, std::string_view node_name,
                          const wire::Tags& tags, const RegexLimits& limits);

// Unanchored ECMAScript search of `expr` in `value`. Returns kInvalid for patterns std::regex
// rejects or that exceed `limits`. RE2-only syntax (\pL, (?i), (?P<n>...)) is not supported.
FilterResult regex_search_limited(std::string_view expr, std::string_view value,
                                  const RegexLimits& limits);

}  // namespace haserf::serf
