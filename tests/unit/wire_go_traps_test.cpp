// SPDX-License-Identifier: MIT
// wire/go_traps: every message a Go peer cannot survive is recognized (docs/go-traps.md), and
// serf never gossips one on; what it does gossip is its own re-encoding.
#include "core/wire/wire.hpp"
#include "serf_fixture.hpp"

using namespace serf_test;

namespace {

wire::Alive good_alive() {
  return wire::Alive{1, "web-1", {10, 0, 0, 5}, 7946, std::nullopt, wire::kOurVsn};
}

bool has(const std::optional<std::string>& why, const std::string& part) {
  return why && why->find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("go traps: memberlist alive, suspect, dead and push/pull node states", "[wire][traps]") {
  CHECK_FALSE(wire::go_trap(good_alive()));
  auto a = good_alive();
  a.Vsn.clear();  // ML-5: stored as zeros, poisons every merge
  CHECK(has(wire::go_trap(a), "no Vsn"));
  a.Vsn = {1, 5, 2};  // ML-3: panics
  CHECK(has(wire::go_trap(a), "Vsn of 3 bytes"));
  for (const wire::Bytes& narrow :
       {wire::Bytes{3, 5, 3, 2, 5, 5}, wire::Bytes{1, 5, 2, 2, 4, 4}, wire::Bytes{1, 5, 0, 0, 0, 0},
        wire::Bytes{0, 5, 2, 2, 5, 5}, wire::Bytes{1, 5, 2, 9, 9, 9}}) {  // ML-6
    a.Vsn = narrow;
    CHECK(has(wire::go_trap(a), "incompatible"));
  }
  a = good_alive();
  a.Incarnation = 0xffffffff;  // ML-7: the refutation wraps to 0
  CHECK(has(wire::go_trap(a), "incarnation"));
  a = good_alive();
  a.Port = 0;  // ML-15
  CHECK(has(wire::go_trap(a), "port 0"));
  a = good_alive();
  a.Node = "evil\nnode";  // SF-6: snapshot file injection
  CHECK(has(wire::go_trap(a), "control character"));
  CHECK(has(wire::go_trap(wire::Suspect{0xfffffff0u, "web-1", "x"}), "incarnation"));
  // Far from the wrap is fine: a cluster pushed up by an attacker must keep working with us.
  CHECK_FALSE(wire::go_trap(wire::Suspect{0x80000000u, "web-1", "x"}));
  CHECK(has(wire::go_trap(wire::Dead{1, "web-1", "x\r"}), "control character"));
  CHECK_FALSE(wire::go_trap(wire::Dead{7, "web-1", "web-1"}));
  wire::PushNodeState pns{"web-1", {10, 0, 0, 5}, 7946, {}, 1, wire::NodeState::kDead, {1, 5}};
  CHECK(has(wire::go_trap(pns), "Vsn of 2 bytes"));  // ML-4, any state
}

TEST_CASE("go traps: node meta whose tags Go's serf would decode into a 4 GiB allocation",
          "[wire][traps]") {
  auto a = good_alive();
  // `ff` + a map of one entry whose key claims 4 GiB (str32): 9 bytes that every Go serf
  // decodes on join and update.
  a.Meta = wire::Bytes{0xff, 0x81, 0xdb, 0xff, 0xff, 0xff, 0xff};
  CHECK(has(wire::go_trap(a), "meta"));
  wire::PushNodeState pns{"web-1", {10, 0, 0, 5},           7946,         *a.Meta,
                          1,       wire::NodeState::kAlive, wire::kOurVsn};
  CHECK(has(wire::go_trap(pns), "meta"));
  // A legacy role string (no `ff`) is raw bytes to Go: safe whatever it holds.
  a.Meta = wire::Bytes{'w', 'e', 'b', 0xdb, 0xff};
  CHECK_FALSE(wire::go_trap(a));
  // Well-formed tags pass.
  a.Meta = wire::encode_tags({{"role", "web"}, {"port", "3000"}});
  CHECK_FALSE(wire::go_trap(a));
}

TEST_CASE("go traps: serf intents, events and queries", "[wire][traps]") {
  CHECK(has(wire::go_trap(wire::SerfJoin{~std::uint64_t{0}, "n"}), "Lamport"));  // SF-5
  CHECK(has(wire::go_trap(wire::SerfLeave{5, "a\nb", false}), "control character"));
  CHECK(has(wire::go_trap(wire::SerfUserEvent{~std::uint64_t{0} - 5, "deploy", {}, false}),
            "Lamport"));
  // Far from the wrap is fine (a cluster whose clocks were pushed up keeps working with us).
  CHECK_FALSE(wire::go_trap(wire::SerfUserEvent{std::uint64_t{1} << 63, "deploy", {}, false}));
  CHECK(has(wire::go_trap(wire::SerfUserEvent{3, "x\nserf.evil:1|c", {}, false}), "control"));
  CHECK_FALSE(
      wire::go_trap(wire::SerfUserEvent{3, "deploy", bytes("v1\n\x01 any payload"), false}));

  auto q = query("app", 3, 1);
  CHECK_FALSE(wire::go_trap(q));
  q.Filters = {wire::Bytes{}};  // SF-1: filter[0] panics
  CHECK(has(wire::go_trap(q), "empty query filter"));
  q.Filters = {hex("07 90")};
  CHECK(has(wire::go_trap(q), "unknown query filter type 7"));
  q.Filters = {hex("00 dd ff ff ff ff a1 78")};  // MP-1: four billion names claimed
  CHECK(has(wire::go_trap(q), "undecodable"));
  for (const char* name : {"_serf_install-key", "_serf_use-key", "_serf_remove-key"}) {  // SF-2
    auto k = query(name, 3, 2);
    k.Payload = std::nullopt;
    CHECK(has(wire::go_trap(k), "without a key request"));
    k.Payload = wire::Bytes{};
    CHECK(has(wire::go_trap(k), "without a key request"));
    k.Payload = hex("07 dd ff ff ff ff");  // MP-1 inside the key request
    CHECK(has(wire::go_trap(k), "without a key request"));
    k.Payload = hex("07 81 a3 4b 65 79 a4 01 02 03 04");
    CHECK_FALSE(wire::go_trap(k));
  }
  auto lk = query("_serf_list-keys", 3, 3);  // ignores its payload: safe empty
  lk.Payload = std::nullopt;
  CHECK_FALSE(wire::go_trap(lk));
}

TEST_CASE("go traps: serf drops unsafe messages, gossips only its own re-encoding",
          "[serf][traps]") {
  Harness h;
  h.serf.notify_msg(join_msg("n\n1", 3));
  auto q = query("app", 2, 9);
  q.Filters = {wire::Bytes{}};
  h.serf.notify_msg(query_msg(q));
  auto k = query("_serf_use-key", 2, 10);
  k.Payload = std::nullopt;
  h.serf.notify_msg(query_msg(k));
  h.serf.notify_msg(event_msg("deploy", "v1", ~std::uint64_t{0}));
  CHECK(h.serf.stats().unsafe_dropped == 4);
  CHECK(h.drain().empty());          // nothing gossiped on
  CHECK(h.queries.empty());          // nor processed
  CHECK(h.ml.sent.empty());          // no ack, no response
  CHECK(h.serf.query_clock() == 1);  // clocks untouched
  CHECK(h.serf.event_clock() == 1);

  // A safe event carrying an unknown key with a bloated header is gossiped without it.
  wire::Bytes raw =
      hex("03 85 a2 43 43 c2 a5 4c 54 69 6d 65 05 a4 4e 61 6d 65 a6 64 65 70 6c 6f 79"
          " a7 50 61 79 6c 6f 61 64 a2 76 32 a2 5a 7a 92 01 02");
  h.serf.notify_msg(raw);
  const auto out = h.drain();
  REQUIRE(out.size() == 1);
  CHECK(out[0] == event_msg("deploy", "v2", 5));
  // A tag filter in a non-canonical encoding goes out canonical (str8 keys, reversed order).
  auto tq = query("app", 3, 11);
  tq.Filters = {hex("01 82 d9 03 54 61 67 d9 04 72 6f 6c 65 d9 04 45 78 70 72 a1 78")};
  h.serf.notify_msg(query_msg(tq));
  wire::Bytes fwd;
  for (auto& m : h.drain()) {
    if (m[0] == static_cast<std::uint8_t>(wire::SerfMsgType::kQuery)) fwd = m;
  }
  REQUIRE_FALSE(fwd.empty());
  wire::SerfQuery back;
  REQUIRE(wire::decode(std::span(fwd).subspan(1), back));
  REQUIRE(back.Filters.size() == 1);
  CHECK(back.Filters[0] == serf::encode_tag_filter("role", "x"));
}
