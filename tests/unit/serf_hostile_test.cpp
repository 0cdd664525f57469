// SPDX-License-Identifier: MIT
// core/serf against hostile or broken peers: everything is counted, nothing throws or grows
// without bound.
#include <random>

#include "serf_fixture.hpp"

using namespace serf_test;

TEST_CASE("serf: garbage user messages are counted and dropped", "[serf]") {
  Harness h;
  h.serf.notify_msg(Bytes{});
  CHECK(h.serf.stats().empty_messages == 1);
  h.serf.notify_msg(hex("2a 80"));
  CHECK(h.serf.stats().unknown_type == 1);
  h.serf.notify_msg(hex("02 80"));  // pushPull is not a gossip message
  CHECK(h.serf.stats().unknown_type == 2);
  for (const char* m : {"00", "01 c4 01 00", "03 81 a5 4c 54 69 6d 65 a1 78", "04 ff", "05 93",
                        "00 82 a5 4c 54 69 6d 65 01 a4 4e 6f 64 65 cc 05"}) {
    h.serf.notify_msg(hex(m));
  }
  CHECK(h.serf.stats().decode_errors == 6);
  h.serf.notify_msg(hex("09 00 01 02"));
  CHECK(h.serf.stats().relays_ignored == 1);
  CHECK(h.drain().empty());
  CHECK(h.events.empty());
  CHECK(h.serf.num_members() == 1);
}

TEST_CASE("serf: random bytes never throw", "[serf]") {
  Harness h;
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    Bytes b(rng() % 64);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (!b.empty()) b[0] = static_cast<std::uint8_t>(rng() % 11);
    CHECK_NOTHROW(h.serf.notify_msg(b));
    Bytes s = b;
    if (!s.empty()) s[0] = 0x02;
    CHECK_NOTHROW(h.serf.merge_remote_state(s, i % 2 == 0));
  }
}

TEST_CASE("serf: bad push/pull state is counted", "[serf]") {
  Harness h;
  h.serf.merge_remote_state(Bytes{}, false);
  h.serf.merge_remote_state(hex("01 80"), false);
  h.serf.merge_remote_state(hex("02 86 a5 4c 54 69 6d 65"), true);
  CHECK(h.serf.stats().push_pull_invalid == 3);
  CHECK(h.serf.stats().push_pull_merged == 0);
  CHECK(h.serf.clock() == 1);
}

TEST_CASE("serf: buffered intents are capped", "[serf]") {
  auto c = config();
  c.max_recent_intents = 10;
  Harness h(c);
  for (int i = 0; i < 50; ++i) h.serf.notify_msg(join_msg("ghost" + std::to_string(i), 5));
  CHECK(h.serf.recent_intents() == 10);
  CHECK(h.serf.stats().intents_dropped == 40);
  // A push/pull naming many unknown nodes hits the same cap.
  wire::SerfPushPull pp;
  for (int i = 0; i < 100; ++i) pp.StatusLTimes["n" + std::to_string(i)] = 3;
  h.serf.merge_remote_state(wire::encode_serf_push_pull(pp), false);
  CHECK(h.serf.recent_intents() == 10);
}

TEST_CASE("serf: huge query timeouts and bad reply addresses are contained", "[serf]") {
  Harness h;
  auto q = query("app", 1, 1);
  q.Timeout = INT64_MAX;
  q.Addr = {1, 2, 3};  // not an IP
  h.serf.notify_msg(query_msg(q));
  REQUIRE(h.queries.size() == 1);
  CHECK(h.ml.sent.empty());
  CHECK(h.serf.stats().bad_query_addr == 1);
  CHECK(h.queries[0].deadline == h.timers.now() + 24h);
  std::string err;
  CHECK_FALSE(h.serf.respond(h.queries[0], bytes("x"), &err));
  auto neg = query("app", 1, 2);
  neg.Timeout = -5;
  h.serf.notify_msg(query_msg(neg));
  REQUIRE(h.queries.size() == 2);
  CHECK(h.queries[1].deadline == h.timers.now());
}
