// SPDX-License-Identifier: MIT
// Serf's push/pull user state (§7.6 LocalState / MergeRemoteState).
#include <set>

#include "core/serf/serf.hpp"
#include "core/wire/codec.hpp"
#include "core/wire/go_traps.hpp"

namespace haserf::serf {

wire::Bytes Serf::local_state(bool /*join*/) {
  wire::SerfPushPull pp;
  pp.LTime = clock_.time();
  for (const auto& [name, m] : members_) {
    // The receiver turns every entry not in LeftMembers into a join intent. A leaving
    // member's status LTime is its leave's: sent as is, that join would cancel the very leave
    // the receiver has yet to see (the leave then looks stale and the node ends up "failed").
    // One less still orders after the member's join.
    const bool leaving = m.status == MemberStatus::kLeaving && m.status_ltime > 0;
    pp.StatusLTimes.emplace(name, leaving ? m.status_ltime - 1 : m.status_ltime);
  }
  pp.LeftMembers = left_members_;
  pp.EventLTime = event_clock_.time();
  // Go sends its whole ring, mostly nil; receivers accept any length, so only used slots go.
  for (const auto& slot : event_ring_) {
    if (slot.events.empty()) continue;
    pp.Events.emplace_back(wire::SerfUserEvents{slot.ltime, slot.events});
  }
  pp.QueryLTime = query_clock_.time();
  return wire::encode_serf_push_pull(pp);
}

void Serf::merge_remote_state(std::span<const std::uint8_t> state, bool join) {
  try {
    wire::SerfPushPull pp;
    if (!wire::decode_serf_push_pull(state, pp)) {
      ++stats_.push_pull_invalid;
      ++stats_.decode_errors;
      return;
    }
    // A clock near the 64-bit wrap would reach every peer through our own state: skip it.
    const auto sane = [&](LamportTime t) {
      if (t < wire::kMaxLamportTime) return true;
      ++stats_.unsafe_dropped;
      stats_.last_unsafe = "push/pull Lamport time " + std::to_string(t) + " near the 64-bit wrap";
      return false;
    };
    // Witness one less than the remote clocks: their current values are not used yet.
    if (pp.LTime > 0 && sane(pp.LTime)) clock_.witness(pp.LTime - 1);
    if (pp.EventLTime > 0 && sane(pp.EventLTime)) event_clock_.witness(pp.EventLTime - 1);
    if (pp.QueryLTime > 0 && sane(pp.QueryLTime)) query_clock_.witness(pp.QueryLTime - 1);
    std::erase_if(pp.StatusLTimes, [&](const auto& kv) { return !sane(kv.second); });

    // Left members first, as leave intents one past their status LTime (the leave must have
    // come after it to be accepted), so later joins cannot overtake them.
    std::set<std::string_view> left;
    for (const auto& name : pp.LeftMembers) {
      left.insert(name);
      const auto it = pp.StatusLTimes.find(name);
      const LamportTime ltime = it == pp.StatusLTimes.end() ? 0 : it->second;
      handle_leave_intent(wire::SerfLeave{ltime + 1, name, false});
    }
    for (const auto& [name, ltime] : pp.StatusLTimes) {
      if (left.count(name) == 0) handle_join_intent(wire::SerfJoin{ltime, name});
    }
    // `serf join` without -replay: events the cluster already had are not ours to run.
    if (join && join_ignore_old_ && pp.EventLTime > event_min_time_) {
      event_min_time_ = pp.EventLTime;
    }
    for (const auto& slot : pp.Events) {
      if (!slot || !sane(slot->LTime)) continue;
      for (const auto& [name, payload] : slot->Events) {
        const wire::SerfUserEvent e{slot->LTime, name, payload, false};
        if (!unsafe(wire::go_trap(e))) handle_user_event(e);
      }
    }
    ++stats_.push_pull_merged;
  } catch (const std::exception&) {
    ++stats_.push_pull_invalid;
  }
}

}  // namespace haserf::serf
