// SPDX-License-Identifier: MIT
// core/serf user events (§7.9) and push/pull state (§7.6).
#include "serf_fixture.hpp"

using namespace serf_test;
using table::MemberStatus;

TEST_CASE("serf: received events are delivered once and re-broadcast", "[serf]") {
  Harness h;
  // The captured `serf event deploy v1.2` (§7.9).
  const Bytes captured =
      hex("03 84 a2 43 43 c3 a5 4c 54 69 6d 65 01 a4 4e 61 6d 65 a6 64 65 70 6c 6f 79 a7 50 61 79 "
          "6c 6f 61 64 a4 76 31 2e 32");
  h.serf.notify_msg(captured);
  REQUIRE(h.events.size() == 1);
  CHECK(h.events[0].name == "deploy");
  CHECK(h.events[0].payload == bytes("v1.2"));
  CHECK(h.events[0].ltime == 1);
  CHECK(h.events[0].coalesce);
  CHECK(h.serf.event_clock() == 2);
  CHECK(h.drain() == std::vector<Bytes>{captured});

  h.serf.notify_msg(captured);  // duplicate
  CHECK(h.events.size() == 1);
  CHECK(h.serf.stats().events_duplicate == 1);

  // Same LTime, different payload: a different event.
  h.serf.notify_msg(event_msg("deploy", "v1.3", 1));
  CHECK(h.events.size() == 2);
  CHECK(h.serf.queued_events() == 2);
}

TEST_CASE("serf: events older than the ring window are dropped", "[serf]") {
  auto c = config();
  c.event_buffer = 8;
  Harness h(c);
  h.serf.notify_msg(event_msg("e", "", 20));  // clock -> 21
  CHECK(h.events.size() == 1);
  h.serf.notify_msg(event_msg("e", "", 12));  // 12 < 21 - 8
  CHECK(h.events.size() == 1);
  CHECK(h.serf.stats().events_too_old == 1);
  h.serf.notify_msg(event_msg("e", "", 13));  // inside the window
  CHECK(h.events.size() == 2);
}

TEST_CASE("serf: our own user event is delivered locally and gossiped", "[serf]") {
  Harness h;
  std::string err;
  REQUIRE(h.serf.user_event("deploy", bytes("v1"), false, &err));
  REQUIRE(h.events.size() == 1);
  CHECK(h.events[0].ltime == 1);
  CHECK(h.serf.event_clock() == 2);
  CHECK(h.drain() == std::vector<Bytes>{event_msg("deploy", "v1", 1)});
  // Hearing it back is a duplicate.
  h.serf.notify_msg(event_msg("deploy", "v1", 1));
  CHECK(h.events.size() == 1);
}

TEST_CASE("serf: user event size limits", "[serf]") {
  Harness h;
  std::string err;
  CHECK_FALSE(h.serf.user_event("n", Bytes(512, 'x'), false, &err));
  CHECK(err.find("before encoding") != std::string::npos);
  // Fits before encoding (500 bytes) but not after (keys and headers).
  CHECK_FALSE(h.serf.user_event("n", Bytes(500, 'x'), false, &err));
  CHECK(err.find("after encoding") != std::string::npos);
  CHECK(h.serf.event_clock() == 1);  // nothing consumed
  CHECK(h.serf.user_event("n", Bytes(400, 'x'), false, &err));
  // Received events beyond max_event_size are dropped.
  h.serf.notify_msg(event_msg("big", std::string(10 * 1024, 'x'), 5));
  CHECK(h.serf.stats().events_dropped == 1);
  CHECK(h.events.size() == 1);
}

TEST_CASE("serf: events per ring slot are capped", "[serf]") {
  auto c = config();
  c.max_events_per_slot = 2;
  Harness h(c);
  for (int i = 0; i < 5; ++i) h.serf.notify_msg(event_msg("e" + std::to_string(i), "", 3));
  CHECK(h.events.size() == 2);
  CHECK(h.serf.stats().events_dropped == 3);
}

