// SPDX-License-Identifier: MIT
// core/net handover: the state codec, and real agents on loopback handing a gossip identity
// from one to the next without the cluster noticing (127.0.61.0/24 and 127.0.62.0/24).
#include <catch2/catch.hpp>
#include <thread>

#include "core/net/agent.hpp"

using namespace haserf;
using namespace std::chrono_literals;

namespace {

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds bound = 10s) {
  const auto end = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

net::AgentConfig config(const std::string& node, const std::string& bind,
                        net::HandoverPolicy policy) {
  net::AgentConfig c;
  c.node_name = node;
  c.bind = bind;
  c.profile = "local";
  c.handover = policy;
  return c;
}

const table::Member* find(const table::MembershipTable& t, const std::string& name) {
  static thread_local table::SnapshotPtr keep;
  keep = t.snapshot();
  return keep->find(name);
}

bool alive_in(const table::MembershipTable& t, const std::string& name) {
  const auto* m = find(t, name);
  return m != nullptr && m->status == table::MemberStatus::kAlive;
}

}  // namespace

TEST_CASE("handover: the state codec round-trips every field", "[net][handover]") {
  net::HandoverState s;
  s.memberlist.incarnation = 7;
  s.memberlist.seq = 99;
  swim::NodeRecord n;
  n.info.name = "web-1";
  n.info.addr = {10, 0, 0, 1};
  n.info.port = 7946;
  n.info.meta = {0xff, 0x80};
  n.info.vsn = {1, 5, 2, 2, 5, 5};
  n.info.incarnation = 3;
  n.info.state = swim::NodeStateKind::kSuspect;
  n.state_change = swim::TimePoint(std::chrono::seconds(1234));
  s.memberlist.nodes = {n};
  serf::MemberState m;
  m.name = "web-1";
  m.addr = {10, 0, 0, 1};
  m.port = 7946;
  m.vsn = {1, 5, 2, 2, 5, 5};
  m.incarnation = 3;
  m.tags = {{"role", "backend"}, {"port", "3000"}};
  m.status = table::MemberStatus::kFailed;
  m.status_ltime = 12;
  m.leave_time = swim::TimePoint(std::chrono::seconds(99));
  s.serf.members = {m};
  s.serf.clock = 13;
  s.serf.event_clock = 4;
  s.serf.query_clock = 5;
  s.serf.event_min_time = 2;
  s.serf.query_min_time = 1;
  s.serf.failed = {"web-1"};
  s.serf.intents = {serf::IntentRecord{"ghost", true, 9, swim::TimePoint(std::chrono::seconds(5))}};
  s.serf.events = {serf::EventSlot{3, {{"deploy", {'v', '2'}}}}};
  s.serf.queries = {serf::QuerySlot{4, {42, 43}}};

  net::HandoverState back;
  std::string err;
  REQUIRE(net::decode_handover_state(net::encode_handover_state(s), back, &err));
  CHECK(back.memberlist.incarnation == 7);
  CHECK(back.memberlist.seq == 99);
  REQUIRE(back.memberlist.nodes.size() == 1);
  CHECK(back.memberlist.nodes[0].info.name == "web-1");
  CHECK(back.memberlist.nodes[0].info.meta == n.info.meta);
  CHECK(back.memberlist.nodes[0].info.state == swim::NodeStateKind::kSuspect);
  CHECK(back.memberlist.nodes[0].state_change == n.state_change);
  REQUIRE(back.serf.members.size() == 1);
  CHECK(back.serf.members[0].tags == m.tags);
  CHECK(back.serf.members[0].status == table::MemberStatus::kFailed);
  CHECK(back.serf.members[0].leave_time == m.leave_time);
  CHECK(back.serf.clock == 13);
  CHECK(back.serf.failed == std::vector<std::string>{"web-1"});
  REQUIRE(back.serf.intents.size() == 1);
  CHECK(back.serf.intents[0].leave);
  REQUIRE(back.serf.events.size() == 1);
  CHECK(back.serf.events[0].events[0].first == "deploy");
  REQUIRE(back.serf.queries.size() == 1);
  CHECK(back.serf.queries[0].ids == std::vector<std::uint32_t>{42, 43});

  // Truncated or foreign input is refused with a reason, never half-applied.
  const auto bytes = net::encode_handover_state(s);
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, bytes.size() / 2, bytes.size() - 1}) {
    net::HandoverState partial;
    CHECK_FALSE(net::decode_handover_state(std::span(bytes).first(cut), partial, &err));
  }
}

