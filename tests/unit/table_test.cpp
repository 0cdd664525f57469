// SPDX-License-Identifier: MIT
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "core/table/table.hpp"

using namespace haserf::table;

namespace {
Member make(std::string name, std::string addr = "10.0.0.1", Tags tags = {}) {
  Member m;
  m.name = std::move(name);
  m.addr = std::move(addr);
  m.port = 7946;
  m.tags = std::move(tags);
  return m;
}
}  // namespace

TEST_CASE("table: join, update, leave, fail, reap produce events and versions", "[table]") {
  MembershipTable t;
  std::vector<ChangeEvent> events;
  t.subscribe([&](const ChangeEvent& e) { events.push_back(e); });
  REQUIRE(t.version() == 0);

  REQUIRE(t.join(make("b", "10.0.0.2", {{"role", "web"}})));
  REQUIRE(t.join(make("a")));
  auto snap = t.snapshot();
  REQUIRE(snap->version() == 2);
  REQUIRE(snap->size() == 2);
  REQUIRE(snap->members()[0]->name == "a");  // sorted by name
  REQUIRE(snap->find("b")->tags.at("role") == "web");
  REQUIRE(snap->find("zz") == nullptr);

  // Same member again: nothing changes, no event, no version bump.
  REQUIRE_FALSE(t.join(make("a")));
  REQUIRE(t.version() == 2);

  auto b2 = make("b", "10.0.0.2", {{"role", "web"}, {"weight", "5"}});
  b2.incarnation = 2;
  REQUIRE(t.update(b2));
  REQUIRE(events.back().kind == ChangeKind::kUpdate);
  REQUIRE(t.snapshot()->find("b")->tags.at("weight") == "5");

  REQUIRE(t.set_status("b", MemberStatus::kLeaving, 3));
  REQUIRE(t.leave("b"));
  REQUIRE(events.back().kind == ChangeKind::kLeave);
  REQUIRE(events.back().previous_status == MemberStatus::kLeaving);
  REQUIRE(t.fail("a"));
  REQUIRE(events.back().kind == ChangeKind::kFail);
  REQUIRE(t.snapshot()->count(MemberStatus::kFailed) == 1);

  // A failed member coming back is a join.
  REQUIRE(t.join(make("a")));
  REQUIRE(events.back().kind == ChangeKind::kJoin);
  REQUIRE(t.reap("b"));
  REQUIRE(events.back().kind == ChangeKind::kReap);
  REQUIRE(events.back().member->name == "b");
  REQUIRE(t.snapshot()->size() == 1);
  REQUIRE_FALSE(t.reap("b"));

  // Every event carries the version of the snapshot that contains it.
  for (std::size_t i = 1; i < events.size(); ++i) REQUIRE(events[i].version > events[i - 1].version);
}

TEST_CASE("table: old snapshots stay valid and unchanged", "[table]") {
  MembershipTable t;
  t.join(make("a"));
  auto before = t.snapshot();
  t.fail("a");
  t.join(make("c"));
  REQUIRE(before->size() == 1);
  REQUIRE(before->members()[0]->status == MemberStatus::kAlive);
  REQUIRE(t.snapshot()->size() == 2);
}

TEST_CASE("table: batch publishes once", "[table]") {
  MembershipTable t;
  int calls = 0;
  t.subscribe([&](const ChangeEvent& e) {
    ++calls;
    REQUIRE(e.version == 1);
  });
  t.batch([&] {
    t.join(make("a"));
    t.join(make("b"));
    t.batch([&] { t.join(make("c")); });
    REQUIRE(t.version() == 0);  // nothing published inside the batch
  });
  REQUIRE(t.version() == 1);
  REQUIRE(calls == 3);
}

TEST_CASE("table: replace_all diffs against the current content", "[table]") {
  MembershipTable t;
  t.join(make("a"));
  t.join(make("gone"));
  std::vector<ChangeEvent> events;
  t.subscribe([&](const ChangeEvent& e) { events.push_back(e); });
  auto a = make("a");
  a.status = MemberStatus::kFailed;
  t.replace_all({a, make("new")});
  REQUIRE(t.version() == 3);
  REQUIRE(events.size() == 3);
  REQUIRE(t.snapshot()->find("gone") == nullptr);
  REQUIRE(t.snapshot()->find("a")->status == MemberStatus::kFailed);
}

TEST_CASE("table: status names round-trip", "[table]") {
  for (auto s : {MemberStatus::kNone, MemberStatus::kAlive, MemberStatus::kLeaving,
                 MemberStatus::kLeft, MemberStatus::kFailed, MemberStatus::kSuspect}) {
    REQUIRE(parse_status(to_string(s)) == s);
  }
  REQUIRE_FALSE(parse_status("dead"));
}

// Run under TSan in CI (.ci/run): one writer, several readers, no torn snapshots.
TEST_CASE("table: concurrent readers see consistent snapshots", "[table][threads]") {
  MembershipTable t;
  std::atomic<bool> done{false};
  std::atomic<long> reads{0};
  std::atomic<int> failures{0};
  auto reader = [&] {
    std::uint64_t last_version = 0;
    while (!done.load()) {
      auto snap = t.snapshot();
      if (snap->version() < last_version) ++failures;
      last_version = snap->version();
      // Invariant kept by the writer: every member's "gen" tag equals its incarnation, and
      // members are sorted.
      for (std::size_t i = 0; i < snap->size(); ++i) {
        const auto& m = *snap->members()[i];
        if (m.tags.at("gen") != std::to_string(m.incarnation)) ++failures;
        if (i > 0 && !(snap->members()[i - 1]->name < m.name)) ++failures;
      }
      ++reads;
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader);
  // Keep writing until the readers have overlapped with the writer for a while.
  for (std::uint32_t gen = 1; gen <= 300 || (reads < 200 && gen < 1000000); ++gen) {
    t.batch([&] {
      for (int n = 0; n < 20; ++n) {
        auto m = make("node" + std::to_string((n * 7 + gen) % 40), "10.0.0.1",
                      {{"gen", std::to_string(gen)}});
        m.incarnation = gen;
        t.join(m);
      }
    });
    if (gen % 50 == 0) t.reap("node3");
  }
  done = true;
  for (auto& r : readers) r.join();
  REQUIRE(failures == 0);
  REQUIRE(reads > 0);
}
