// SPDX-License-Identifier: MIT
// What fuzz_template and fuzz_partials share. The oracle: every text mstch renders must split
// into the tags core/render's check read (kind and name, in order). Where the two differ, mstch
// renders text the check never saw, and mstch's tokenizer has read out of bounds on such text.
// And the render: one member, options from the input's flags byte.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <template_type.hpp>  // mstch's tokenizer (third_party/mstch/CMakeLists.txt)
#include <vector>

#include "core/render/render.hpp"
#include "core/table/table.hpp"

namespace haserf::fuzz {

inline render::TagKind kind_of(mstch::token::type t) {
  using T = mstch::token::type;
  using render::TagKind;
  switch (t) {
    case T::variable:
      return TagKind::kVariable;
    case T::unescaped_variable:
      return TagKind::kUnescaped;
    case T::section_open:
      return TagKind::kSection;
    case T::inverted_section_open:
      return TagKind::kInverted;
    case T::section_close:
      return TagKind::kClose;
    case T::partial:
      return TagKind::kPartial;
    case T::comment:
      return TagKind::kComment;
    case T::delimiter_change:
      return TagKind::kDelimiters;
    case T::text:
      break;
  }
  std::abort();
}

[[noreturn]] inline void finding(const char* what, std::size_t tag, const std::string& detail) {
  std::fprintf(stderr, "mstch and the check disagree: %s at tag %zu: %s\n", what, tag,
               detail.c_str());
  std::abort();
}

// Aborts, saying where, when mstch reads other tags in `engine_text` than `tags`. Partial
// names are compared by `partial_ok(check_name, mstch_name)`: the loader renames them in the
// text it gives mstch.
template <typename PartialOk>
void expect_mstch_tags(const std::string& engine_text, const std::vector<render::Tag>& tags,
                       PartialOk partial_ok) {
  using render::TagKind;
  const mstch::template_type engine(engine_text);
  std::size_t i = 0;
  for (const auto& token : engine) {
    if (token.token_type() == mstch::token::type::text) continue;
    if (i >= tags.size()) finding("mstch reads more tags", i, token.raw());
    const auto& tag = tags[i];
    if (kind_of(token.token_type()) != tag.kind) finding("another kind", i, token.raw());
    if (tag.kind == TagKind::kPartial
            ? !partial_ok(tag.name, token.name())
            : tag.kind != TagKind::kComment && tag.kind != TagKind::kDelimiters &&
                  token.name() != tag.name) {
      finding("another name", i, "'" + tag.name + "' here, '" + token.name() + "' in mstch");
    }
    ++i;
  }
  if (i != tags.size()) finding("mstch reads fewer tags", i, std::to_string(tags.size()));
}

// Renders `t` with one member (web1, role=backend, port=80) and the options the flags byte
// picks: 1 --strict, 2 --escape html, 8 `data` as operator data (4: lenient partials, for
// the loader).
inline void render_with_flags(const render::LoadedTemplate& t, std::uint8_t flags,
                              const std::shared_ptr<const nlohmann::json>& data) {
  static table::MembershipTable* members = [] {
    auto* table = new table::MembershipTable();
    table::Member m;
    m.name = "web1";
    m.addr = "10.0.0.1";
    m.port = 7946;
    m.tags = {{"role", "backend"}, {"port", "80"}};
    table->join(m);
    return table;
  }();
  render::RenderOptions options;
  options.strict = flags & 1;
  options.escape = (flags & 2) ? render::Escape::kHtml : render::Escape::kNone;
  if (flags & 8) options.data = data;
  auto snap = members->snapshot();
  (void)render::render(t, snap.get(), {{"x", "y"}}, options);
}

}  // namespace haserf::fuzz
