// SPDX-License-Identifier: MIT
#include "core/serf/filters.hpp"

#include <algorithm>
#include <regex>

#include "core/wire/msgpack_reader.hpp"
#include "core/wire/msgpack_writer.hpp"

namespace haserf::serf {

namespace {

constexpr std::uint8_t kNodeFilter = 0;
constexpr std::uint8_t kTagFilter = 1;

// std::regex compiles counted repetitions by copying the sub-automaton, so `(a{999}){999}`
// would allocate ~10^6 states; RE2 refuses such programs. Bound the product of all counts
// (treating them as possibly nested) and ignore escaped braces.
bool repeat_within(std::string_view expr, std::size_t max_repeat) {
  std::size_t product = 1;
  for (std::size_t i = 0; i < expr.size(); ++i) {
    if (expr[i] == '\\') {
      ++i;
      continue;
    }
    if (expr[i] != '{') continue;
    std::size_t j = i + 1;
    std::size_t biggest = 0;
    std::size_t current = 0;
    bool digits = false;
    for (; j < expr.size(); ++j) {
      const char c = expr[j];
      if (c >= '0' && c <= '9') {
        digits = true;
        current = current * 10 + static_cast<std::size_t>(c - '0');
        if (current > max_repeat) return false;
      } else if (c == ',') {
        biggest = std::max(biggest, current);
        current = 0;
      } else {
        break;
      }
    }
    if (!digits || j >= expr.size() || expr[j] != '}') continue;  // a literal brace
    biggest = std::max({biggest, current, std::size_t{1}});
    product *= biggest;
    if (product > max_repeat) return false;
    i = j;
  }
  return true;
}

}  // namespace

wire::Bytes encode_node_filter(const std::vector<std::string>& nodes) {
  wire::Bytes out{kNodeFilter};
  wire::mp::Writer w(out);
  w.array(static_cast<std::uint32_t>(nodes.size()));
  for (const auto& n : nodes) w.str(n);
  return out;
}

wire::Bytes encode_tag_filter(std::string_view tag, std::string_view expr) {
  wire::Bytes out{kTagFilter};
  wire::mp::Writer w(out);
  w.map(2);  // keys sorted, as go-msgpack writes struct fields
  w.str("Expr");
  w.str(expr);
  w.str("Tag");
  w.str(tag);
  return out;
}

FilterResult regex_search_limited(std::string_view expr, std::string_view value,
                                  const RegexLimits& limits) {
  if (expr.size() > limits.max_length || !repeat_within(expr, limits.max_repeat)) {
    return FilterResult::kInvalid;
  }
  try {
    auto flags = std::regex::ECMAScript;
#ifdef __GLIBCXX__
    // libstdc++ extension: Thompson-NFA (BFS) execution, polynomial time and no recursion per
    // input character; rejects back-references, which RE2 does not have either.
    flags |= std::regex_constants::__polynomial;
#endif
    const std::regex re(expr.begin(), expr.end(), flags);
    return std::regex_search(value.begin(), value.end(), re) ? FilterResult::kMatch
                                                             : FilterResult::kNoMatch;
  } catch (const std::exception&) {  // regex_error, or bad_alloc on a pathological pattern
    return FilterResult::kInvalid;
  }
}

FilterResult match_filter(std::span<const std::uint8_t> filter, std::string_view node_name,
                          const wire::Tags& tags, const RegexLimits& limits) {
  if (filter.empty()) return FilterResult::kInvalid;  // Go would index filter[0] and panic
  wire::mp::Reader r(filter.subspan(1));
  switch (filter[0]) {
    case kNodeFilter: {
      std::uint32_t n = 0;
      if (!r.read_array_header(n, "node filter")) return FilterResult::kInvalid;
      bool found = false;
      for (std::uint32_t i = 0; i < n; ++i) {
        std::string name;
        if (!r.read_str(name, "node filter")) return FilterResult::kInvalid;
        if (name == node_name) found = true;
      }
      return found ? FilterResult::kMatch : FilterResult::kNoMatch;
    }
    case kTagFilter: {
      std::string tag, expr;
      static constexpr std::string_view kOrder[] = {"Tag", "Expr"};
      const bool ok = wire::mp::read_struct(r, "tag filter", kOrder, [&](std::string_view k) {
        if (k == "Tag") return r.read_str(tag, "Tag") ? 1 : -1;
        if (k == "Expr") return r.read_str(expr, "Expr") ? 1 : -1;
        return 0;
      });
      if (!ok) return FilterResult::kInvalid;
      const auto it = tags.find(tag);
      return regex_search_limited(expr, it == tags.end() ? std::string_view{} : it->second, limits);
    }
    default:
      return FilterResult::kInvalid;
  }
}

}  // namespace haserf::serf
