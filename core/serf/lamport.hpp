// SPDX-License-Identifier: MIT
// Serf's Lamport clock (§7.4). Serf keeps three: members (intents, push/pull LTime), user
// events and queries. Single-threaded: the state machine runs on one loop thread.
#pragma once

#include <cstdint>

namespace haserf::serf {

using LamportTime = std::uint64_t;

class LamportClock {
 public:
  // All serf clocks start at 1 (§7.4).
  LamportTime time() const { return counter_; }
  // Returns the new value.
  LamportTime increment() { return ++counter_; }
  // Moves past `v` when `v` is at or ahead of us; an older value changes nothing.
  void witness(LamportTime v) {
    if (v >= counter_) counter_ = v + 1;
  }
  // Continues a predecessor's clock (handover): never moves backwards.
  void restore(LamportTime v) {
    if (v > counter_) counter_ = v;
  }

 private:
  LamportTime counter_ = 1;
};

}  // namespace haserf::serf
