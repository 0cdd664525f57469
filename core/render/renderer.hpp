// SPDX-License-Identifier: MIT
// Turns a membership snapshot (and/or operator data) into text, usually haproxy.cfg, with a
// mustache template rendered by mstch. The context is documented in docs/templates.md; keep
// the two in step.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/render/template.hpp"
#include "core/table/membership_table.hpp"

namespace haserf::render {

using Vars = std::map<std::string, std::string>;

enum class Escape {
  kNone,  // config files: values are validated instead (the default)
  kHtml,  // the mustache spec's {{name}}: & " ' < > escaped
};

struct RenderOptions {
  Escape escape = Escape::kNone;
  // An interpolated name ({{name}}, {{{name}}}, {{&name}}) that resolves to nothing fails the
  // render, naming file, line and name. Sections still test presence.
  bool strict = false;
  // Operator data (--data): an object merged into the context, or (without members) any JSON
  // value as the root context. Null: none.
  std::shared_ptr<const nlohmann::json> data;
};

struct RenderResult {
  std::string output;
  std::string error;                  // non-empty: nothing usable was rendered
  std::vector<std::string> warnings;  // members left out, and why
  std::size_t excluded = 0;           // members left out for unsafe values
  bool ok() const { return error.empty(); }
};

// Renders a loaded template. `snapshot` null: no members and no built-in names (the context is
// `data` and `vars` alone, as a plain mustache renderer). Never throws.
RenderResult render(const LoadedTemplate& tmpl, const table::Snapshot* snapshot, const Vars& vars,
                    const RenderOptions& options = {});

// An in-memory template without partial folders (the Lua module and the C API): loads, checks
// (errors name `template_name` and the line) and renders. Never throws.
RenderResult render(std::string_view template_text, std::string_view template_name,
                    const table::Snapshot& snapshot, const Vars& vars = {});

// Names the context reserves at top level when members are rendered; a --var or a --data key
// may not use them.
const std::vector<std::string>& reserved_context_names();

// Reads operator data (JSON) for RenderOptions::data: errors name `name` and say where.
// Objects nest at most 64 deep.
bool parse_data(std::string_view text, const std::string& name, nlohmann::json& out,
                std::string& error);
// Merges `more` into `into`: objects key by key, recursively; anything else replaces.
void merge_data(nlohmann::json& into, nlohmann::json more);

}  // namespace haserf::render
