// SPDX-License-Identifier: MIT
#include "core/render/template_check.hpp"

#include <algorithm>

namespace haserf::render {
namespace {

// Spaces only: mstch trims nothing else, so a tab inside a tag is part of the name there
// (and refused here, where names hold no tabs).
std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// A delimiter change's two delimiters, "OPEN CLOSE" between the '='s: spaces around and
// between, nothing else. mstch takes the opening delimiter up to the first space after it
// and the closing one from the last space before it, searching the whole text; with any other
// shape (a tab, a third word) it reads delimiters that are not these, or out of bounds.
bool split_delimiters(std::string_view spec, std::string& open, std::string& close) {
  spec = trim(spec);
  const std::size_t space = spec.find(' ');
  if (space == std::string_view::npos) return false;
  open = std::string(spec.substr(0, space));
  close = std::string(trim(spec.substr(space)));
  return !close.empty() && close.find(' ') == std::string::npos;
}

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '{' || c == '}';
  });
}

bool valid_partial_name(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.back() == '/') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.' || c == '/';
    if (!ok) return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {  // no '..' or empty path segment
    const std::size_t slash = std::min(name.find('/', start), name.size());
    const std::string_view segment = name.substr(start, slash - start);
    if (segment.empty() || segment == "..") return false;
    start = slash + 1;
  }
  return true;
}

}  // namespace

