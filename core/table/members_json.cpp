// SPDX-License-Identifier: MIT
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

// One JSON value as the reader saw it: enough to validate a field the way a DOM would.
struct Seen {
  enum class Kind { kAbsent, kNull, kString, kUnsigned, kOther } kind = Kind::kAbsent;
  std::string text;          // kString
  std::uint64_t number = 0;  // kUnsigned
};

// A member object's known fields, collected while parsing and validated at its end.
struct RawMember {
  Seen name, addr, port, status;
  Seen tags_shape;  // kAbsent, kNull, or kOther for an object (tags below) or a wrong type
  bool tags_is_object = false;
  Tags tags;
  std::string bad_tag;  // first tag whose value is not a string
  Seen protocol_shape;
  bool protocol_is_object = false;
  Seen proto_min, proto_max, proto_version;
};

Member member_from_raw(RawMember& raw, std::size_t index) {
  using Kind = Seen::Kind;
  // Messages are built only on failure: this runs once per member of a 100,000-member file.
  auto where = [&] { return "member " + std::to_string(index); };
  Member m;
  if (raw.name.kind != Kind::kString || raw.name.text.empty()) {
    throw FieldError{where() + ": field 'name' must be a non-empty string"};
  }
  m.name = std::move(raw.name.text);
  auto who = [&] { return where() + " (" + m.name + ")"; };

  if (raw.addr.kind != Kind::kString) {
    throw FieldError{who() + ": field 'addr' must be a string such as \"10.0.0.1:7946\""};
  }
  std::optional<std::uint16_t> addr_port;
  if (!split_addr(raw.addr.text, m.addr, addr_port)) {
    throw FieldError{who() + ": field 'addr' is not an IP address or IP:port: \"" + raw.addr.text +
                     "\""};
  }
  if (raw.port.kind != Kind::kAbsent) {
    if (raw.port.kind != Kind::kUnsigned || raw.port.number > 65535) {
      throw FieldError{who() + ": field 'port' must be a number from 0 to 65535"};
    }
    m.port = static_cast<std::uint16_t>(raw.port.number);
  } else if (addr_port) {
    m.port = *addr_port;
  } else {
    m.port = 7946;
  }

  if (raw.tags_shape.kind != Kind::kAbsent && raw.tags_shape.kind != Kind::kNull) {
    if (!raw.tags_is_object) throw FieldError{who() + ": field 'tags' must be an object"};
    if (!raw.bad_tag.empty()) {
      throw FieldError{who() + ": field 'tags." + raw.bad_tag + "' must be a string"};
    }
    m.tags = std::move(raw.tags);
  }

  m.status = MemberStatus::kAlive;
  if (raw.status.kind != Kind::kAbsent) {
    if (raw.status.kind != Kind::kString) {
      throw FieldError{who() + ": field 'status' must be a string"};
    }
    auto status = parse_status(raw.status.text);
    if (!status) {
      throw FieldError{who() + ": field 'status' has unknown value \"" + raw.status.text +
                       "\" (expected alive, leaving, left, failed, suspect or none)"};
    }
    m.status = *status;
  }

  if (raw.protocol_shape.kind != Kind::kAbsent && raw.protocol_shape.kind != Kind::kNull) {
    if (!raw.protocol_is_object) throw FieldError{who() + ": field 'protocol' must be an object"};
    auto read = [&](const char* key, const Seen& v, std::uint8_t& out) {
      if (v.kind == Kind::kAbsent) return;
      if (v.kind != Kind::kUnsigned || v.number > 255) {
        throw FieldError{who() + ": field 'protocol." + key + "' must be a small number"};
      }
      out = static_cast<std::uint8_t>(v.number);
    };
    read("min", raw.proto_min, m.protocol.min);
    read("max", raw.proto_max, m.protocol.max);
    read("version", raw.proto_version, m.protocol.cur);
  }
  return m;
}

