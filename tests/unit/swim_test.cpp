// SPDX-License-Identifier: MIT
// memberlist state machine: several nodes on a simulated network with a manual clock. Every
// packet and stream goes through the real wire encoder/decoder.
#include "core/swim/swim.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <random>

using namespace haserf;
using namespace haserf::swim;
using namespace std::chrono_literals;

namespace {

struct Recorder : Delegate {
  wire::Tags tags;
  std::vector<std::pair<std::string, NodeInfo>> events;  // ("join"|"leave"|"update", node)
  std::vector<wire::Bytes> user_msgs;
  wire::Bytes node_meta(std::size_t) override { return wire::encode_tags(tags); }
  void notify_msg(std::span<const std::uint8_t> m) override {
    user_msgs.emplace_back(m.begin(), m.end());
  }
  wire::Bytes queued;  // a serf-level broadcast, handed out `sends_left` more times
  int sends_left = 0;
  std::vector<wire::Bytes> get_broadcasts(std::size_t, std::size_t) override {
    if (sends_left <= 0) return {};
    --sends_left;
    return {queued};
  }
  bool has_broadcasts() const override { return sends_left > 0; }
  wire::Bytes local_state(bool) override { return {}; }
  void merge_remote_state(std::span<const std::uint8_t>, bool) override {}
  void notify_join(const NodeInfo& n) override { events.emplace_back("join", n); }
  void notify_leave(const NodeInfo& n) override { events.emplace_back("leave", n); }
  void notify_update(const NodeInfo& n) override { events.emplace_back("update", n); }
};

class SimNet;

struct SimTransport : Transport {
  SimNet* net;
  Address self;
  SimTransport(SimNet* n, Address a) : net(n), self(std::move(a)) {}
  void send_packet(const Address& to, wire::Bytes datagram) override;
  void stream_exchange(const Address& to, wire::Bytes request, bool want_reply, Duration timeout,
                       StreamDone done) override;
};

struct SimNode {
  Recorder delegate;
  std::unique_ptr<SimTransport> transport;
  std::unique_ptr<Memberlist> ml;
  bool down = false;
};

class SimNet {
 public:
  TimerQueue timers{TimePoint{} + 1h, 42};
  std::map<std::string, std::unique_ptr<SimNode>> nodes;  // by "ip:port"
  std::uint64_t packets = 0;

  SimNode& add(const std::string& name, std::uint8_t last_octet, wire::Tags tags = {}) {
    auto node = std::make_unique<SimNode>();
    Config c = lan_config();
    c.name = name;
    c.advertise = Address{{10, 0, 0, last_octet}, 7946};
    node->delegate.tags = std::move(tags);
    node->transport = std::make_unique<SimTransport>(this, c.advertise);
    node->ml = std::make_unique<Memberlist>(c, node->delegate, *node->transport, timers);
    auto& ref = *node;
    nodes[to_string(c.advertise)] = std::move(node);
    ref.ml->start();
    return ref;
  }
  SimNode* at(const Address& a) {
    auto it = nodes.find(to_string(a));
    return it == nodes.end() || it->second->down ? nullptr : it->second.get();
  }
  void run_for(Duration d) { timers.advance_to(timers.now() + d); }
};

void SimTransport::send_packet(const Address& to, wire::Bytes datagram) {
  ++net->packets;
  Address from = self;
  SimNet* n = net;
  net->timers.schedule(1ms, [n, to, from, datagram = std::move(datagram)] {
    if (SimNode* target = n->at(to)) target->ml->handle_packet(from, datagram);
  });
}

void SimTransport::stream_exchange(const Address& to, wire::Bytes request, bool want_reply,
                                   Duration, StreamDone done) {
  Address from = self;
  SimNet* n = net;
  net->timers.schedule(2ms, [n, to, from, request = std::move(request), want_reply, done] {
    SimNode* target = n->at(to);
    if (!target) return done(false, nullptr, "connection refused");
    wire::StreamReader in;
    in.feed(request);
    if (in.poll() != wire::StreamStatus::kDone) return done(false, nullptr, in.error());
    wire::Bytes reply = target->ml->handle_stream(from, in.message());
    if (!want_reply) return done(true, nullptr, "");
    wire::StreamReader out;
    out.feed(reply);
    if (out.poll() != wire::StreamStatus::kDone) return done(false, nullptr, "bad reply");
    done(true, &out.message(), "");
  });
}

NodeStateKind state_seen(SimNode& observer, const std::string& name) {
  for (const auto& n : observer.ml->nodes()) {
    if (n.name == name) return n.state;
  }
  return NodeStateKind::kDead;
}

int count_events(SimNode& n, const std::string& kind, const std::string& who) {
  int c = 0;
  for (const auto& [k, node] : n.delegate.events) c += (k == kind && node.name == who);
  return c;
}

}  // namespace

