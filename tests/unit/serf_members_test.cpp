// SPDX-License-Identifier: MIT
// core/serf member view (§7.4, §7.7): clocks, memberlist notifications, intents, reaper.
#include "serf_fixture.hpp"

using namespace serf_test;
using table::ChangeKind;
using table::MemberStatus;

TEST_CASE("serf: Lamport clock starts at 1, witnesses and increments", "[serf]") {
  serf::LamportClock c;
  CHECK(c.time() == 1);
  CHECK(c.increment() == 2);
  c.witness(1);  // older: nothing
  CHECK(c.time() == 2);
  c.witness(2);  // equal: move past it
  CHECK(c.time() == 3);
  c.witness(10);
  CHECK(c.time() == 11);
}

TEST_CASE("serf: our own node joins the table with tags and protocol", "[serf]") {
  Harness h(config("cpp1", {{"role", "db"}}));
  const auto* me = h.row("cpp1");
  REQUIRE(me != nullptr);
  CHECK(me->status == MemberStatus::kAlive);
  CHECK(me->addr == "10.0.0.2");
  CHECK(me->port == 7946);
  CHECK(me->tags == table::Tags{{"role", "db"}});
  CHECK(me->protocol == table::ProtocolVersions{2, 5, 5});
  CHECK(h.serf.num_members() == 1);
}

TEST_CASE("serf: join intent uses the clock then witnesses it", "[serf]") {
  Harness h;
  h.serf.broadcast_join();
  CHECK(h.serf.clock() == 2);
  const auto out = h.drain();
  REQUIRE(out.size() == 1);
  // §10.4: 01 + {LTime 1, Node cpp1}
  CHECK(out[0] == hex("01 82 a5 4c 54 69 6d 65 01 a4 4e 6f 64 65 a4 63 70 70 31"));
  CHECK(h.serf.member("cpp1")->status_ltime == 1);
}

TEST_CASE("serf: join, update, fail and rejoin flow into the table", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3, {{"role", "web"}}));
  REQUIRE(h.changes.size() == 1);
  CHECK(h.changes[0].kind == ChangeKind::kJoin);
  CHECK(h.status("s1") == MemberStatus::kAlive);
  CHECK(h.row("s1")->tags.at("role") == "web");

  auto updated = node("s1", 3, {{"role", "db"}});
  updated.incarnation = 2;
  h.serf.notify_update(updated);
  REQUIRE(h.changes.size() == 2);
  CHECK(h.changes[1].kind == ChangeKind::kUpdate);
  CHECK(h.row("s1")->tags.at("role") == "db");
  CHECK(h.row("s1")->incarnation == 2);

  h.serf.notify_leave(updated);  // alive -> failed
  CHECK(h.changes.back().kind == ChangeKind::kFail);
  CHECK(h.status("s1") == MemberStatus::kFailed);
  CHECK(h.serf.member("s1")->status == MemberStatus::kFailed);

  h.serf.notify_join(updated);  // back
  CHECK(h.changes.back().kind == ChangeKind::kJoin);
  CHECK(h.status("s1") == MemberStatus::kAlive);
}

TEST_CASE("serf: leave intent then NotifyLeave gives left", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  h.serf.notify_msg(leave_msg("s1", 5));
  CHECK(h.status("s1") == MemberStatus::kLeaving);
  CHECK(h.row("s1")->ltime == 5);
  CHECK(h.serf.clock() == 6);  // witnessed
  // Re-broadcast with the exact bytes received.
  CHECK(contains(h.drain(), leave_msg("s1", 5)));

  h.serf.notify_leave(node("s1", 3));
  CHECK(h.status("s1") == MemberStatus::kLeft);
  CHECK(h.changes.back().kind == ChangeKind::kLeave);

  // The same intent again is stale: not queued again.
  const auto queued = h.serf.queued_intents();
  h.serf.notify_msg(leave_msg("s1", 5));
  CHECK(h.serf.stats().intents_stale == 1);
  CHECK(h.serf.queued_intents() == queued);
}