ParsedTemplate parse_template(std::string_view text) {
  ParsedTemplate parsed;
  auto fail = [&](std::size_t line, std::string message) {
    parsed.error = TemplateError{line, std::move(message)};
    parsed.tags.clear();
    return parsed;
  };
  std::string open = "{{", close = "}}";
  std::vector<std::size_t> sections;  // indexes of open section tags
  std::size_t pos = 0, line = 1, line_counted_to = 0;
  while (true) {
    const std::size_t start = text.find(open, pos);
    if (start == std::string_view::npos) break;
    line += static_cast<std::size_t>(
        std::count(text.begin() + static_cast<std::ptrdiff_t>(line_counted_to),
                   text.begin() + static_cast<std::ptrdiff_t>(start), '\n'));
    line_counted_to = start;
    std::size_t inner = start + open.size();
    // Triple mustache {{{name}}} only exists with the default delimiters.
    const bool triple = open == "{{" && inner < text.size() && text[inner] == '{';
    const std::string end_marker = triple ? "}" + close : close;
    if (triple) ++inner;
    const std::size_t end = text.find(end_marker, inner);
    if (end == std::string_view::npos) {
      return fail(line, "unclosed tag '" + open + "' (no matching '" + end_marker + "')");
    }
    // mstch looks for the closing delimiter from the second byte of the opening one, so with
    // delimiters like '<%' and '%>' it reads '<%>' as a tag that closes inside its own opening
    // delimiter, and then reads out of bounds. Refuse what mstch would split there.
    if (const std::size_t early = text.find(close, start + 1); early < start + open.size()) {
      std::string message(1, '\'');  // built in steps: GCC 12 -O3 warns on "'" + string&&
      message.append(text.substr(start, early + close.size() - start));
      message += "': the closing delimiter '" + close +
                 "' overlaps the opening one; put a space after '" + open + "'";
      return fail(line, std::move(message));
    }
    const std::string_view raw = text.substr(inner, end - inner);
    std::string_view content = trim(raw);
    pos = end + end_marker.size();
    if (content.find('\n') != std::string_view::npos && (content.empty() || content[0] != '!')) {
      return fail(line, "tag '" + open + "' runs over several lines");
    }
    Tag tag;
    tag.line = line;
    tag.begin = start;
    tag.end = pos;
    tag.open = open;
    tag.close = close;
    if (triple) {
      if (!valid_name(content)) return fail(line, "empty or invalid name in {{{ }}}");
      tag.kind = TagKind::kUnescaped;
      tag.name = std::string(content);
      parsed.tags.push_back(std::move(tag));
      continue;
    }
    if (content.empty()) return fail(line, "empty tag '" + open + close + "'");
    const char sigil = content[0];
    std::string_view name = trim(content.substr(1));
    switch (sigil) {
      case '!':
        tag.kind = TagKind::kComment;
        break;
      case '=': {
        // mstch sees a delimiter change only with '=' right against both delimiters, and
        // reads "{{ =<% %>= }}" as a variable while this parser would switch delimiters.
        if (raw.size() < 2 || raw.front() != '=' || raw.back() != '=') {
          return fail(line, "delimiter change must look like " + open + "=<% %>=" + close +
                                ", with '=' right after '" + open + "' and right before '" + close +
                                "'");
        }
        if (!split_delimiters(raw.substr(1, raw.size() - 2), open, close)) {
          return fail(line, "delimiter change needs two delimiters separated by spaces");
        }
        if (open.find('=') != std::string::npos || close.find('=') != std::string::npos) {
          return fail(line, "invalid delimiters in delimiter change");
        }
        // Printable ASCII only, at most 8 characters, and neither may contain the other
        // (equal is fine): mstch reads out of bounds on a tag whose opening delimiter holds
        // the closing one (found by fuzz_template).
        const auto printable = [](const std::string& d) {
          return d.size() <= 8 &&
                 std::all_of(d.begin(), d.end(), [](char c) { return c > ' ' && c < 0x7f; });
        };
        if (!printable(open) || !printable(close)) {
          return fail(line, "delimiters must be 1 to 8 printable ASCII characters");
        }
        if (open != close &&
            (open.find(close) != std::string::npos || close.find(open) != std::string::npos)) {
          return fail(line, "one delimiter contains the other ('" + open + "', '" + close + "')");
        }
        tag.kind = TagKind::kDelimiters;
        break;
      }
      case '#':
      case '^':
        if (!valid_name(name)) return fail(line, "section without a name");
        if (sections.size() >= kMaxSectionDepth) {
          return fail(line, "sections nested deeper than " + std::to_string(kMaxSectionDepth));
        }
        tag.kind = sigil == '#' ? TagKind::kSection : TagKind::kInverted;
        tag.name = std::string(name);
        sections.push_back(parsed.tags.size());
        break;
      case '/': {
        if (!valid_name(name)) return fail(line, "closing tag without a name");
        if (sections.empty()) {
          return fail(line, "closing tag '" + std::string(name) + "' without an open section");
        }
        Tag& opening = parsed.tags[sections.back()];
        if (opening.name != name) {
          return fail(line, "closing tag '" + std::string(name) + "' does not match '" +
                                opening.name + "' opened on line " + std::to_string(opening.line));
        }
        opening.match = parsed.tags.size();
        tag.match = sections.back();
        tag.kind = TagKind::kClose;
        tag.name = std::string(name);
        sections.pop_back();
        break;
      }
      case '>':
        if (!valid_partial_name(name)) {
          return fail(line, "invalid partial name '" + std::string(name) +
                                "' (letters, digits, '_', '-', '.', '/'; no '..')");
        }
        tag.kind = TagKind::kPartial;
        tag.name = std::string(name);
        break;
      case '&':
        if (!valid_name(name)) return fail(line, "empty or invalid name after '&'");
        tag.kind = TagKind::kUnescaped;
        tag.name = std::string(name);
        break;
      default:
        if (!valid_name(content)) {
          return fail(line, "invalid tag name '" + std::string(content) + "'");
        }
        tag.kind = TagKind::kVariable;
        tag.name = std::string(content);
    }
    parsed.tags.push_back(std::move(tag));
  }
  if (!sections.empty()) {
    const Tag& opening = parsed.tags[sections.back()];
    return fail(opening.line, "section '" + opening.name + "' is never closed");
  }
  return parsed;
}

std::optional<TemplateError> check_template(std::string_view text) {
  return parse_template(text).error;
}

}  // namespace haserf::render
