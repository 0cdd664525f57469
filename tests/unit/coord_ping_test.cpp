// SPDX-License-Identifier: MIT
// Network coordinates through memberlist and serf (§7.11): acks carry serf's payload, direct
// probes time the path and move the coordinates, and serf keeps what it learnt. Real Memberlist
// and Serf objects on a simulated network with a fixed latency and a manual clock.
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <memory>

#include "core/coord/coordinate.hpp"
#include "core/serf/serf.hpp"
#include "core/swim/swim.hpp"
#include "core/wire/wire.hpp"
#include "serf_fixture.hpp"

using namespace haserf;
using namespace std::chrono_literals;

namespace {

struct PingNet;

struct PingTransport : swim::Transport {
  PingNet* net;
  swim::Address self;
  PingTransport(PingNet* n, swim::Address a) : net(n), self(std::move(a)) {}
  void send_packet(const swim::Address& to, wire::Bytes datagram) override;
  void stream_exchange(const swim::Address& to, wire::Bytes request, bool want_reply,
                       swim::Duration timeout, StreamDone done) override;
};

struct PingNode {
  std::string name;
  table::MembershipTable table;
  std::unique_ptr<PingTransport> transport;
  std::unique_ptr<serf::Serf> serf;
  std::unique_ptr<swim::Memberlist> ml;
};

// Every datagram takes `one_way` to arrive; `drop(from, to, messages)` may swallow it.
struct PingNet {
  swim::TimerQueue timers{swim::TimePoint{} + 1h, 7};
  swim::Duration one_way = 5ms;
  std::map<std::string, std::unique_ptr<PingNode>> nodes;  // by "ip:port"
  std::function<bool(const std::string& from, const std::string& to,
                     const std::vector<wire::Bytes>& messages)>
      drop;
  // Ack payloads seen on the wire, by sender name (nullopt: nil).
  std::map<std::string, std::vector<std::optional<wire::Bytes>>> acks;

