// SPDX-License-Identifier: MIT
#include "core/net/source_filter.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace haserf::net {

namespace {

constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// 4- or 16-byte address as 16 bytes (IPv4 mapped); false on any other length.
bool as_v6(const wire::Bytes& ip, std::uint8_t out[16]) {
  if (ip.size() == 16) {
    std::memcpy(out, ip.data(), 16);
    return true;
  }
  if (ip.size() != 4) return false;
  std::memcpy(out, kMappedPrefix, 12);
  std::memcpy(out + 12, ip.data(), 4);
  return true;
}

}  // namespace

bool SourceFilter::parse(const std::vector<std::string>& cidrs, std::string* err) {
  std::vector<Rule> rules;
  for (const auto& text : cidrs) {
    const auto bad = [&](const char* why) {
      if (err) *err = "'" + text + "' is not a CIDR (" + why + "), e.g. 10.0.0.0/8 or fd00::/8";
      return false;
    };
    const auto slash = text.find('/');
    const std::string ip = text.substr(0, slash);
    Rule r;
    int max_bits = 0;
    std::uint8_t v4[4];
    if (::inet_pton(AF_INET, ip.c_str(), v4) == 1) {
      std::memcpy(r.ip, kMappedPrefix, 12);
      std::memcpy(r.ip + 12, v4, 4);
      max_bits = 32;
    } else if (::inet_pton(AF_INET6, ip.c_str(), r.ip) == 1) {
      max_bits = 128;
    } else {
      return bad("no IP address");
    }
    int bits = max_bits;
    if (slash != std::string::npos) {
      const std::string p = text.substr(slash + 1);
      if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos) {
        return bad("bad prefix length");
      }
      bits = std::stoi(p);
      if (bits > max_bits) return bad("prefix length too long");
    }
    r.prefix = bits + (max_bits == 32 ? 96 : 0);
    rules.push_back(r);
  }
  rules_ = std::move(rules);
  return true;
}

bool SourceFilter::allows(const swim::Address& from) const {
  if (rules_.empty()) return true;
  std::uint8_t ip[16];
  if (!as_v6(from.ip, ip)) return false;
  for (const auto& r : rules_) {
    const int whole = r.prefix / 8, rest = r.prefix % 8;
    if (std::memcmp(ip, r.ip, static_cast<std::size_t>(whole)) != 0) continue;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    if ((ip[whole] & mask) == (r.ip[whole] & mask)) return true;
  }
  return false;
}

}  // namespace haserf::net
