#include "core/table/members_json.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <nlohmann/json.hpp>

namespace haserf::table {
namespace {

using nlohmann::json;

// Line and column of a byte offset, for error messages people can act on.
std::string position(std::string_view text, std::size_t offset) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

bool parse_port(std::string_view s, std::uint16_t& port) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// Splits "ip", "ip:port", "[v6]:port" or a bare v6 address.
bool split_addr(const std::string& text, std::string& ip, std::optional<std::uint16_t>& port) {
  port.reset();
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos) return false;
    ip = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return false;
      std::uint16_t p;
      if (!parse_port(std::string_view(text).substr(close + 2), p)) return false;
      port = p;
    }
    return is_ip(ip);
  }
  if (is_ip(text)) {
    ip = text;
    return true;
  }
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  ip = text.substr(0, colon);
  std::uint16_t p;
  if (!parse_port(std::string_view(text).substr(colon + 1), p)) return false;
  port = p;
  return is_ip(ip);
}

struct FieldError {
  std::string message;
};

Member member_from_json(const json& j, std::size_t index) {
  const std::string where = "member " + std::to_string(index);
  if (!j.is_object()) throw FieldError{where + ": expected an object"};
  Member m;
  auto name_it = j.find("name");
  if (name_it == j.end() || !name_it->is_string() || name_it->get<std::string>().empty()) {
    throw FieldError{where + ": field 'name' must be a non-empty string"};
  }
  m.name = name_it->get<std::string>();
  const std::string who = where + " (" + m.name + ")";

  auto addr_it = j.find("addr");
  if (addr_it == j.end() || !addr_it->is_string()) {
    throw FieldError{who + ": field 'addr' must be a string such as \"10.0.0.1:7946\""};
  }
  std::optional<std::uint16_t> addr_port;
  if (!split_addr(addr_it->get<std::string>(), m.addr, addr_port)) {
    throw FieldError{who + ": field 'addr' is not an IP address or IP:port: \"" +
                     addr_it->get<std::string>() + "\""};
  }
  if (auto p = j.find("port"); p != j.end()) {
    if (!p->is_number_unsigned() || p->get<std::uint64_t>() > 65535) {
      throw FieldError{who + ": field 'port' must be a number from 0 to 65535"};
    }
    m.port = static_cast<std::uint16_t>(p->get<std::uint64_t>());
  } else if (addr_port) {
    m.port = *addr_port;
  } else {
    m.port = 7946;
  }

  if (auto t = j.find("tags"); t != j.end() && !t->is_null()) {
    if (!t->is_object()) throw FieldError{who + ": field 'tags' must be an object"};
    for (const auto& [key, value] : t->items()) {
      if (!value.is_string()) {
        throw FieldError{who + ": field 'tags." + key + "' must be a string"};
      }
      m.tags.emplace(key, value.get<std::string>());
    }
  }

  m.status = MemberStatus::kAlive;
  if (auto s = j.find("status"); s != j.end()) {
    if (!s->is_string()) throw FieldError{who + ": field 'status' must be a string"};
    auto status = parse_status(s->get<std::string>());
    if (!status) {
      throw FieldError{who + ": field 'status' has unknown value \"" + s->get<std::string>() +
                       "\" (expected alive, leaving, left, failed, suspect or none)"};
    }
    m.status = *status;
  }

  if (auto p = j.find("protocol"); p != j.end() && !p->is_null()) {
    if (!p->is_object()) throw FieldError{who + ": field 'protocol' must be an object"};
    auto read = [&](const char* key, std::uint8_t& out) {
      auto v = p->find(key);
      if (v == p->end()) return;
      if (!v->is_number_unsigned() || v->get<std::uint64_t>() > 255) {
        throw FieldError{who + ": field 'protocol." + key + "' must be a small number"};
      }
      out = static_cast<std::uint8_t>(v->get<std::uint64_t>());
    };
    read("min", m.protocol.min);
    read("max", m.protocol.max);
    read("version", m.protocol.cur);
  }
  return m;
}

}  // namespace

