// SPDX-License-Identifier: MIT
// Mustache tokenizer and syntax check with line numbers: people fix templates by line, and
// mstch reports nothing (it renders what it can). Every template and partial is parsed here
// first and refused with a FILE:LINE message, so a broken template never produces a
// half-empty haproxy.cfg. The tag list also drives what mstch cannot do for us: loading
// partials, bounding their recursion, --strict and building only the context a template uses.
// It splits tags exactly where mstch does and refuses any text mstch would split otherwise:
// mstch would render tags nobody checked, and reads out of bounds on some (fuzz_template
// checks both agree on every template it accepts).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace haserf::render {

struct TemplateError {
  std::size_t line = 0;  // 1-based
  std::string message;
};

enum class TagKind {
  kVariable,    // {{name}}: escaped when escaping is on
  kUnescaped,   // {{{name}}} and {{&name}}
  kSection,     // {{#name}}
  kInverted,    // {{^name}}
  kClose,       // {{/name}}
  kPartial,     // {{>name}}
  kComment,     // {{! ...}}
  kDelimiters,  // {{=<% %>=}}
};

struct Tag {
  TagKind kind = TagKind::kVariable;
  std::string name;       // trimmed; empty for comments and delimiter changes
  std::size_t line = 0;   // 1-based line of the opening delimiter
  std::size_t begin = 0;  // byte span of the whole tag in the text, delimiters included
  std::size_t end = 0;
  std::string open, close;  // the delimiters in force for this tag
  std::size_t match = 0;    // sections: index of the closing tag; close tags: of the opening
};

struct ParsedTemplate {
  std::vector<Tag> tags;
  std::optional<TemplateError> error;
};

// Sections may nest this deep (each level is a recursion in the engine).
constexpr std::size_t kMaxSectionDepth = 100;

// Tags in order, sections matched. Partial names are checked to be [A-Za-z0-9_.-/]
// without '..' or a leading '/' (they name files).
ParsedTemplate parse_template(std::string_view text);

// parse_template's error alone.
std::optional<TemplateError> check_template(std::string_view text);

}  // namespace haserf::render
