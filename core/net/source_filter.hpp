// SPDX-License-Identifier: MIT
// Which source addresses may talk to the gossip port at all: a list of CIDRs checked on every
// datagram and every accepted connection before a byte is decoded (docs/security.md). An empty
// list allows every source. IPv4 rules also match IPv4-mapped IPv6 sources (::ffff:a.b.c.d).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/swim/delegate.hpp"

namespace haserf::net {

class SourceFilter {
 public:
  // "10.0.0.0/8", "192.0.2.7" (a /32), "fd00::/8", "::1". False with `err` naming the bad
  // entry; the filter is unchanged then.
  bool parse(const std::vector<std::string>& cidrs, std::string* err);
  bool allows(const swim::Address& from) const;
  bool empty() const { return rules_.empty(); }

 private:
  struct Rule {
    std::uint8_t ip[16] = {};  // IPv4 rules as ::ffff:a.b.c.d, so one comparison serves both
    int prefix = 0;            // bits of `ip` that must match (IPv4 rules: 96 + their prefix)
  };
  std::vector<Rule> rules_;
};

}  // namespace haserf::net