TEST_CASE("swim: nodes join through push/pull and converge", "[swim]") {
  SimNet net;
  auto& a = net.add("a", 1);
  auto& b = net.add("b", 2, {{"role", "web"}});
  auto& c = net.add("c", 3);
  int joined = -1;
  b.ml->join({a.ml->local_node().address()}, [&](int n, const std::string&) { joined = n; });
  c.ml->join({a.ml->local_node().address()}, [](int, const std::string&) {});
  net.run_for(5s);
  REQUIRE(joined == 1);
  for (SimNode* n : {&a, &b, &c}) {
    REQUIRE(n->ml->num_members() == 3);
    REQUIRE(state_seen(*n, "a") == NodeStateKind::kAlive);
  }
  // Everyone saw b's join (with its meta), exactly once.
  REQUIRE(count_events(c, "join", "b") == 1);
  REQUIRE(count_events(a, "join", "b") == 1);
  wire::Tags tags;
  for (const auto& n : c.ml->nodes()) {
    if (n.name == "b") REQUIRE(wire::decode_tags(n.meta, tags));
  }
  REQUIRE(tags.at("role") == "web");
  // Healthy probing: no suspicion, no refutes.
  net.run_for(20s);
  REQUIRE(a.ml->stats().probe_failures == 0);
  REQUIRE(b.ml->stats().refutes == 0);
}

TEST_CASE("swim: a silent node is suspected, then declared dead", "[swim]") {
  SimNet net;
  auto& a = net.add("a", 1);
  auto& b = net.add("b", 2);
  auto& c = net.add("c", 3);
  b.ml->join({a.ml->local_node().address()}, {});
  c.ml->join({a.ml->local_node().address()}, {});
  net.run_for(3s);
  c.down = true;
  // min = 4 s for N=3 (k=0 expected confirmations), plus probe time: well within 20 s.
  net.run_for(20s);
  REQUIRE(state_seen(a, "c") == NodeStateKind::kDead);
  REQUIRE(state_seen(b, "c") == NodeStateKind::kDead);
  REQUIRE(count_events(a, "leave", "c") == 1);
  REQUIRE(state_seen(a, "b") == NodeStateKind::kAlive);
}

TEST_CASE("swim: graceful leave is seen as left, not dead", "[swim]") {
  SimNet net;
  auto& a = net.add("a", 1);
  auto& b = net.add("b", 2);
  b.ml->join({a.ml->local_node().address()}, {});
  net.run_for(3s);
  bool left = false;
  b.ml->leave(5s, [&] { left = true; });
  net.run_for(3s);
  REQUIRE(left);
  REQUIRE(state_seen(a, "b") == NodeStateKind::kLeft);
  b.down = true;
  net.run_for(10s);
  REQUIRE(state_seen(a, "b") == NodeStateKind::kLeft);  // not turned into dead
}