  PingNode& add(const std::string& name, std::uint8_t last_octet, bool coordinates = true) {
    auto node = std::make_unique<PingNode>();
    node->name = name;
    swim::Config mc = swim::lan_config();
    mc.name = name;
    mc.advertise = swim::Address{{10, 0, 0, last_octet}, 7946};
    serf::Config sc;
    sc.node_name = name;
    sc.disable_coordinates = !coordinates;
    node->transport = std::make_unique<PingTransport>(this, mc.advertise);
    node->serf = std::make_unique<serf::Serf>(sc, node->table, timers);
    node->ml = std::make_unique<swim::Memberlist>(mc, *node->serf, *node->transport, timers);
    node->serf->attach(node->ml.get());
    auto& ref = *node;
    nodes[swim::to_string(mc.advertise)] = std::move(node);
    ref.ml->start();
    return ref;
  }
  PingNode* at(const swim::Address& a) {
    const auto it = nodes.find(swim::to_string(a));
    return it == nodes.end() ? nullptr : it->second.get();
  }
  void join(PingNode& n, PingNode& seed) {
    n.ml->join({seed.ml->local_node().address()}, [](int, const std::string&) {});
  }
  void run_for(swim::Duration d) { timers.advance_to(timers.now() + d); }
};

void PingTransport::send_packet(const swim::Address& to, wire::Bytes datagram) {
  PingNet* n = net;
  PingNode* sender = n->at(self);
  PingNode* target = n->at(to);
  if (!sender || !target) return;
  std::vector<wire::Bytes> messages;
  REQUIRE(wire::unwrap_datagram(datagram, nullptr, messages));
  for (const auto& m : messages) {
    wire::Ack ack;
    if (!m.empty() && m[0] == static_cast<std::uint8_t>(wire::MsgType::kAck) &&
        wire::decode(std::span(m).subspan(1), ack)) {
      n->acks[sender->name].push_back(ack.Payload);
    }
  }
  if (n->drop && n->drop(sender->name, target->name, messages)) return;
  const swim::Address from = self;
  n->timers.schedule(n->one_way, [n, to, from, datagram = std::move(datagram)] {
    if (PingNode* t = n->at(to)) t->ml->handle_packet(from, datagram);
  });
}

void PingTransport::stream_exchange(const swim::Address& to, wire::Bytes request, bool want_reply,
                                    swim::Duration, StreamDone done) {
  PingNet* n = net;
  const swim::Address from = self;
  n->timers.schedule(2 * n->one_way, [n, to, from, request = std::move(request), want_reply, done] {
    PingNode* target = n->at(to);
    if (!target) return done(false, nullptr, "connection refused");
    wire::StreamReader in;
    in.feed(request);
    if (in.poll() != wire::StreamStatus::kDone) return done(false, nullptr, in.error());
    const wire::Bytes reply = target->ml->handle_stream(from, in.message());
    if (!want_reply) return done(true, nullptr, "");
    wire::StreamReader out;
    out.feed(reply);
    if (out.poll() != wire::StreamStatus::kDone) return done(false, nullptr, "bad reply");
    done(true, &out.message(), "");
  });
}

double ms(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

TEST_CASE("coord: members learn each other's coordinates from their direct probes", "[coord]") {
  PingNet net;
  auto& a = net.add("a", 1);
  auto& b = net.add("b", 2);
  auto& c = net.add("c", 3);
  net.join(b, a);
  net.join(c, a);
  net.run_for(180s);

  for (PingNode* n : {&a, &b, &c}) {
    INFO(n->name);
    const auto& st = n->serf->stats();
    CHECK(st.coordinate_updates > 100);  // about one probe a second
    CHECK(st.coordinate_bad == 0);
    CHECK(st.coordinate_rejected == 0);
    // Every ack it sent carried serf's payload: version 1 and a coordinate.
    REQUIRE(!net.acks[n->name].empty());
    for (const auto& p : net.acks[n->name]) {
      REQUIRE(p);
      CHECK(p->size() == 130);
      CHECK(coord::decode_ack_payload(*p));
    }
    // Our own coordinate moved away from the origin and grew confident.
    const auto self = n->serf->coordinate(n->name);
    REQUIRE(self);
    CHECK(self->error < 0.5);
  }
  // Every pair's estimate is the simulated 10 ms rtt.
  for (PingNode* x : {&a, &b, &c}) {
    for (PingNode* y : {&a, &b, &c}) {
      if (x == y) continue;
      INFO(x->name << " -> " << y->name);
      const auto theirs = x->serf->coordinate(y->name);
      REQUIRE(theirs);
      const auto rtt = coord::distance_to(*x->serf->coordinate(x->name), *theirs);
      REQUIRE(rtt);
      CHECK(ms(*rtt) == Approx(10.0).epsilon(0.01));
    }
  }
  CHECK_FALSE(a.serf->coordinate("nobody"));
}

TEST_CASE("coord: with coordinates disabled acks carry nil and nothing is learnt", "[coord]") {
  PingNet net;
  auto& a = net.add("a", 1);
  auto& b = net.add("b", 2, false);
  net.join(b, a);
  net.run_for(30s);

  REQUIRE(!net.acks["b"].empty());
  for (const auto& p : net.acks["b"]) CHECK_FALSE(p);  // memberlist without a PingDelegate
  // a skips b's nil payloads silently, as serf does; b keeps nothing at all.
  CHECK_FALSE(a.serf->coordinate("b"));
  CHECK(a.serf->stats().coordinate_updates == 0);
  CHECK(a.serf->stats().coordinate_bad == 0);
  CHECK(a.serf->stats().coordinate_rejected == 0);
  CHECK_FALSE(b.serf->coordinate("b"));
  CHECK_FALSE(b.serf->coordinate("a"));
  CHECK(b.serf->stats().coordinate_updates == 0);
  CHECK(b.serf->ack_payload() == std::nullopt);
  // The failure detector does not care: both alive.
  CHECK(a.ml->num_members() == 2);
  CHECK(b.ml->num_members() == 2);
}

TEST_CASE("coord: only direct acks time a probe: relayed ones do not", "[coord]") {
  PingNet net;
  auto& a = net.add("a", 1);
  auto& b = net.add("b", 2);
  auto& c = net.add("c", 3);
  net.join(b, a);
  net.join(c, a);
  net.run_for(5s);
  // From now on a's pings to c are lost: a reaches c only through b (indirect) and TCP.
  net.drop = [](const std::string& from, const std::string& to,
                const std::vector<wire::Bytes>& messages) {
    if (from != "a" || to != "c") return false;
    for (const auto& m : messages) {
      if (!m.empty() && m[0] == static_cast<std::uint8_t>(wire::MsgType::kPing)) return true;
    }
    return false;
  };
  // What a learnt about c before the drop must stay as it was.
  const auto before = a.serf->coordinate("c");
  const auto updates_before = a.serf->stats().coordinate_updates;
  net.run_for(60s);
  CHECK(a.serf->stats().coordinate_updates > updates_before);  // from b's acks
  CHECK(a.serf->coordinate("c") == before);                    // no direct ack from c since
  CHECK(a.ml->stats().probe_failures == 0);                    // the indirect probes succeeded
  // c still times its own pings to a.
  CHECK(c.serf->coordinate("a"));
}

TEST_CASE("coord: serf counts bad payloads, skips empty ones, forgets reaped members", "[coord]") {
  using namespace serf_test;
  auto conf = config();
  conf.tombstone_timeout = 60s;
  Harness h(conf);
  h.serf.notify_join(node("s1", 3));

  // Our payload: a fresh coordinate until something moves it.
  const auto mine = h.serf.ack_payload();
  REQUIRE(mine);
  CHECK(*mine == coord::encode_ack_payload(coord::Coordinate{}));
  CHECK(h.serf.coordinate("cpp1") == coord::Coordinate{});

  const swim::NodeInfo s1 = node("s1", 3);
  h.serf.notify_ping_complete(s1, 10ms, {});
  CHECK(h.serf.stats().coordinate_bad == 0);  // nil / empty: nothing to learn, nothing wrong
  CHECK_FALSE(h.serf.coordinate("s1"));

  wire::Bytes bad = coord::encode_ack_payload(coord::Coordinate{});
  bad[0] = 2;
  h.serf.notify_ping_complete(s1, 10ms, bad);
  h.serf.notify_ping_complete(s1, 10ms, hex("01 93 c3"));
  CHECK(h.serf.stats().coordinate_bad == 2);
  CHECK(h.serf.stats().last_coordinate_error.find("s1: ") == 0);

  coord::Coordinate nan;
  nan.height = std::numeric_limits<double>::quiet_NaN();
  h.serf.notify_ping_complete(s1, 10ms, coord::encode_ack_payload(nan));
  coord::Coordinate four;
  four.vec.resize(4);
  h.serf.notify_ping_complete(s1, 10ms, coord::encode_ack_payload(four));
  h.serf.notify_ping_complete(s1, 11s, coord::encode_ack_payload(coord::Coordinate{}));
  h.serf.notify_ping_complete(node("ghost", 9), 10ms,
                              coord::encode_ack_payload(coord::Coordinate{}));
  CHECK(h.serf.stats().coordinate_rejected == 4);
  CHECK_FALSE(h.serf.coordinate("s1"));
  CHECK_FALSE(h.serf.coordinate("ghost"));
  CHECK(h.serf.coordinate("cpp1") == coord::Coordinate{});

  coord::Coordinate theirs;
  theirs.vec[0] = 0.004;
  theirs.error = 0.3;
  h.serf.notify_ping_complete(s1, 10ms, coord::encode_ack_payload(theirs));
  CHECK(h.serf.stats().coordinate_updates == 1);
  CHECK(h.serf.coordinate("s1") == theirs);
  const auto moved = h.serf.coordinate("cpp1");
  REQUIRE(moved);
  CHECK(*moved != coord::Coordinate{});
  CHECK(h.serf.ack_payload() == coord::encode_ack_payload(*moved));

  // s1 leaves and is reaped: its coordinate goes with it (serf eraseNode).
  h.serf.notify_msg(leave_msg("s1", 5));
  h.serf.notify_leave(s1);
  REQUIRE(h.status("s1") == table::MemberStatus::kLeft);
  CHECK(h.serf.coordinate("s1"));  // kept while it is a left member
  h.advance(90s);
  REQUIRE(h.status("s1") == table::MemberStatus::kNone);
  CHECK_FALSE(h.serf.coordinate("s1"));
}

TEST_CASE("coord: serf with coordinates disabled sends and keeps none", "[coord]") {
  using namespace serf_test;
  auto conf = config();
  conf.disable_coordinates = true;
  Harness h(conf);
  h.serf.notify_join(node("s1", 3));
  CHECK_FALSE(h.serf.ack_payload());
  h.serf.notify_ping_complete(node("s1", 3), 10ms, coord::encode_ack_payload(coord::Coordinate{}));
  CHECK_FALSE(h.serf.coordinate("s1"));
  CHECK_FALSE(h.serf.coordinate("cpp1"));
  CHECK(h.serf.stats().coordinate_updates == 0);
}
