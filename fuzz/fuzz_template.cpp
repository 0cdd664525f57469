// SPDX-License-Identifier: MIT
// Templates are operator input, but a typo must give an error, never a crash. The first byte
// picks the options (--strict, --escape html, lenient partials), the rest is the template.
// Every template the check accepts must also split into the same tags in mstch's own
// tokenizer: where the two differ, mstch renders text the check never saw.
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/render/render.hpp"
#include "fuzz/mstch_tags.hpp"

namespace {

// Aborts (a finding) when the check accepts `text` but mstch reads other tags in it.
void same_tags_as_mstch(const std::string& text) {
  const auto parsed = haserf::render::parse_template(text);
  if (parsed.error) return;
  haserf::fuzz::expect_mstch_tags(
      text, parsed.tags, [](const std::string& a, const std::string& b) { return a == b; });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto json = std::make_shared<nlohmann::json>(
      nlohmann::json::parse(R"({"a":{"b":[1,2.5,"x",null,true,{"c":"d"}]},"e":""})"));
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  haserf::render::TemplateOptions topts;
  topts.search_template_dir = false;
  topts.missing_partial_is_error = (flags & 4) == 0;
  same_tags_as_mstch(std::string(text));
  auto loaded = haserf::render::load_template(std::string(text), "fuzz", topts);
  if (!loaded.ok()) return 0;
  haserf::fuzz::render_with_flags(*loaded.tmpl, flags, json);
  return 0;
}
