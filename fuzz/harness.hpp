// SPDX-License-Identifier: MIT
// A complete member (memberlist + serf + table) with a transport that drops what it sends and
// a manual clock, for fuzz targets that feed it hostile bytes.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "core/serf/serf.hpp"
#include "core/swim/swim.hpp"
#include "core/table/table.hpp"

namespace haserf::fuzz {

struct NullTransport : swim::Transport {
  void send_packet(const swim::Address&, wire::Bytes) override {}
  void stream_exchange(const swim::Address&, wire::Bytes, bool, swim::Duration,
                       StreamDone done) override {
    done(false, nullptr, "fuzz: no network");
  }
};

struct Node {
  swim::TimerQueue timers{swim::TimePoint{} + std::chrono::hours(1), 1};
  table::MembershipTable table;
  NullTransport transport;
  std::unique_ptr<serf::Serf> serf;
  std::unique_ptr<swim::Memberlist> memberlist;
  swim::Address peer{{10, 0, 0, 2}, 7946};

  // before_start runs once both layers are wired and before the member starts, where the
  // agent imports a predecessor's state (fuzz_handover does the same).
  explicit Node(const std::function<void(Node&)>& before_start = {}) {
    serf::Config sc;
    sc.node_name = "fuzz";
    sc.tags = {{"role", "lb"}};
    sc.max_members = 2000;  // this and max_nodes keep the fuzzer's memory bounded
    serf = std::make_unique<serf::Serf>(sc, table, timers);
    swim::Config mc = swim::lan_config();
    mc.name = "fuzz";
    mc.advertise = swim::Address{{10, 0, 0, 1}, 7946};
    mc.max_nodes = 2000;
    memberlist = std::make_unique<swim::Memberlist>(mc, *serf, transport, timers);
    serf->attach(memberlist.get());
    if (before_start) before_start(*this);
    memberlist->start();
  }
  ~Node() { memberlist->shutdown(); }
};

// The member a target feeds its next input to. State carried from input to input finds bugs
// that need history (a member known, then refuted, then merged), but a member that has grown
// to thousands of members makes every later input slow (gossip rounds and push/pull merges
// over all of them: long runs of fuzz_stream fell to 400-800 executions/s). So the member is
// replaced by a fresh one every kInputsPerNode inputs (fuzz_stream on its kept corpus: about
// 6,700/s over 400,000 executions).
inline constexpr unsigned kInputsPerNode = 4096;

inline Node& node_for_next_input() {
  static std::unique_ptr<Node> node;
  static unsigned inputs = 0;
  if (!node || ++inputs % kInputsPerNode == 0) {
    node.reset();
    node = std::make_unique<Node>();
  }
  return *node;
}

}  // namespace haserf::fuzz
