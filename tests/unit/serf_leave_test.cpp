// SPDX-License-Identifier: MIT
// core/serf graceful leave (§7.8) and broadcast queue ordering (§6.7).
#include "serf_fixture.hpp"

using namespace serf_test;
using table::MemberStatus;

TEST_CASE("serf: leave with nobody else alive completes at once, without gossip", "[serf]") {
  Harness h;
  int done = 0;
  REQUIRE(h.serf.leave([&] { ++done; }));
  CHECK(h.serf.state() == serf::SerfState::kLeaving);
  CHECK(h.status("cpp1") == MemberStatus::kLeaving);
  CHECK(done == 0);  // never inline
  h.timers.run_due();
  CHECK(done == 1);
  CHECK(h.serf.queued_intents() == 0);
  std::string err;
  CHECK_FALSE(h.serf.leave([&] { ++done; }, &err));
  CHECK(err == "Leave already in progress");
}

TEST_CASE("serf: leave completes after the intent was sent retransmit-limit times", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  int done = 0;
  REQUIRE(h.serf.leave([&] { ++done; }));
  // LTime = clock (1), then increment.
  CHECK(h.serf.clock() == 2);
  const Bytes intent = leave_msg("cpp1", 1);
  for (int i = 0; i < 3; ++i) CHECK(h.drain() == std::vector<Bytes>{intent});
  h.timers.run_due();
  CHECK(done == 0);
  CHECK(h.drain() == std::vector<Bytes>{intent});  // 4th: limit for 2 members
  CHECK(done == 0);
  h.timers.run_due();
  CHECK(done == 1);
  h.advance(10s);  // the timeout was cancelled
  CHECK(done == 1);
  CHECK(h.serf.stats().leave_timeouts == 0);
  h.serf.mark_left();
  CHECK(h.serf.state() == serf::SerfState::kLeft);
}

TEST_CASE("serf: the leave intent also goes straight to each alive member, at once", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  h.serf.notify_join(node("s2", 4));
  h.serf.notify_join(node("s3", 5));
  h.serf.notify_leave(node("s3", 5));  // failed: not told
  int done = 0;
  REQUIRE(h.serf.leave([&] { ++done; }));
  const Bytes intent = leave_msg("cpp1", h.serf.clock() - 1);
  REQUIRE(h.ml.sent.size() == 2);  // before any gossip round
  while (done == 0) {
    h.drain();
    h.timers.run_due();
  }
  REQUIRE(h.ml.sent.size() == 2);  // and only once
  std::vector<std::uint8_t> last_octets;
  for (const auto& s : h.ml.sent) {
    CHECK(s.msg == intent);
    CHECK(s.to.port == 7946);
    last_octets.push_back(s.to.ip.back());
  }
  std::sort(last_octets.begin(), last_octets.end());
  CHECK(last_octets == std::vector<std::uint8_t>{3, 4});
  CHECK(h.serf.stats().leave_direct_sends == 2);
}

TEST_CASE("serf: above leave_direct_limit alive members, the leave intent is only gossiped",
          "[serf]") {
  auto c = config();
  c.leave_direct_limit = 1;
  Harness h(c);
  h.serf.notify_join(node("s1", 3));
  h.serf.notify_join(node("s2", 4));
  int done = 0;
  REQUIRE(h.serf.leave([&] { ++done; }));
  h.advance(5s);
  CHECK(done == 1);
  CHECK(h.ml.sent.empty());
  CHECK(h.serf.stats().leave_direct_sends == 0);
}

TEST_CASE("serf: leave completes after broadcast_timeout if gossip is slow", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  int done = 0;
  REQUIRE(h.serf.leave([&] { ++done; }));
  h.drain();
  h.advance(4s);
  CHECK(done == 0);
  h.advance(1s);
  CHECK(done == 1);
  CHECK(h.serf.stats().leave_timeouts == 1);
  for (int i = 0; i < 3; ++i) h.drain();
  h.timers.run_due();
  CHECK(done == 1);
}

TEST_CASE("serf: while leaving, a leave intent about us is not refuted", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  REQUIRE(h.serf.leave({}));
  h.serf.notify_msg(leave_msg("cpp1", 9));
  CHECK(h.serf.stats().leave_refutations == 0);
  CHECK(h.status("cpp1") == MemberStatus::kLeaving);
}

TEST_CASE("serf: broadcasts go intents, then queries, then events, within the limit", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  const Bytes ev = event_msg("e", "", 1);
  h.serf.notify_msg(ev);
  const Bytes q = query_msg(query("q", 1, 1, 0));
  h.serf.notify_msg(q);
  const Bytes in = join_msg("s1", 1);
  h.serf.notify_msg(in);
  CHECK(h.drain() == std::vector<Bytes>{in, q, ev});
  // A budget that fits only the intent.
  h.serf.notify_msg(join_msg("s1", 2));
  const auto small = h.serf.get_broadcasts(3, join_msg("s1", 2).size() + 3);
  CHECK(small == std::vector<Bytes>{join_msg("s1", 2)});
}

TEST_CASE("serf: queue check prunes to max_queue_depth", "[serf]") {
  auto c = config();
  c.max_queue_depth = 3;
  Harness h(c);
  for (int i = 0; i < 6; ++i) h.serf.notify_msg(event_msg("e" + std::to_string(i), "", 1));
  CHECK(h.serf.queued_events() == 6);
  h.advance(30s);
  CHECK(h.serf.queued_events() == 3);
  CHECK(h.serf.stats().queue_pruned == 3);
}