TEST_CASE("handover: a successor takes the identity over: the cluster sees no leave or join",
          "[net][handover]") {
  table::MembershipTable peer_table, old_table, new_table;
  std::vector<std::string> peer_events;
  std::mutex events_mutex;
  peer_table.subscribe([&](const table::ChangeEvent& e) {
    std::lock_guard<std::mutex> lock(events_mutex);
    peer_events.push_back(std::string(table::to_string(e.kind)) + " " + e.member->name);
  });

  auto old_config = config("lb", "127.0.61.1:7946", net::HandoverPolicy::kSibling);
  old_config.app_state = [] { return std::string("slots v1"); };
  net::Agent old_lb(old_config, old_table);
  std::string err;
  REQUIRE(old_lb.start(&err));
  REQUIRE(eventually([&] { return old_lb.status().phase == net::AgentPhase::kRunning; }));
  net::Agent peer(config("p1", "127.0.61.2:7946", net::HandoverPolicy::kOff), peer_table);
  REQUIRE(peer.start(&err));
  REQUIRE(peer.join_sync({"127.0.61.1:7946"}, 5s, &err) == 1);
  REQUIRE(eventually([&] { return alive_in(old_table, "p1") && alive_in(peer_table, "lb"); }));
  const auto incarnation_before = find(peer_table, "lb")->incarnation;
  {
    std::lock_guard<std::mutex> lock(events_mutex);
    peer_events.clear();
  }

  // The next master peeks at the application state before forking the successor.
  net::HandoverRequest peek{"peek", "lb", "127.0.61.1:7946", ::getpid(), ::getppid()};
  swim::Address bind;
  REQUIRE(swim::parse_address("127.0.61.1:7946", 7946, bind, &err));
  const auto app = net::peek_app_state(net::handover_socket_name(bind), peek, 2s, &err);
  REQUIRE(app.has_value());
  CHECK(*app == "slots v1");
  CHECK(old_lb.status().phase == net::AgentPhase::kRunning);  // a peek changes nothing

  net::Agent new_lb(config("lb", "127.0.61.1:7946", net::HandoverPolicy::kSibling), new_table);
  REQUIRE(new_lb.start(&err));
  REQUIRE(eventually([&] { return new_lb.status().phase == net::AgentPhase::kRunning; }));
  CHECK(new_lb.status().took_over_from == ::getpid());
  CHECK(eventually([&] { return old_lb.status().phase == net::AgentPhase::kHandedOver; }));
  CHECK(old_lb.status().handed_over_to == ::getpid());
  // The successor knows the cluster at once, without joining anyone.
  CHECK(alive_in(new_table, "p1"));
  CHECK(new_lb.status().join_done);

  // The successor is a full member: a tag change reaches the peer (with a newer incarnation:
  // the refreshed one plus the tag change).
  REQUIRE(new_lb.set_tags({{"role", "lb"}, {"gen", "2"}}, &err));
  CHECK(eventually([&] {
    const auto* m = find(peer_table, "lb");
    return m && m->tags.count("gen") && m->tags.at("gen") == "2";
  }));
  CHECK(find(peer_table, "lb")->incarnation >= incarnation_before + 2);
  std::this_thread::sleep_for(1500ms);  // a few probe rounds: nobody suspects lb
  CHECK(alive_in(peer_table, "lb"));
  {
    std::lock_guard<std::mutex> lock(events_mutex);
    for (const auto& e : peer_events) {
      INFO(e);
      CHECK(e.find(" lb") != std::string::npos);
      CHECK(e.rfind("member-update", 0) == 0);  // only the tag change
    }
  }
  peer.stop();
  new_lb.stop();
  old_lb.stop();
}

