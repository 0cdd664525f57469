// SPDX-License-Identifier: MIT
// net::SourceFilter: the gossip port's allow-list (docs/security.md).
#include <catch2/catch.hpp>

#include "core/net/source_filter.hpp"

using haserf::net::SourceFilter;

namespace {

haserf::swim::Address addr(const std::string& ip) {
  haserf::swim::Address a;
  REQUIRE(haserf::swim::parse_address(
      ip.find(':') != std::string::npos ? "[" + ip + "]:1" : ip + ":1", 1, a));
  return a;
}

}  // namespace

TEST_CASE("source filter: empty allows everything", "[net][source_filter]") {
  SourceFilter f;
  CHECK(f.empty());
  CHECK(f.allows(addr("203.0.113.9")));
  CHECK(f.allows(addr("2001:db8::1")));
}

TEST_CASE("source filter: IPv4 and IPv6 prefixes", "[net][source_filter]") {
  SourceFilter f;
  std::string err;
  REQUIRE(f.parse({"10.0.0.0/8", "192.0.2.7", "172.16.0.0/13", "fd00::/8", "::1"}, &err));
  CHECK(f.allows(addr("10.200.3.4")));
  CHECK_FALSE(f.allows(addr("11.0.0.1")));
  CHECK(f.allows(addr("192.0.2.7")));
  CHECK_FALSE(f.allows(addr("192.0.2.8")));
  CHECK(f.allows(addr("172.23.255.255")));  // /13: 172.16.0.0 - 172.23.255.255
  CHECK_FALSE(f.allows(addr("172.24.0.0")));
  CHECK(f.allows(addr("fd12::5")));
  CHECK_FALSE(f.allows(addr("fe80::1")));
  CHECK(f.allows(addr("::1")));
  CHECK(f.allows(addr("::ffff:10.1.2.3")));  // an IPv4-mapped source matches IPv4 rules
  CHECK_FALSE(f.allows(haserf::swim::Address{{1, 2, 3}, 1}));  // malformed: never allowed
}

TEST_CASE("source filter: /0 allows all, bad entries are named", "[net][source_filter]") {
  SourceFilter f;
  std::string err;
  REQUIRE(f.parse({"0.0.0.0/0"}, &err));
  CHECK(f.allows(addr("203.0.113.9")));
  CHECK_FALSE(f.allows(addr("2001:db8::1")));  // an IPv4 rule does not admit IPv6 sources
  CHECK_FALSE(f.parse({"10.0.0.0/33"}, &err));
  CHECK(err.find("'10.0.0.0/33' is not a CIDR") != std::string::npos);
  CHECK_FALSE(f.parse({"example.com/8"}, &err));
  CHECK_FALSE(f.parse({"10.0.0.0/"}, &err));
  CHECK_FALSE(f.parse({"10.0.0.0/-1"}, &err));
  CHECK(f.allows(addr("203.0.113.9")));  // a failed parse keeps the previous rules
}