ParseMembersResult parse_members_json(std::string_view text, std::string_view source) {
  ParseMembersResult result;
  const std::string src(source);
  // Members are converted as the parser finishes each one and then discarded, so the whole
  // document never exists as a DOM at once: 10,000 members parse in a fraction of the time and
  // memory (docs/performance.md, "Rendering").
  int member_depth = -1;  // 1: a top-level array; 2: {"members": [...]}
  bool in_members = false;  // inside the top-level array, or under the key "members"
  bool list_open = false;   // ... and that value is an array: its elements are members
  std::size_t index = 0;
  result.members.reserve(text.size() / 160);  // about one member per 160 bytes of serf's JSON
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth == 0) member_depth = event == json::parse_event_t::array_start ? 1 : 2;
        if (depth == 0 && member_depth == 1) in_members = true;
        if (depth == member_depth - 1 && in_members) {
          list_open = event == json::parse_event_t::array_start;
        }
        break;
      case json::parse_event_t::key:
        if (depth == 1 && member_depth == 2) in_members = parsed == "members";
        break;
      case json::parse_event_t::object_end:
        if (depth == member_depth && list_open) {
          result.members.push_back(member_from_json(parsed, index++));
          return false;  // converted: drop it from the document
        }
        break;
      case json::parse_event_t::array_end:
      case json::parse_event_t::value:
        if (depth == member_depth - 1 && event == json::parse_event_t::array_end) {
          list_open = false;
        } else if (depth == member_depth && list_open) {
          throw FieldError{"member " + std::to_string(index) + ": expected an object"};
        }
        break;
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(text.begin(), text.end(), on_event);
  } catch (const json::parse_error& e) {
    result.members.clear();
    result.error =
        src + ":" + position(text, e.byte > 0 ? e.byte - 1 : 0) + ": invalid JSON: " + e.what();
    return result;
  } catch (const FieldError& e) {
    result.members.clear();
    result.error = src + ": " + e.message;
    return result;
  } catch (const std::exception& e) {
    result.members.clear();
    result.error = src + ": invalid JSON: " + e.what();
    return result;
  }
  const json* list = &doc;
  if (doc.is_object()) {
    auto it = doc.find("members");
    if (it == doc.end()) {
      result.error =
          src + ": expected {\"members\": [...]} (serf members -format=json) or an array";
      return result;
    }
    list = &*it;
  }
  if (list->is_null()) return result;  // serf prints "members": null for an empty cluster
  if (!list->is_array()) {
    result.members.clear();
    result.error = src + ": 'members' must be an array";
    return result;
  }
  return result;
}

std::string host_port(const std::string& addr, std::uint16_t port) {
  if (addr.find(':') != std::string::npos) return "[" + addr + "]:" + std::to_string(port);
  return addr + ":" + std::to_string(port);
}

nlohmann::ordered_json member_to_json(const Member& m) {
  using ordered = nlohmann::ordered_json;  // keep serf's key order
  ordered tags = ordered::object();
  for (const auto& [k, v] : m.tags) tags[k] = v;
  ordered j{{"name", m.name},
            {"addr", host_port(m.addr, m.port)},
            {"port", m.port},
            {"tags", tags},
            {"status", std::string(to_string(m.status))},
            {"protocol",
             {{"max", m.protocol.max}, {"min", m.protocol.min}, {"version", m.protocol.cur}}}};
  // Not in serf's output: why haserf routes and renders this member nowhere.
  if (!m.rejected.empty()) j["rejected"] = m.rejected;
  return j;
}

std::string members_to_json(const std::vector<MemberPtr>& members) {
  using ordered = nlohmann::ordered_json;
  ordered list = ordered::array();
  for (const auto& m : members) list.push_back(member_to_json(*m));
  // Invalid UTF-8 in a tag must not throw: replace it.
  return ordered{{"members", list}}.dump(2, ' ', false, ordered::error_handler_t::replace) + "\n";
}

}  // namespace haserf::table