TEST_CASE("handover: refused for another node name: an aborted takeover resumes the member",
          "[net][handover]") {
  table::MembershipTable peer_table, lb_table, other_table;
  net::Agent lb(config("lb", "127.0.62.1:7946", net::HandoverPolicy::kSibling), lb_table);
  std::string err;
  REQUIRE(lb.start(&err));
  REQUIRE(eventually([&] { return lb.status().phase == net::AgentPhase::kRunning; }));
  net::Agent peer(config("p1", "127.0.62.2:7946", net::HandoverPolicy::kOff), peer_table);
  REQUIRE(peer.start(&err));
  REQUIRE(peer.join_sync({"127.0.62.1:7946"}, 5s, &err) == 1);

  // Another node on the same address is not a successor: it fails to bind, and says why.
  net::Agent other(config("intruder", "127.0.62.1:7946", net::HandoverPolicy::kSibling),
                   other_table);
  REQUIRE(other.start(&err));
  REQUIRE(eventually([&] { return other.status().phase == net::AgentPhase::kFailed; }));
  CHECK(other.status().error.find("address already in use") != std::string::npos);
  CHECK(other.status().error.find("node name 'intruder' is not ours") != std::string::npos);
  CHECK(lb.status().phase == net::AgentPhase::kRunning);
  other.stop();

  // A successor that takes the sockets and then gives up: the member resumes on them.
  net::HandoverRequest req{"takeover", "lb", "127.0.62.1:7946", ::getpid(), ::getppid()};
  swim::Address bind;
  REQUIRE(swim::parse_address("127.0.62.1:7946", 7946, bind, &err));
  auto t = net::take_over(net::handover_socket_name(bind), req, 5s);
  REQUIRE(t.outcome == net::Takeover::Outcome::kTaken);
  CHECK(lb.status().phase == net::AgentPhase::kHandingOver);
  CHECK(t.state.memberlist.nodes.size() == 2);
  net::refuse_takeover(t.conn_fd);
  t.conn_fd = -1;
  t.close_fds();
  REQUIRE(eventually([&] { return lb.status().phase == net::AgentPhase::kRunning; }));
  CHECK(lb.status().error.find("handover failed, still the member") != std::string::npos);
  // Still a working member: the peer's user event arrives, and nobody failed.
  std::this_thread::sleep_for(1500ms);
  CHECK(alive_in(peer_table, "lb"));
  CHECK(alive_in(lb_table, "p1"));
  peer.stop();
  lb.stop();
}

TEST_CASE("handover: with the policy off, a peek works and a takeover is refused",
          "[net][handover]") {
  table::MembershipTable t;
  auto c = config("solo", "127.0.63.1:7946", net::HandoverPolicy::kOff);
  c.app_state = [] { return std::string("slots"); };
  net::Agent solo(c, t);
  std::string err;
  REQUIRE(solo.start(&err));  // handover off: binds before start() returns
  CHECK(solo.status().phase == net::AgentPhase::kRunning);
  swim::Address bind;
  REQUIRE(swim::parse_address("127.0.63.1:7946", 7946, bind, &err));
  net::HandoverRequest peek{"peek", "solo", "127.0.63.1:7946", ::getpid(), ::getppid()};
  const auto app = net::peek_app_state(net::handover_socket_name(bind), peek, 2s, &err);
  REQUIRE(app.has_value());
  CHECK(*app == "slots");
  net::HandoverRequest take{"takeover", "solo", "127.0.63.1:7946", ::getpid(), ::getppid()};
  auto r = net::take_over(net::handover_socket_name(bind), take, 2s);
  CHECK(r.outcome == net::Takeover::Outcome::kRefused);
  CHECK(r.message == "handover is off here");
  CHECK(solo.status().phase == net::AgentPhase::kRunning);
  solo.stop();
}

TEST_CASE("handover: a successor too late to commit stands down: the predecessor stays the member",
          "[net][handover]") {
  table::MembershipTable t;
  auto c = config("slow", "127.0.63.2:7946", net::HandoverPolicy::kSameUser);
  c.handover_timeout = 300ms;
  net::Agent lb(c, t);
  std::string err;
  REQUIRE(lb.start(&err));
  REQUIRE(eventually([&] { return lb.status().phase == net::AgentPhase::kRunning; }));
  swim::Address bind;
  REQUIRE(swim::parse_address("127.0.63.2:7946", 7946, bind, &err));
  net::HandoverRequest req{"takeover", "slow", "127.0.63.2:7946", ::getpid(), ::getppid()};
  auto taken = net::take_over(net::handover_socket_name(bind), req, 2s);
  REQUIRE(taken.outcome == net::Takeover::Outcome::kTaken);
  // The predecessor gives up on us after its timeout and resumes on the sockets.
  REQUIRE(eventually([&] { return lb.status().phase == net::AgentPhase::kRunning; }));
  CHECK(lb.status().error.find("timed out") != std::string::npos);
  // Our ready comes too late: no commit, so we must not use the sockets.
  CHECK_FALSE(net::commit_takeover(taken.conn_fd, 1s));
  taken.conn_fd = -1;
  taken.close_fds();
  CHECK(lb.status().phase == net::AgentPhase::kRunning);
  CHECK(lb.status().handed_over_to == 0);
  // A second, prompt successor still can take over afterwards.
  auto again = net::take_over(net::handover_socket_name(bind), req, 2s);
  REQUIRE(again.outcome == net::Takeover::Outcome::kTaken);
  CHECK(net::commit_takeover(again.conn_fd, 1s));
  again.conn_fd = -1;
  again.close_fds();
  CHECK(eventually([&] { return lb.status().phase == net::AgentPhase::kHandedOver; }));
  lb.stop();
}
