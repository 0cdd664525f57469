// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

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
