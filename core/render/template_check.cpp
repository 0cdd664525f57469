#include "core/render/template_check.hpp"

#include <algorithm>
#include <vector>

namespace haserf::render {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::size_t line_of(std::string_view text, std::size_t pos) {
  return 1 + static_cast<std::size_t>(
                 std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
}

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '{' || c == '}';
  });
}

}  // namespace

std::optional<TemplateError> check_template(std::string_view text) {
  std::string open = "{{", close = "}}";
  struct Open {
    std::string name;
    std::size_t line;
  };
  std::vector<Open> sections;
  std::size_t pos = 0;
  while (true) {
    const std::size_t start = text.find(open, pos);
    if (start == std::string_view::npos) break;
    const std::size_t line = line_of(text, start);
    std::size_t inner = start + open.size();
    // Triple mustache {{{name}}} only exists with the default delimiters.
    const bool triple = open == "{{" && inner < text.size() && text[inner] == '{';
    const std::string end_marker = triple ? "}" + close : close;
    if (triple) ++inner;
    const std::size_t end = text.find(end_marker, inner);
    if (end == std::string_view::npos) {
      return TemplateError{line, "unclosed tag '" + open + "' (no matching '" + end_marker + "')"};
    }
    std::string_view content = trim(text.substr(inner, end - inner));
    pos = end + end_marker.size();
    if (content.find('\n') != std::string_view::npos && (content.empty() || content[0] != '!')) {
      return TemplateError{line, "tag '" + open + "' runs over several lines"};
    }
    if (triple) {
      if (!valid_name(content)) return TemplateError{line, "empty or invalid name in {{{ }}}"};
      continue;
    }
    if (content.empty()) return TemplateError{line, "empty tag '" + open + close + "'"};
    const char sigil = content[0];
    std::string_view name = trim(content.substr(1));
    switch (sigil) {
      case '!':
        break;  // comment
      case '=': {
        if (content.size() < 2 || content.back() != '=') {
          return TemplateError{line, "delimiter change must look like {{=<% %>=}}"};
        }
        std::string_view spec = trim(content.substr(1, content.size() - 2));
        const auto space = spec.find_first_of(" \t");
        if (space == std::string_view::npos) {
          return TemplateError{line, "delimiter change needs two delimiters separated by a space"};
        }
        open = std::string(trim(spec.substr(0, space)));
        close = std::string(trim(spec.substr(space)));
        if (open.empty() || close.empty() || open.find('=') != std::string::npos ||
            close.find('=') != std::string::npos) {
          return TemplateError{line, "invalid delimiters in delimiter change"};
        }
        break;
      }
      case '#':
      case '^':
        if (!valid_name(name)) return TemplateError{line, "section without a name"};
        sections.push_back({std::string(name), line});
        break;
      case '/':
        if (!valid_name(name)) return TemplateError{line, "closing tag without a name"};
        if (sections.empty()) {
          return TemplateError{line, "closing tag '" + std::string(name) +
                                         "' without an open section"};
        }
        if (sections.back().name != name) {
          return TemplateError{line, "closing tag '" + std::string(name) + "' does not match '" +
                                         sections.back().name + "' opened on line " +
                                         std::to_string(sections.back().line)};
        }
        sections.pop_back();
        break;
      case '>':
        return TemplateError{line, "partials ({{> " + std::string(name) +
                                       "}}) are not supported: use one template file"};
      case '&':
        if (!valid_name(name)) return TemplateError{line, "empty or invalid name after '&'"};
        break;
      default:
        if (!valid_name(content)) {
          return TemplateError{line, "invalid tag name '" + std::string(content) + "'"};
        }
    }
  }
  if (!sections.empty()) {
    return TemplateError{sections.back().line,
                         "section '" + sections.back().name + "' is never closed"};
  }
  return std::nullopt;
}

}  // namespace haserf::render