TEST_CASE("serf: local_state carries clocks, status LTimes, left members and events", "[serf]") {
  Harness h;
  h.serf.broadcast_join();  // cpp1 status LTime 1, clock 2
  h.serf.notify_join(node("s1", 3));
  h.serf.notify_msg(leave_msg("s1", 4));
  h.serf.notify_leave(node("s1", 3));  // left
  h.serf.notify_msg(event_msg("deploy", "v1", 3));
  const Bytes state = h.serf.local_state(false);
  REQUIRE(state.at(0) == 0x02);
  wire::SerfPushPull pp;
  REQUIRE(wire::decode_serf_push_pull(state, pp));
  CHECK(pp.LTime == 5);
  CHECK(pp.StatusLTimes == std::map<std::string, std::uint64_t>{{"cpp1", 1}, {"s1", 4}});
  CHECK(pp.LeftMembers == std::vector<std::string>{"s1"});
  CHECK(pp.EventLTime == 4);
  CHECK(pp.QueryLTime == 1);
  REQUIRE(pp.Events.size() == 1);
  REQUIRE(pp.Events[0].has_value());
  CHECK(pp.Events[0]->LTime == 3);
  CHECK(pp.Events[0]->Events ==
        std::vector<std::pair<std::string, Bytes>>{{"deploy", bytes("v1")}});
}

TEST_CASE("serf: a leaving member goes into push/pull one LTime before its leave", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  h.serf.notify_msg(join_msg("s1", 2));
  h.serf.notify_msg(leave_msg("s1", 6));  // leaving, status LTime 6
  wire::SerfPushPull pp;
  REQUIRE(wire::decode_serf_push_pull(h.serf.local_state(false), pp));
  // Sent as 6, the receiver's artificial join(6) would make the real leave(6) stale.
  CHECK(pp.StatusLTimes.at("s1") == 5);
  CHECK(pp.LeftMembers.empty());
  // A receiver in that position: the join(5) from push/pull, then the leave(6) still counts.
  Harness other(config("cpp2"));
  other.serf.notify_join(node("s1", 3));
  other.serf.notify_msg(join_msg("s1", 2));
  pp.StatusLTimes.erase("cpp2");
  other.serf.merge_remote_state(wire::encode_serf_push_pull(pp), false);
  other.serf.notify_msg(leave_msg("s1", 6));
  CHECK(other.status("s1") == table::MemberStatus::kLeaving);
}

namespace {

wire::SerfPushPull remote_state() {
  wire::SerfPushPull pp;
  pp.LTime = 10;
  pp.StatusLTimes = {{"s1", 3}, {"s2", 6}, {"cpp1", 1}};
  pp.LeftMembers = {"s2"};
  pp.EventLTime = 8;
  pp.Events.push_back(std::nullopt);
  pp.Events.push_back(wire::SerfUserEvents{5, {{"deploy", bytes("v2")}}});
  pp.QueryLTime = 4;
  return pp;
}

}  // namespace

TEST_CASE("serf: merge_remote_state applies intents, clocks and events", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  h.serf.notify_join(node("s2", 4));
  h.serf.merge_remote_state(wire::encode_serf_push_pull(remote_state()), false);
  CHECK(h.serf.clock() == 10);  // witnessed LTime - 1
  CHECK(h.serf.event_clock() == 8);
  CHECK(h.serf.query_clock() == 4);
  CHECK(h.serf.member("s1")->status_ltime == 3);
  // Left: leave intent at StatusLTimes + 1 -> leaving (memberlist will say dead/left next).
  CHECK(h.status("s2") == MemberStatus::kLeaving);
  CHECK(h.serf.member("s2")->status_ltime == 7);
  REQUIRE(h.events.size() == 1);
  CHECK(h.events[0].name == "deploy");
  CHECK(h.events[0].ltime == 5);
  CHECK(h.serf.stats().push_pull_merged == 1);
  // Merged state is not gossiped on.
  CHECK(h.drain().empty());
}

TEST_CASE("serf: our own join ignores old events when asked", "[serf]") {
  Harness h;
  h.serf.begin_join();
  h.serf.merge_remote_state(wire::encode_serf_push_pull(remote_state()), true);
  h.serf.end_join(true);
  CHECK(h.events.empty());
  CHECK(h.serf.event_min_time() == 8);
  CHECK(h.serf.queued_intents() == 1);  // end_join broadcast our join intent

  // Without begin_join (a remote node joining us) the events replay.
  Harness h2;
  h2.serf.merge_remote_state(wire::encode_serf_push_pull(remote_state()), true);
  CHECK(h2.events.size() == 1);
  CHECK(h2.serf.event_min_time() == 0);
}