// nlohmann's SAX interface: members are built straight from the parser's events, with no
// document tree (10,000 members parse several times faster and in a fraction of the memory:
// docs/performance.md, "Rendering"). Each open container has a role, decided by its parent's.
class MembersReader {
 public:
  explicit MembersReader(std::vector<Member>& out) : out_(out) {}

  std::string error;  // a field error, or a syntax error (with `error_offset`)
  std::size_t error_offset = 0;
  bool syntax_error = false;
  bool saw_members_key = false;
  bool top_is_object = false;

  bool null() { return scalar(Seen{Seen::Kind::kNull, {}, 0}); }
  bool boolean(bool) { return scalar(Seen{Seen::Kind::kOther, {}, 0}); }
  bool number_integer(json::number_integer_t) { return scalar(Seen{Seen::Kind::kOther, {}, 0}); }
  bool number_unsigned(json::number_unsigned_t n) {
    return scalar(Seen{Seen::Kind::kUnsigned, {}, n});
  }
  bool number_float(json::number_float_t, const std::string&) {
    return scalar(Seen{Seen::Kind::kOther, {}, 0});
  }
  bool string(std::string& s) { return scalar(Seen{Seen::Kind::kString, std::move(s), 0}); }
  bool binary(json::binary_t&) { return scalar(Seen{Seen::Kind::kOther, {}, 0}); }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& k) {
    keys_.back() = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const json::exception& e) {
    syntax_error = true;
    error_offset = position;
    error = e.what();
    return false;
  }

 private:
  enum class Role { kTopObject, kMembersList, kMember, kTags, kProtocol, kIgnored };

  bool fail(std::string message) {
    error = std::move(message);
    return false;
  }
  std::string where() const { return "member " + std::to_string(index_); }

  // Where a value of the member's key `k` goes.
  Seen* member_field(const std::string& k) {
    if (k == "name") return &raw_.name;
    if (k == "addr") return &raw_.addr;
    if (k == "port") return &raw_.port;
    if (k == "status") return &raw_.status;
    if (k == "tags") return &raw_.tags_shape;
    if (k == "protocol") return &raw_.protocol_shape;
    return nullptr;
  }

  bool scalar(Seen v) {
    if (roles_.empty()) {
      return fail("expected {\"members\": [...]} (serf members -format=json) or an array");
    }
    const std::string& k = keys_.back();
    switch (roles_.back()) {
      case Role::kTopObject:
        if (k == "members") {
          saw_members_key = true;
          if (v.kind != Seen::Kind::kNull) return fail("'members' must be an array");
        }
        return true;
      case Role::kMembersList:
        return fail(where() + ": expected an object");
      case Role::kMember:
        if (Seen* field = member_field(k)) *field = std::move(v);
        return true;
      case Role::kTags:
        if (v.kind == Seen::Kind::kString) {
          raw_.tags.insert_or_assign(k, std::move(v.text));
        } else if (raw_.bad_tag.empty()) {
          raw_.bad_tag = k;
        }
        return true;
      case Role::kProtocol:
        if (k == "min") raw_.proto_min = std::move(v);
        if (k == "max") raw_.proto_max = std::move(v);
        if (k == "version") raw_.proto_version = std::move(v);
        return true;
      case Role::kIgnored:
        return true;
    }
    return true;
  }

  bool open(bool object) {
    Role role = Role::kIgnored;
    if (roles_.empty()) {
      top_is_object = object;
      role = object ? Role::kTopObject : Role::kMembersList;
    } else {
      const std::string& k = keys_.back();
      switch (roles_.back()) {
        case Role::kTopObject:
          if (k == "members") {
            saw_members_key = true;
            if (!object) {
              role = Role::kMembersList;
            } else {
              return fail("'members' must be an array");
            }
          }
          break;
        case Role::kMembersList:
          if (!object) return fail(where() + ": expected an object");
          raw_ = RawMember{};
          role = Role::kMember;
          break;
        case Role::kMember:
          if (Seen* field = member_field(k)) *field = Seen{Seen::Kind::kOther, {}, 0};
          if (object && k == "tags") {
            raw_.tags_is_object = true;
            role = Role::kTags;
          } else if (object && k == "protocol") {
            raw_.protocol_is_object = true;
            role = Role::kProtocol;
          }
          break;
        case Role::kTags:
          if (raw_.bad_tag.empty()) raw_.bad_tag = k;
          break;
        case Role::kProtocol:
          if (k == "min") raw_.proto_min = Seen{Seen::Kind::kOther, {}, 0};
          if (k == "max") raw_.proto_max = Seen{Seen::Kind::kOther, {}, 0};
          if (k == "version") raw_.proto_version = Seen{Seen::Kind::kOther, {}, 0};
          break;
        default:
          break;
      }
    }
    roles_.push_back(role);
    keys_.emplace_back();
    return true;
  }

  bool close() {
    const Role role = roles_.back();
    roles_.pop_back();
    keys_.pop_back();
    if (role == Role::kMember) {
      try {
        out_.push_back(member_from_raw(raw_, index_++));
      } catch (const FieldError& e) {
        return fail(e.message);
      }
    }
    return true;
  }

  std::vector<Member>& out_;
  std::vector<Role> roles_;        // one per open container
  std::vector<std::string> keys_;  // the current key of each open object
  RawMember raw_;                  // the member being read
  std::size_t index_ = 0;          // its position in the list
};

}  // namespace

