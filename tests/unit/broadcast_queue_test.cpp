// SPDX-License-Identifier: MIT
#include "core/swim/broadcast_queue.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <vector>

using haserf::swim::BroadcastQueue;
using haserf::wire::Bytes;

namespace {
Bytes msg(std::size_t size, std::uint8_t tag) {
  return Bytes(size, tag);
}
}  // namespace

TEST_CASE("broadcast queue: order, budget and transmit limit", "[swim][queue]") {
  std::size_t nodes = 3;  // retransmit limit 4
  BroadcastQueue q(4, [&] { return nodes; });
  int finished = 0;
  q.queue(msg(10, 1), "", [&] { ++finished; });
  q.queue(msg(30, 2));
  q.queue(msg(10, 3));
  // Fewest transmits, then larger, then newer.
  auto first = q.get(2, 1000);
  REQUIRE(first.size() == 3);
  REQUIRE(first[0][0] == 2);
  REQUIRE(first[1][0] == 3);
  REQUIRE(first[2][0] == 1);
  // A budget that fits only the small ones skips the large one and keeps scanning.
  auto small = q.get(2, 25);
  REQUIRE(small.size() == 2);
  for (const auto& m : small) REQUIRE(m.size() == 10);
  // Those two now have 2 transmits, the large one 1: it goes first.
  REQUIRE(q.get(2, 1000)[0][0] == 2);
  for (int i = 0; i < 4; ++i) q.get(2, 1000);
  REQUIRE(q.size() == 0);
  REQUIRE(finished == 1);
}

TEST_CASE("broadcast queue: a keyed message replaces the queued one", "[swim][queue]") {
  BroadcastQueue q(4, [] { return std::size_t{3}; });
  int replaced = 0;
  q.queue(msg(5, 1), "node-a", [&] { ++replaced; });
  q.get(2, 1000);
  q.queue(msg(5, 2), "node-a");
  q.queue(msg(5, 3), "node-b");
  REQUIRE(replaced == 1);
  REQUIRE(q.size() == 2);
  auto out = q.get(2, 1000);
  REQUIRE(out.size() == 2);
  REQUIRE((out[0][0] == 2 || out[1][0] == 2));
  // Replacing after a transmit still finds the (re-inserted) item.
  q.queue(msg(5, 4), "node-b");
  REQUIRE(q.size() == 2);
}

TEST_CASE("broadcast queue: prune drops the oldest and empty messages are refused",
          "[swim][queue]") {
  BroadcastQueue q(4, [] { return std::size_t{3}; });
  q.queue(Bytes{});
  REQUIRE(q.size() == 0);
  int pruned = 0;
  for (std::uint8_t i = 1; i <= 10; ++i) q.queue(msg(5, i), "", [&] { ++pruned; });
  q.prune(4);
  REQUIRE(q.size() == 4);
  REQUIRE(pruned == 6);
  for (const auto& m : q.get(2, 1000)) REQUIRE(m[0] > 6);
  q.clear();
  REQUIRE(q.size() == 0);
  REQUIRE(pruned == 10);
}

TEST_CASE("broadcast queue: filling a packet seeks, and takes what a full scan would",
          "[swim][queue]") {
  // A model: every item in a vector, sorted and scanned whole for each packet (the order and
  // the greedy fill of §6.7). The queue must return the same messages in the same order.
  struct Model {
    int transmits;
    std::size_t size;
    std::uint64_t id;
    Bytes message;
  };
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    const std::size_t nodes = 1 + rng() % 200;
    const int limit_transmits = haserf::swim::retransmit_limit(4, nodes);
    BroadcastQueue q(4, [&] { return nodes; });
    std::vector<Model> model;
    std::uint64_t next_id = 1;
    for (int step = 0; step < 200; ++step) {
      if (rng() % 3 != 0) {
        const std::size_t size = 4 + rng() % 300;
        Bytes m(size, 0);
        for (int b = 0; b < 4; ++b) m[b] = static_cast<std::uint8_t>(next_id >> (8 * b));
        q.queue(m);
        model.push_back({0, size, next_id++, m});
        continue;
      }
      const std::size_t overhead = rng() % 4;
      const std::size_t budget = rng() % 1400;
      std::sort(model.begin(), model.end(), [](const Model& a, const Model& b) {
        if (a.transmits != b.transmits) return a.transmits < b.transmits;
        if (a.size != b.size) return a.size > b.size;
        return a.id > b.id;
      });
      std::vector<Bytes> expected;
      std::size_t used = 0;
      for (auto& m : model) {
        if (used + overhead >= budget) break;
        if (used + m.size + overhead > budget) continue;
        used += m.size + overhead;
        expected.push_back(m.message);
        m.transmits = -m.transmits - 1;  // taken: mark, count below
      }
      for (auto& m : model) {
        if (m.transmits < 0) m.transmits = -m.transmits;
      }
      std::erase_if(model, [&](const Model& m) { return m.transmits >= limit_transmits; });
      const auto got = q.get(overhead, budget);
      REQUIRE(got == expected);
      REQUIRE(q.size() == model.size());
    }
  }
}
