// SPDX-License-Identifier: MIT
// core/table/member_policy: one validation for routing and rendering; the table judges every
// member and says why it rejects one.
#include <catch2/catch.hpp>

#include "core/table/table.hpp"

using namespace haserf;
using table::Member;

namespace {

Member make(const std::string& name, const std::string& addr, table::Tags tags) {
  Member m;
  m.name = name;
  m.addr = addr;
  m.port = 7946;
  m.tags = std::move(tags);
  return m;
}

std::string verdict(const Member& m, const table::MemberPolicy& p = {}) {
  return table::reject_reason(m, p).value_or("ok");
}

}  // namespace

TEST_CASE("member policy: safe charsets", "[table][policy]") {
  CHECK(table::is_safe_name("web-1.eu_2:a"));
  CHECK_FALSE(table::is_safe_name(""));
  CHECK_FALSE(table::is_safe_name("a/b"));
  CHECK_FALSE(table::is_safe_name("web 1"));
  CHECK(table::is_safe_tag_value(""));
  CHECK(table::is_safe_tag_value("a=b,c@d/e+f"));
  CHECK_FALSE(table::is_safe_tag_value("a b"));
  CHECK_FALSE(table::is_safe_tag_value("a\\b"));
  CHECK_FALSE(table::is_safe_tag_value("%[src]"));
  CHECK_FALSE(table::is_safe_tag_value(std::string(513, 'a')));
  CHECK(table::is_safe_addr("::1"));
  CHECK(table::is_safe_addr("127.0.0.1"));
  CHECK_FALSE(table::is_safe_addr("127.0.0.1 "));
}

TEST_CASE("member policy: port and weight tags must be numbers in range", "[table][policy]") {
  CHECK(verdict(make("a", "10.0.0.1", {{"port", "3000"}, {"weight", "0"}})) == "ok");
  CHECK(verdict(make("a", "10.0.0.1", {})) == "ok");  // no port tag: the consumer's default
  for (const char* bad : {"abc", "0", "65536", "080", "+80", "-1", ""}) {
    INFO(bad);
    CHECK_THAT(verdict(make("a", "10.0.0.1", {{"port", bad}})),
               Catch::Contains("field tags.port is not a port (1-65535)"));
  }
  for (const char* bad : {"257", "-1", "1.5", "x"}) {
    INFO(bad);
    CHECK_THAT(verdict(make("a", "10.0.0.1", {{"weight", bad}})),
               Catch::Contains("field tags.weight is not a weight (0-256)"));
  }
  table::MemberPolicy custom;
  custom.port_tag = "http_port";
  custom.weight_tag = "";
  custom.require_port = true;
  CHECK(verdict(make("a", "10.0.0.1", {{"port", "abc"}, {"http_port", "8080"}}), custom) == "ok");
  CHECK(verdict(make("a", "10.0.0.1", {{"weight", "9999"}, {"http_port", "1"}}), custom) == "ok");
  CHECK(verdict(make("a", "10.0.0.1", {}), custom) == "no tags.http_port (a port is required)");
  // Unsafe values come first, shown escaped.
  CHECK(verdict(make("web 1", "10.0.0.1", {})) == "field name has unsafe value \"web 1\"");
  CHECK(verdict(make("a", "10.0.0.1", {{"zone", "eu\n1"}})) ==
        "field tags.zone has unsafe value \"eu\\x0a1\"");
}

TEST_CASE("member policy: the table judges every change and re-judges on a new policy",
          "[table][policy]") {
  table::MembershipTable t;
  t.join(make("good", "10.0.0.1", {{"port", "80"}}));
  t.join(make("bad", "10.0.0.2", {{"port", "eighty"}}));
  auto snap = t.snapshot();
  CHECK(snap->find("good")->rejected.empty());
  CHECK_THAT(snap->find("bad")->rejected, Catch::Contains("tags.port"));
  // A tag change that fixes it clears the rejection.
  t.update(make("bad", "10.0.0.2", {{"port", "81"}}));
  CHECK(t.snapshot()->find("bad")->rejected.empty());
  // A stricter policy applies to members already known.
  table::MemberPolicy strict;
  strict.port_tag = "svc_port";
  strict.require_port = true;
  t.set_policy(strict);
  CHECK_THAT(t.snapshot()->find("good")->rejected, Catch::Contains("no tags.svc_port"));
  CHECK(t.policy() == strict);
  // Members JSON shows the reason (serf's own fields are unchanged).
  const std::string json = table::members_to_json(t.snapshot()->members());
  CHECK_THAT(json, Catch::Contains("\"rejected\": \"no tags.svc_port (a port is required)\""));
}