ParseMembersResult parse_members_json(std::string_view text, std::string_view source) {
  ParseMembersResult result;
  const std::string src(source);
  result.members.reserve(text.size() / 160);  // about one member per 160 bytes of serf's JSON
  MembersReader reader(result.members);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &reader);
  } catch (const std::exception& e) {
    reader.error = e.what();
  }
  if (!ok || !reader.error.empty()) {
    result.members.clear();
    if (reader.syntax_error) {
      const std::size_t at = reader.error_offset > 0 ? reader.error_offset - 1 : 0;
      result.error = src + ":" + position(text, at) + ": invalid JSON: " + reader.error;
    } else {
      result.error = src + ": " + reader.error;
    }
    return result;
  }
  if (reader.top_is_object && !reader.saw_members_key) {
    result.error = src + ": expected {\"members\": [...]} (serf members -format=json) or an array";
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

bool member_matches(const Member& m, const MemberFilter& filter) {
  if (filter.status && m.status != *filter.status) return false;
  if (filter.rejected && m.rejected.empty() == *filter.rejected) return false;
  if (!filter.exclude.empty() && m.name == filter.exclude) return false;
  if (!filter.name.empty() && m.name.find(filter.name) == std::string::npos) return false;
  for (const auto& [k, v] : filter.tags) {
    auto it = m.tags.find(k);
    if (it == m.tags.end() || it->second != v) return false;
  }
  return true;
}

MemberSelection select_members(const std::vector<MemberPtr>& members, const MemberFilter& filter) {
  MemberSelection out;
  out.total = members.size();
  for (const auto& m : members) {
    if (!member_matches(*m, filter)) continue;
    // Counted to the end (the page says "N matching"), kept only inside the page.
    if (out.matching >= filter.offset && out.members.size() < filter.limit)
      out.members.push_back(m);
    ++out.matching;
  }
  return out;
}

std::string members_to_json(const std::vector<MemberPtr>& members) {
  using ordered = nlohmann::ordered_json;
  ordered list = ordered::array();
  for (const auto& m : members) list.push_back(member_to_json(*m));
  // Invalid UTF-8 in a tag must not throw: replace it.
  return ordered{{"members", list}}.dump(2, ' ', false, ordered::error_handler_t::replace) + "\n";
}

}  // namespace haserf::table
