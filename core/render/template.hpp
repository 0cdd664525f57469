// SPDX-License-Identifier: MIT
// A template with its partials, loaded and checked once, then rendered any number of times
// (haserf render --watch, the HAProxy reload job). Immutable after loading: share it freely.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/render/template_check.hpp"

namespace haserf::render {

// Partials ({{> name}}) may include partials this deep; a deeper one fails the render. The
// spec's recursive cases need 3; every level is a recursion in the engine.
constexpr std::size_t kMaxPartialDepth = 10;
// Partial copies one pass over the template may reach, counting each tag once: beyond it the
// template is refused. Partials that include each other several times grow exponentially
// with the depth (fuzz_partials ran out of 2 GiB on one); sections over members multiply
// what is left, as they do without partials.
constexpr std::uint64_t kMaxPartialExpansions = 100000;

struct TemplateOptions {
  // Folders searched for NAME.mustache, in order, before the template's own folder.
  std::vector<std::string> partial_dirs;
  // Also search the folder of the template's path (not for in-memory templates).
  bool search_template_dir = true;
  // A partial found nowhere: an error naming file and line (default), or the empty string
  // as the mustache spec says (--missing-partial empty).
  bool missing_partial_is_error = true;
};

// One source text: the template or a partial.
struct TemplateSource {
  std::string path;  // for messages: the template's name, or the partial's file
  std::string text;
  std::vector<Tag> tags;
};

class LoadedTemplate {
 public:
  const TemplateSource& main() const { return main_; }
  // Partials by name (only those found).
  const std::map<std::string, TemplateSource>& partials() const { return partials_; }
  // Every name segment any tag uses ("tags.port" gives "tags" and "port"): the context
  // builder leaves out what no tag can reach.
  bool uses(const std::string& segment) const { return names_.count(segment) != 0; }
  // Names a tag starts with ("tags" of "tags.port"): only these are looked up through the
  // context stack, so only these can reach a member's own fields.
  bool uses_first(const std::string& segment) const { return first_names_.count(segment) != 0; }
  // What mstch renders: the texts with partial tags renamed to depth-numbered copies
  // (NAME@DEPTH), so that recursion ends at kMaxPartialDepth with `depth_marker_`.
  const std::string& engine_text() const { return engine_text_; }
  const std::map<std::string, std::string>& engine_partials() const { return engine_partials_; }
  const std::string& depth_marker() const { return depth_marker_; }

 private:
  friend struct TemplateLoader;
  TemplateSource main_;
  std::map<std::string, TemplateSource> partials_;
  std::set<std::string> names_;
  std::set<std::string> first_names_;
  std::string engine_text_;
  std::map<std::string, std::string> engine_partials_;
  std::string depth_marker_;
};

struct LoadResult {
  std::shared_ptr<const LoadedTemplate> tmpl;
  std::string error;  // "FILE:LINE: message"
  bool ok() const { return tmpl != nullptr; }
};

// Parses `text` (named `path`: a file path, or a label for an in-memory template), then loads
// and parses every partial it reaches. Never throws.
LoadResult load_template(std::string text, std::string path, const TemplateOptions& options);

}  // namespace haserf::render
