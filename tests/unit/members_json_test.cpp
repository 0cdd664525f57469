// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>
#include <cstdio>

#include "core/render/atomic_write.hpp"
#include "core/table/table.hpp"

using namespace haserf::table;

TEST_CASE("members json: reads real `serf members -format=json` output", "[json]") {
  std::string text;
  REQUIRE(haserf::render::read_file(HASERF_TEST_DATA "/serf-members.json", text, nullptr));
  auto r = parse_members_json(text, "serf-members.json");
  REQUIRE(r.ok());
  REQUIRE(r.members.size() == 3);
  const auto& web2 = r.members[1];
  REQUIRE(web2.name == "web2");
  REQUIRE(web2.addr == "127.0.0.22");
  REQUIRE(web2.port == 7946);
  REQUIRE(web2.tags.at("zone") == "eu-1");
  REQUIRE(web2.status == MemberStatus::kFailed);
  REQUIRE(r.members[2].status == MemberStatus::kLeft);
  REQUIRE(web2.protocol.cur == 5);
}

TEST_CASE("members json: plain array, IPv6 and defaults", "[json]") {
  auto r = parse_members_json(
      R"([{"name":"a","addr":"[::1]:8000"},{"name":"b","addr":"10.1.2.3"}])", "x");
  REQUIRE(r.ok());
  REQUIRE(r.members[0].addr == "::1");
  REQUIRE(r.members[0].port == 8000);
  REQUIRE(r.members[1].port == 7946);
  REQUIRE(r.members[1].status == MemberStatus::kAlive);
}

TEST_CASE("members json: errors name the source, the member and the field", "[json]") {
  auto bad_json = parse_members_json("{\n  \"members\": [\n  {\"name\": }\n]}", "m.json");
  REQUIRE_FALSE(bad_json.ok());
  REQUIRE_THAT(bad_json.error, Catch::StartsWith("m.json:3:"));

  auto bad_tag = parse_members_json(R"([{"name":"a","addr":"1.2.3.4","tags":{"w":5}}])", "m.json");
  REQUIRE_THAT(bad_tag.error, Catch::Contains("member 0 (a)") && Catch::Contains("tags.w"));

  auto bad_addr = parse_members_json(R"([{"name":"a","addr":"nope"}])", "m.json");
  REQUIRE_THAT(bad_addr.error, Catch::Contains("'addr'"));

  auto bad_status = parse_members_json(R"([{"name":"a","addr":"1.2.3.4","status":"zombie"}])", "m");
  REQUIRE_THAT(bad_status.error, Catch::Contains("zombie"));

  auto no_name = parse_members_json(R"({"members":[{"addr":"1.2.3.4"}]})", "m");
  REQUIRE_THAT(no_name.error, Catch::Contains("'name'"));

  REQUIRE_FALSE(parse_members_json(R"({"nodes":[]})", "m").ok());
  REQUIRE(parse_members_json(R"({"members":null})", "m").ok());
}

TEST_CASE("members json: output has serf's shape and reads back", "[json]") {
  MembershipTable t;
  Member m;
  m.name = "web1";
  m.addr = "127.0.0.21";
  m.port = 7946;
  m.tags = {{"role", "backend"}};
  t.join(m);
  const auto text = members_to_json(t.snapshot()->members());
  REQUIRE_THAT(text, Catch::Contains("\"addr\": \"127.0.0.21:7946\""));
  REQUIRE(text.find("\"name\"") < text.find("\"addr\""));  // serf's key order
  auto back = parse_members_json(text, "round-trip");
  REQUIRE(back.ok());
  REQUIRE(back.members[0].tags == m.tags);
  REQUIRE(host_port("::1", 80) == "[::1]:80");
}

TEST_CASE("members listing: filters, pages and counts", "[json]") {
  std::vector<MemberPtr> all;
  for (int i = 1; i <= 25; ++i) {
    Member m;
    char name[16];
    std::snprintf(name, sizeof name, "web-%02d", i);
    m.name = name;
    m.addr = "10.0.0." + std::to_string(i);
    m.port = 7946;
    m.status = i % 5 == 0 ? MemberStatus::kFailed : MemberStatus::kAlive;
    m.tags = {{"zone", i % 2 ? "a" : "b"}};
    if (i == 7) m.rejected = "field tags.port is not a port";
    all.push_back(std::make_shared<const Member>(m));
  }
  auto names = [](const MemberSelection& s) {
    std::string out;
    for (const auto& m : s.members) out += (out.empty() ? "" : ",") + m->name;
    return out;
  };

  auto every = select_members(all, {});
  REQUIRE(every.members.size() == 25);
  REQUIRE(every.matching == 25);
  REQUIRE(every.total == 25);
  // No filter: the JSON of the selection is the JSON of the list, byte for byte.
  REQUIRE(members_to_json(every.members) == members_to_json(all));

  MemberFilter failed;
  failed.status = MemberStatus::kFailed;
  auto f = select_members(all, failed);
  REQUIRE(names(f) == "web-05,web-10,web-15,web-20,web-25");
  REQUIRE(f.matching == 5);
  REQUIRE(f.total == 25);

  MemberFilter paged;
  paged.name = "web-1";  // a substring: web-10 .. web-19
  paged.offset = 2;
  paged.limit = 3;
  auto p = select_members(all, paged);
  REQUIRE(names(p) == "web-12,web-13,web-14");
  REQUIRE(p.matching == 10);  // counted past the page
  paged.offset = 9;
  REQUIRE(names(select_members(all, paged)) == "web-19");
  paged.offset = 50;  // past the end: no rows, the count stays
  auto past = select_members(all, paged);
  REQUIRE(past.members.empty());
  REQUIRE(past.matching == 10);
  paged.offset = 0;
  paged.limit = 0;  // counts alone
  auto counts = select_members(all, paged);
  REQUIRE(counts.members.empty());
  REQUIRE(counts.matching == 10);

  MemberFilter name_mid;
  name_mid.name = "-2";
  REQUIRE(select_members(all, name_mid).matching == 6);  // web-20 .. web-25
  name_mid.name = "WEB";
  REQUIRE(select_members(all, name_mid).matching == 0);  // case-sensitive

  MemberFilter rejected;
  rejected.rejected = true;
  REQUIRE(names(select_members(all, rejected)) == "web-07");
  rejected.rejected = false;
  REQUIRE(select_members(all, rejected).matching == 24);

  MemberFilter combined;
  combined.status = MemberStatus::kAlive;
  combined.tags = {{"zone", "b"}};
  combined.exclude = "web-02";
  combined.limit = 2;
  auto c = select_members(all, combined);
  REQUIRE(names(c) == "web-04,web-06");
  REQUIRE(c.matching == 9);  // even, not 10 or 20, not web-02: 4 6 8 12 14 16 18 22 24

  auto none = select_members({}, failed);
  REQUIRE(none.members.empty());
  REQUIRE(none.matching == 0);
  REQUIRE(none.total == 0);
  REQUIRE(members_to_json(none.members) == "{\n  \"members\": []\n}\n");
}