TEST_CASE("serf: join intent brings a leaving member back to alive", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  h.serf.notify_msg(leave_msg("s1", 5));
  h.serf.notify_msg(join_msg("s1", 4));  // older: ignored
  CHECK(h.status("s1") == MemberStatus::kLeaving);
  h.serf.notify_msg(join_msg("s1", 7));
  CHECK(h.status("s1") == MemberStatus::kAlive);
  CHECK(h.row("s1")->ltime == 7);
  CHECK(h.serf.member("s1")->status_ltime == 7);
}

TEST_CASE("serf: leave intent for a failed member makes it left", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  h.serf.notify_leave(node("s1", 3));
  REQUIRE(h.status("s1") == MemberStatus::kFailed);
  h.serf.notify_msg(leave_msg("s1", 3));
  CHECK(h.status("s1") == MemberStatus::kLeft);
  CHECK(h.changes.back().kind == ChangeKind::kLeave);
  // Left members are listed in push/pull.
  wire::SerfPushPull pp;
  REQUIRE(wire::decode_serf_push_pull(h.serf.local_state(false), pp));
  CHECK(pp.LeftMembers == std::vector<std::string>{"s1"});
}

TEST_CASE("serf: intents for unknown nodes are buffered, re-broadcast and applied", "[serf]") {
  Harness h;
  h.serf.notify_msg(join_msg("s2", 3));
  h.serf.notify_msg(leave_msg("s2", 4));  // newer: replaces the join
  h.serf.notify_msg(join_msg("s2", 2));   // older: dropped
  CHECK(h.serf.recent_intents() == 1);
  CHECK(h.serf.stats().intents_buffered == 2);
  const auto out = h.drain();
  CHECK(out.size() == 2);
  CHECK(contains(out, leave_msg("s2", 4)));
  CHECK_FALSE(contains(out, join_msg("s2", 2)));
  CHECK(h.status("s2") == MemberStatus::kNone);

  h.serf.notify_join(node("s2", 4));
  CHECK(h.status("s2") == MemberStatus::kLeaving);
  CHECK(h.row("s2")->ltime == 4);
  REQUIRE_FALSE(h.changes.empty());
  CHECK(h.changes.back().kind == ChangeKind::kJoin);

  // A buffered join intent only sets the status LTime.
  h.serf.notify_msg(join_msg("s3", 9));
  h.serf.notify_join(node("s3", 5));
  CHECK(h.status("s3") == MemberStatus::kAlive);
  CHECK(h.serf.member("s3")->status_ltime == 9);
}

TEST_CASE("serf: a leave intent about ourselves while alive is refuted", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  h.serf.broadcast_join();  // our status LTime 1, clock 2
  h.drain();
  h.drain();
  h.drain();
  h.drain();
  REQUIRE(h.serf.queued_intents() == 0);

  h.serf.notify_msg(leave_msg("cpp1", 5));
  CHECK(h.status("cpp1") == MemberStatus::kAlive);
  CHECK(h.serf.stats().leave_refutations == 1);
  // Clock witnessed 5 -> 6; the refuting join intent carries 6 and is applied locally.
  const auto out = h.drain();
  REQUIRE(out.size() == 1);
  CHECK(out[0] == join_msg("cpp1", 6));
  CHECK(h.serf.member("cpp1")->status_ltime == 6);
  CHECK_FALSE(contains(out, leave_msg("cpp1", 5)));  // not re-broadcast
}

TEST_CASE("serf: prune erases at once, or after the leave delay when leaving", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  h.serf.notify_leave(node("s1", 3));  // failed
  h.serf.notify_msg(leave_msg("s1", 3, true));
  CHECK(h.status("s1") == MemberStatus::kNone);
  CHECK(h.changes.back().kind == ChangeKind::kReap);
  CHECK(h.serf.member("s1") == nullptr);

  h.serf.notify_join(node("s2", 4));
  h.serf.notify_msg(leave_msg("s2", 9, true));  // alive -> leaving, erase later
  CHECK(h.status("s2") == MemberStatus::kLeaving);
  h.advance(5s);
  CHECK(h.status("s2") == MemberStatus::kLeaving);
  h.advance(1s + 1ms);
  CHECK(h.status("s2") == MemberStatus::kNone);
}

