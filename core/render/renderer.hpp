// Turns a membership snapshot into text (usually haproxy.cfg) with a mustache template.
// The context is documented in docs/templates.md; keep the two in step.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/table/membership_table.hpp"

namespace haserf::render {

using Vars = std::map<std::string, std::string>;

struct RenderResult {
  std::string output;
  std::string error;                  // non-empty: nothing usable was rendered
  std::vector<std::string> warnings;  // members left out, and why
  std::size_t excluded = 0;           // members left out for unsafe values
  bool ok() const { return error.empty(); }
};

// Checks the template (errors name `template_name` and the line), builds the context from
// `snapshot` and `vars`, and renders. Never throws.
RenderResult render(std::string_view template_text, std::string_view template_name,
                    const table::Snapshot& snapshot, const Vars& vars = {});

// Names the context reserves at top level; a --var may not use them.
const std::vector<std::string>& reserved_context_names();

}  // namespace haserf::render
