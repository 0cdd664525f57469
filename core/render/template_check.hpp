// Mustache syntax check with line numbers: people fix templates by line, and the engine
// only reports byte offsets. Every template is checked first and refused with a file:line
// message, so a broken template never produces a half-empty haproxy.cfg.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace haserf::render {

struct TemplateError {
  std::size_t line = 0;  // 1-based
  std::string message;
};

// Checks tags, section nesting and delimiter changes. Partials are refused (haserf renders
// one self-contained template).
std::optional<TemplateError> check_template(std::string_view text);

}  // namespace haserf::render
