// Mustache syntax check. mstch renders malformed templates silently (an unclosed section
// renders nothing), which would produce an empty haproxy.cfg; so every template is checked
// first and refused with a file:line message.
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
