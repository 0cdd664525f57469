// SPDX-License-Identifier: MIT
// Snapshots in chunks (core/table/membership_table.hpp): every snapshot holds exactly the
// table's members in name order, and consecutive snapshots share every chunk a change did not
// touch, so publishing costs the change, not the table.
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>

#include "core/table/table.hpp"

using namespace haserf::table;

namespace {

Member make(const std::string& name, const std::string& addr = "10.0.0.1") {
  Member m;
  m.name = name;
  m.addr = addr;
  m.port = 7946;
  return m;
}

std::string node(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "n%05d", i);
  return buf;
}

// The chunks are sorted, non-empty, not oversized, and add up to members().
void check_shape(const Snapshot& s) {
  std::size_t total = 0;
  std::string last;
  for (const auto& c : s.chunks()) {
    REQUIRE_FALSE(c->empty());
    REQUIRE(c->size() <= 2 * Snapshot::kChunkSize);
    for (const auto& m : *c) {
      REQUIRE((total == 0 || last < m->name));
      last = m->name;
      ++total;
    }
  }
  REQUIRE(total == s.size());
  REQUIRE(s.members().size() == s.size());
}

std::size_t shared_chunks(const Snapshot& a, const Snapshot& b) {
  std::set<const Snapshot::Chunk*> in_a;
  for (const auto& c : a.chunks()) in_a.insert(c.get());
  std::size_t n = 0;
  for (const auto& c : b.chunks()) n += in_a.count(c.get());
  return n;
}

}  // namespace

TEST_CASE("table snapshot: random histories keep exactly the table, in name order", "[table]") {
  std::mt19937 rng(12345);
  MembershipTable t;
  std::map<std::string, std::string> expected;  // name -> addr of the members in the table
  for (int step = 0; step < 3000; ++step) {
    const std::string name = node(static_cast<int>(rng() % 700));
    switch (rng() % 5) {
      case 0:
      case 1: {
        const std::string addr = "10.0." + std::to_string(rng() % 4) + ".1";
        t.join(make(name, addr));
        expected[name] = addr;
        break;
      }
      case 2:
        t.fail(name);
        break;
      case 3:
        t.reap(name);
        expected.erase(name);
        break;
      default:  // several changes in one version
        t.batch([&] {
          for (int k = 0; k < 20; ++k) {
            const std::string other = node(static_cast<int>(rng() % 700));
            if (rng() % 2) {
              t.join(make(other, "10.0.9.9"));
              expected[other] = "10.0.9.9";
            } else {
              t.reap(other);
              expected.erase(other);
            }
          }
        });
    }
    if (step % 50 != 0) continue;
    const auto snap = t.snapshot();
    check_shape(*snap);
    REQUIRE(snap->size() == expected.size());
    auto it = expected.begin();
    for (const auto& m : snap->members()) {
      REQUIRE(m->name == it->first);
      REQUIRE(m->addr == it->second);
      REQUIRE(snap->find(m->name) == m.get());
      ++it;
    }
    REQUIRE(snap->find("absent") == nullptr);
    REQUIRE(snap->find("zzz") == nullptr);
  }
}

TEST_CASE("table snapshot: one change among 10,000 members shares all other chunks", "[table]") {
  MembershipTable t;
  t.batch([&] {
    for (int i = 0; i < 10000; ++i) t.join(make(node(i)));
  });
  const auto before = t.snapshot();
  check_shape(*before);
  const std::size_t chunks = before->chunks().size();
  REQUIRE(chunks >= 10000 / (2 * Snapshot::kChunkSize));

  t.fail(node(5000));
  const auto after_fail = t.snapshot();
  CHECK(shared_chunks(*before, *after_fail) == chunks - 1);
  CHECK(after_fail->find(node(5000))->status == MemberStatus::kFailed);
  CHECK(before->find(node(5000))->status == MemberStatus::kAlive);  // old snapshots stay

  t.join(make("n05000a"));  // a new name inside a chunk
  t.reap(node(9999));       // the very last member
  t.join(make("zzz"));      // past every member: the last chunk
  t.join(make("a"));        // before every member: the first chunk
  const auto after = t.snapshot();
  check_shape(*after);
  CHECK(after->size() == 10000 + 2);
  // The first, the middle and the last chunk changed; the last (16 members, 15 after the
  // reap: under a quarter of kChunkSize) joined its neighbour.
  CHECK(shared_chunks(*after_fail, *after) >= chunks - 4);
  CHECK(after->members().front()->name == "a");
  CHECK(after->members().back()->name == "zzz");

  // Reaping almost everything merges the emptied chunks: the index stays short.
  t.batch([&] {
    for (int i = 0; i < 10000; i += 1) {
      if (i % 500 != 0) t.reap(node(i));
    }
  });
  const auto sparse = t.snapshot();
  check_shape(*sparse);
  CHECK(sparse->size() == 20 + 3);
}

TEST_CASE("table snapshot: a snapshot made from a vector is chunked too", "[table]") {
  std::vector<Member> members;
  for (int i = 300; i-- > 0;) members.push_back(make(node(i)));
  const Snapshot s = snapshot_of(std::move(members), MemberPolicy{});
  check_shape(s);
  CHECK(s.size() == 300);
  CHECK(s.find(node(150)) != nullptr);
  CHECK(s.count(MemberStatus::kAlive) == 300);
  const Snapshot copy = s;  // copies share the flat view
  CHECK(&copy.members() == &s.members());
}