TEST_CASE("serf: reaper erases failed and left members after their timeouts", "[serf]") {
  auto c = config();
  c.reconnect_timeout = 60s;
  c.tombstone_timeout = 120s;
  c.recent_intent_timeout = 30s;
  c.reconnect_interval = 1h;  // keep reconnect out of this test
  Harness h(c);
  h.serf.notify_join(node("f1", 3));
  h.serf.notify_join(node("l1", 4));
  h.serf.notify_leave(node("f1", 3));
  h.serf.notify_msg(leave_msg("l1", 3));
  h.serf.notify_leave(node("l1", 4));
  h.serf.notify_msg(join_msg("ghost", 2));
  REQUIRE(h.status("f1") == MemberStatus::kFailed);
  REQUIRE(h.status("l1") == MemberStatus::kLeft);
  REQUIRE(h.serf.recent_intents() == 1);

  h.advance(45s);  // reaper ran at 15, 30, 45
  CHECK(h.serf.recent_intents() == 0);
  CHECK(h.status("f1") == MemberStatus::kFailed);
  h.advance(30s);  // 75 s: failed gone
  CHECK(h.status("f1") == MemberStatus::kNone);
  CHECK(h.status("l1") == MemberStatus::kLeft);
  h.advance(60s);  // 135 s: left gone
  CHECK(h.status("l1") == MemberStatus::kNone);
  CHECK(h.serf.num_members() == 1);
  CHECK(h.serf.stats().members_reaped == 2);
  CHECK(h.changes.back().kind == ChangeKind::kReap);
}

TEST_CASE("serf: reconnect tries a failed member through memberlist", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  h.serf.notify_leave(node("s1", 3));  // failed; 1 failed / 1 alive: probability 1
  h.advance(30s);
  REQUIRE(h.ml.joins.size() == 1);
  CHECK(h.ml.joins[0] == swim::Address{{10, 0, 0, 3}, 7946});
}

TEST_CASE("serf: member cap and bad meta are counted", "[serf]") {
  auto c = config();
  c.max_members = 2;
  Harness h(c);
  auto bad = node("s1", 3);
  bad.meta = hex("ff 81 a1 61");  // map with a key and no value
  h.serf.notify_join(bad);
  CHECK(h.status("s1") == MemberStatus::kAlive);
  CHECK(h.row("s1")->tags.empty());
  CHECK(h.serf.stats().bad_meta == 1);
  h.serf.notify_join(node("s2", 4));
  CHECK(h.status("s2") == MemberStatus::kNone);
  CHECK(h.serf.stats().members_dropped == 1);
  // Legacy meta: the raw role (§7.5).
  auto legacy = node("s1", 3);
  legacy.meta = bytes("web");
  h.serf.notify_update(legacy);
  CHECK(h.row("s1")->tags == table::Tags{{"role", "web"}});
}

TEST_CASE("serf: set_tags checks the size, updates memberlist and the table", "[serf]") {
  Harness h;
  std::string err;
  CHECK(h.serf.set_tags({{"role", "web"}}, &err));
  CHECK(h.ml.meta_updates == 1);
  CHECK(h.row("cpp1")->tags.at("role") == "web");
  CHECK(h.serf.node_meta(512) == wire::encode_tags({{"role", "web"}}));
  CHECK_FALSE(h.serf.set_tags({{"big", std::string(600, 'x')}}, &err));
  CHECK(err.find("512") != std::string::npos);
  CHECK(h.ml.meta_updates == 1);
  CHECK(h.serf.config().tags.at("role") == "web");
}
