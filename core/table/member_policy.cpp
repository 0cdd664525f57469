// SPDX-License-Identifier: MIT
#include "core/table/member_policy.hpp"

#include <arpa/inet.h>

#include <cstdio>

#include "core/table/membership_table.hpp"

namespace haserf::table {
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

std::string unsafe(const std::string& field, std::string_view value) {
  return "field " + field + " has unsafe value \"" + printable(value) + "\"";
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

bool is_decimal_in(std::string_view s, long lo, long hi) {
  if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return false;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  return v >= lo && v <= hi;
}

std::optional<std::string> reject_reason(const Member& m, const MemberPolicy& policy) {
  if (!is_safe_name(m.name)) return unsafe("name", m.name);
  if (!is_safe_addr(m.addr)) return unsafe("addr", m.addr);
  for (const auto& [key, value] : m.tags) {
    if (!is_safe_tag_key(key)) return unsafe("tag key", key);
    if (!is_safe_tag_value(value)) return unsafe("tags." + key, value);
  }
  if (!policy.port_tag.empty()) {
    const auto port = m.tags.find(policy.port_tag);
    if (port == m.tags.end()) {
      if (policy.require_port) return "no tags." + policy.port_tag + " (a port is required)";
    } else if (!is_decimal_in(port->second, 1, 65535)) {
      return "field tags." + policy.port_tag + " is not a port (1-65535): \"" +
             printable(port->second) + "\"";
    }
  }
  if (!policy.weight_tag.empty()) {
    const auto weight = m.tags.find(policy.weight_tag);
    if (weight != m.tags.end() && !is_decimal_in(weight->second, 0, 256)) {
      return "field tags." + policy.weight_tag + " is not a weight (0-256): \"" +
             printable(weight->second) + "\"";
    }
  }
  return std::nullopt;
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

}  // namespace haserf::table