TEST_CASE("swim: suspicion about ourselves is refuted with a higher incarnation", "[swim]") {
  SimNet net;
  auto& a = net.add("a", 1);
  auto& b = net.add("b", 2);
  b.ml->join({a.ml->local_node().address()}, {});
  net.run_for(2s);
  const auto inc = b.ml->local_node().incarnation;
  // a hears (from a third party) that b is suspect, and gossips it.
  const auto suspect = wire::message(wire::MsgType::kSuspect, wire::Suspect{inc, "b", "x"});
  a.ml->handle_packet(Address{{10, 0, 0, 9}, 7946}, wire::wrap_datagram({suspect}, {}));
  net.run_for(3s);
  REQUIRE(b.ml->local_node().incarnation > inc);
  REQUIRE(b.ml->stats().refutes >= 1);
  net.run_for(10s);
  REQUIRE(state_seen(a, "b") == NodeStateKind::kAlive);
}

TEST_CASE("swim: meta change reaches others as an update", "[swim]") {
  SimNet net;
  auto& a = net.add("a", 1);
  auto& b = net.add("b", 2, {{"role", "web"}});
  b.ml->join({a.ml->local_node().address()}, {});
  net.run_for(2s);
  b.delegate.tags["weight"] = "50";
  b.ml->update_node_meta();
  net.run_for(2s);
  REQUIRE(count_events(a, "update", "b") == 1);
}

TEST_CASE("swim: garbage and hostile packets are dropped and counted", "[swim]") {
  SimNet net;
  auto& a = net.add("a", 1);
  std::mt19937 rng(7);
  const Address from{{10, 0, 0, 66}, 7946};
  for (int i = 0; i < 2000; ++i) {
    wire::Bytes junk(static_cast<std::size_t>(rng() % 300));
    for (auto& byte : junk) byte = static_cast<std::uint8_t>(rng());
    if (!junk.empty() && i % 3 == 0) junk[0] = static_cast<std::uint8_t>(rng() % 14);
    a.ml->handle_packet(from, junk);
  }
  // An alive with a 3-byte Vsn (crashes Go 0.2.2 if relayed) must not be accepted.
  wire::Alive bad{1, "evil", {10, 0, 0, 66}, 7946, std::nullopt, {1, 5, 2}};
  a.ml->handle_packet(from, wire::wrap_datagram({wire::message(wire::MsgType::kAlive, bad)}, {}));
  // Nor one without Vsn (stored as zeros it poisons every Go merge), nor one with port 0.
  const auto dropped_before = a.ml->stats().unsafe_dropped;
  wire::Alive no_vsn{1, "evil2", {10, 0, 0, 67}, 7946, std::nullopt, {}};
  a.ml->handle_packet(from,
                      wire::wrap_datagram({wire::message(wire::MsgType::kAlive, no_vsn)}, {}));
  wire::Alive port0{1, "evil3", {10, 0, 0, 68}, 0, std::nullopt, wire::kOurVsn};
  a.ml->handle_packet(from, wire::wrap_datagram({wire::message(wire::MsgType::kAlive, port0)}, {}));
  CHECK(a.ml->stats().unsafe_dropped == dropped_before + 2);
  REQUIRE(a.ml->stats().packets_dropped + a.ml->stats().messages_dropped > 0);
  for (const auto& n : a.ml->nodes()) REQUIRE(n.name.rfind("evil", 0) != 0);
  net.run_for(2s);
}

TEST_CASE("swim: retransmit limit and suspicion timeout formulas", "[swim]") {
  REQUIRE(retransmit_limit(4, 1) == 4);
  REQUIRE(retransmit_limit(4, 9) == 4);
  REQUIRE(retransmit_limit(4, 10) == 8);
  REQUIRE(retransmit_limit(4, 100) == 12);
  REQUIRE(suspicion_timeout(4, 2, 1s) == 4s);
  REQUIRE(suspicion_timeout(4, 10, 1s) == 4s);
  REQUIRE(suspicion_timeout(4, 100, 1s) == 8s);
  // k=2 expected, 1 confirmation: between min and max.
  const auto rem = remaining_suspicion_time(1, 2, 0s, 4s, 24s);
  REQUIRE(rem > 4s);
  REQUIRE(rem < 24s);
  REQUIRE(remaining_suspicion_time(2, 2, 0s, 4s, 24s) == 4s);
}

