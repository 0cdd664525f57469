#include "core/render/value_safety.hpp"

#include <arpa/inet.h>

#include <cstdio>

namespace haserf::render {
namespace {

bool is_ident_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':';
}

template <typename Extra>
bool all_of(std::string_view s, Extra extra) {
  for (unsigned char c : s) {
    if (!is_ident_char(c) && !extra(c)) return false;
  }
  return true;
}

}  // namespace

bool is_safe_name(std::string_view s) {
  return !s.empty() && s.size() <= 128 && all_of(s, [](unsigned char) { return false; });
}

bool is_safe_tag_key(std::string_view s) {
  return !s.empty() && s.size() <= 128 && all_of(s, [](unsigned char c) { return c == '/'; });
}

bool is_safe_tag_value(std::string_view s) {
  return s.size() <= 512 && all_of(s, [](unsigned char c) {
           return c == '/' || c == '@' || c == '+' || c == '=' || c == ',';
         });
}

bool is_safe_addr(std::string_view s) {
  if (s.empty() || s.size() > 45) return false;
  std::string copy(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, copy.c_str(), buf) == 1 || inet_pton(AF_INET6, copy.c_str(), buf) == 1;
}

bool is_safe_var_value(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::optional<UnsafeField> find_unsafe_field(const table::Member& m) {
  if (!is_safe_name(m.name)) return UnsafeField{"name", printable(m.name)};
  if (!is_safe_addr(m.addr)) return UnsafeField{"addr", printable(m.addr)};
  for (const auto& [key, value] : m.tags) {
    if (!is_safe_tag_key(key)) return UnsafeField{"tag key", printable(key)};
    if (!is_safe_tag_value(value)) return UnsafeField{"tags." + key, printable(value)};
  }
  return std::nullopt;
}

}  // namespace haserf::render
