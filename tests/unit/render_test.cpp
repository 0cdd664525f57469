// SPDX-License-Identifier: MIT
#include "core/render/render.hpp"

#include <catch2/catch.hpp>

#include "core/table/table.hpp"

using namespace haserf;
using table::Member;
using table::MemberStatus;

namespace {
Member make(std::string name, std::string addr, table::Tags tags,
            MemberStatus status = MemberStatus::kAlive) {
  Member m;
  m.name = std::move(name);
  m.addr = std::move(addr);
  m.port = 7946;
  m.tags = std::move(tags);
  m.status = status;
  return m;
}

table::SnapshotPtr cluster(std::vector<Member> members) {
  table::MembershipTable t;  // a snapshot outlives its table
  t.replace_all(std::move(members));
  return t.snapshot();
}
}  // namespace

TEST_CASE("render: members, tags, groups, counts and vars", "[render]") {
  auto snap = cluster({make("web2", "10.0.0.2", {{"role", "backend"}, {"port", "3001"}}),
                       make("web1", "10.0.0.1", {{"role", "backend"}, {"port", "3000"}}),
                       make("lb", "10.0.0.9", {{"role", "balancer"}}),
                       make("old", "10.0.0.3", {{"role", "backend"}}, MemberStatus::kFailed)});
  const std::string tmpl =
      "{{#members}}{{name}}={{status}} {{/members}}\n"
      "{{#by_tag.role.backend}}{{ordinal}}:{{name}}@{{addr}}:{{tags.port}}{{^last}},{{/last}}"
      "{{/by_tag.role.backend}}\n"
      "{{#alive}}{{#first}}first={{name}}{{/first}}{{/alive}}\n"
      "{{#members}}{{#tag_list}}{{key}}:{{value}};{{/tag_list}}{{/members}}\n"
      "{{counts.total}} {{counts.alive}} {{counts.failed}} {{dc}} {{vars.dc}}\n";
  auto r = render::render(tmpl, "t.mustache", *snap, {{"dc", "eu"}});
  REQUIRE(r.ok());
  REQUIRE(r.output ==
          "lb=alive old=failed web1=alive web2=alive \n"
          "1:web1@10.0.0.1:3000,2:web2@10.0.0.2:3001\n"
          "first=lb\n"
          "role:balancer;role:backend;port:3000;role:backend;port:3001;role:backend;\n"
          "4 3 1 eu eu\n");
}

TEST_CASE("render: standalone section lines leave no blank lines", "[render]") {
  auto snap = cluster({make("a", "10.0.0.1", {}), make("b", "10.0.0.2", {})});
  auto r =
      render::render("backend x\n{{#members}}\n  server {{name}}\n{{/members}}\nend\n", "t", *snap);
  REQUIRE(r.output == "backend x\n  server a\n  server b\nend\n");
}

TEST_CASE("render: no HTML escaping in config output", "[render]") {
  auto snap = cluster({});
  auto r = render::render("acl {{x}}\n", "t", *snap, {{"x", "a&b<c>\"d\""}});
  REQUIRE(r.output == "acl a&b<c>\"d\"\n");
}

TEST_CASE("render: a member with an unsafe value is left out, named and counted", "[render]") {
  auto snap = cluster({make("good", "10.0.0.1", {{"port", "80"}}),
                       make("bad1", "10.0.0.2", {{"port", "80 backup"}}),
                       make("bad2", "10.0.0.3", {{"zone", "eu#1"}}),
                       make("bad3", "10.0.0.4", {{"x", "a\nserver evil 6.6.6.6:80"}}),
                       make("bad 4", "10.0.0.5", {}), make("bad5", "not-an-ip", {}),
                       make("bad6", "10.0.0.6", {{"k\"", "v"}}),
                       make("bad7", "10.0.0.7", {{"q", "'quoted'"}})});
  auto r = render::render("{{#members}}{{name}} {{/members}}|{{counts.excluded}}", "t", *snap);
  REQUIRE(r.ok());
  REQUIRE(r.output == "good |7");
  REQUIRE(r.excluded == 7);
  REQUIRE(r.warnings.size() == 7);
  REQUIRE_THAT(r.warnings[0], Catch::Contains("bad 4") && Catch::Contains("name"));
  bool saw_port = false, saw_newline = false;
  for (const auto& w : r.warnings) {
    saw_port |= w.find("bad1") != std::string::npos && w.find("tags.port") != std::string::npos;
    saw_newline |= w.find("\\x0a") != std::string::npos;  // shown escaped, never raw
  }
  REQUIRE(saw_port);
  REQUIRE(saw_newline);
}

TEST_CASE("render: variables refuse control characters", "[render]") {
  REQUIRE(render::is_safe_var_value("a b#c"));
  REQUIRE_FALSE(render::is_safe_var_value("a\nb"));
}

TEST_CASE("render: template syntax errors name file and line", "[render]") {
  auto snap = cluster({});
  struct Case {
    const char* text;
    std::size_t line;
    const char* words;
  };
  const Case cases[] = {
      {"a\nb\n{{#members}}\nx\n", 3, "never closed"},
      {"{{#a}}\n{{/b}}\n", 2, "does not match 'a' opened on line 1"},
      {"ok\n{{/a}}\n", 2, "without an open section"},
      {"\n\n\n{{name\n", 4, "unclosed tag"},
      {"{{}}", 1, "empty tag"},
      {"{{> part}}", 1, "partials"},
      {"{{=<% %>=}}\n<%#a%>\n<%/b%>", 3, "does not match"},
      {"{{{x}}", 1, "unclosed tag"},
  };
  for (const auto& c : cases) {
    auto r = render::render(c.text, "tpl.mustache", *snap);
    INFO(c.text);
    REQUIRE_FALSE(r.ok());
    REQUIRE_THAT(r.error, Catch::StartsWith("tpl.mustache:" + std::to_string(c.line) + ": ") &&
                              Catch::Contains(c.words));
    REQUIRE(r.output.empty());
  }
  REQUIRE(render::check_template("{{=<% %>=}}<%#a%><%b%><%/a%>{{!c}}{{{d}}}{{&e}}") ==
          std::nullopt);
}