TEST_CASE("swim: addresses parse and print", "[swim]") {
  Address a;
  REQUIRE(parse_address("127.0.0.42:7946", 1, a));
  REQUIRE(a.ip == wire::Bytes{127, 0, 0, 42});
  REQUIRE(to_string(a) == "127.0.0.42:7946");
  REQUIRE(parse_address("127.0.0.1", 7946, a));
  REQUIRE(a.port == 7946);
  REQUIRE(parse_address("[::1]:80", 1, a));
  REQUIRE(to_string(a) == "[::1]:80");
  REQUIRE_FALSE(parse_address("example.com:80", 1, a));
  REQUIRE_FALSE(parse_address("1.2.3.4:99999", 1, a));
  wire::Bytes mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  REQUIRE(ip_to_string(mapped) == "10.1.2.3");
}

TEST_CASE("swim: a failed probe suspects the incarnation it probed, not a newer one", "[swim]") {
  SimNet net;
  auto& a = net.add("a", 1);
  auto& b = net.add("b", 2);
  b.ml->join({a.ml->local_node().address()}, {});
  net.run_for(3s);
  b.down = true;
  const auto inc = b.ml->local_node().incarnation;
  // Wait (bounded) until a probe of the now silent b starts.
  const auto probes = a.ml->stats().probes;
  for (int i = 0; i < 500 && a.ml->stats().probes == probes; ++i) net.run_for(10ms);
  REQUIRE(a.ml->stats().probes > probes);
  // While it waits, b refutes (seen through a third node): a now knows b at inc + 5.
  wire::Alive refuted{inc + 5, "b", {10, 0, 0, 2}, 7946, wire::encode_tags({}), wire::kOurVsn};
  a.ml->handle_packet(Address{{10, 0, 0, 9}, 7946},
                      wire::wrap_datagram({wire::message(wire::MsgType::kAlive, refuted)}, {}));
  // The old probe fails: its suspicion carries the old incarnation and must be ignored.
  const auto failures = a.ml->stats().probe_failures;
  for (int i = 0; i < 500 && a.ml->stats().probe_failures == failures; ++i) net.run_for(10ms);
  REQUIRE(a.ml->stats().probe_failures > failures);
  REQUIRE(state_seen(a, "b") == NodeStateKind::kAlive);
}

TEST_CASE("swim: an idle member's gossip ticker stops and restarts on its rhythm when woken",
          "[swim]") {
  SimNet net;
  auto& a = net.add("a", 1);
  auto& b = net.add("b", 2);
  a.ml->join({b.ml->local_node().address()}, {});
  net.run_for(20s);  // converged; the join's broadcasts retransmitted and gone
  REQUIRE(state_seen(a, "b") == NodeStateKind::kAlive);
  const auto rounds = a.ml->stats().gossip_rounds;
  net.run_for(10s);
  CHECK(a.ml->stats().gossip_rounds == rounds);  // nothing queued: no gossip tick at all

  // Something queued by the delegate (serf): gossip goes out within one interval (probes
  // may piggyback it too), then the ticker stops again once it is all sent.
  const auto user_before = b.delegate.user_msgs.size();
  a.delegate.queued = wire::Bytes{0x42, 1, 2, 3};
  a.delegate.sends_left = 3;
  a.ml->wake_gossip();
  a.ml->wake_gossip();  // idempotent: one ticker
  net.run_for(lan_config().gossip_interval + 5ms);
  CHECK(a.ml->stats().gossip_rounds == rounds + 1);
  CHECK(b.delegate.user_msgs.size() > user_before);
  net.run_for(5s);
  CHECK(a.delegate.sends_left == 0);
  const auto after = a.ml->stats().gossip_rounds;
  CHECK(after <= rounds + 3);
  net.run_for(10s);
  CHECK(a.ml->stats().gossip_rounds == after);  // idle again
}
