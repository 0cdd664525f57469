// SPDX-License-Identifier: MIT
// Serf's half of a handover to a successor process (core/net/handover.hpp): everything that
// makes us "us" to the cluster, exported and imported without a single message.
#include "core/serf/serf.hpp"

namespace haserf::serf {

SerfSnapshot Serf::export_state() const {
  SerfSnapshot s;
  s.clock = clock_.time();
  s.event_clock = event_clock_.time();
  s.query_clock = query_clock_.time();
  s.event_min_time = event_min_time_;
  s.query_min_time = query_min_time_;
  s.members.reserve(members_.size());
  for (const auto& [name, m] : members_) s.members.push_back(m);
  s.failed = failed_members_;
  s.left = left_members_;
  for (const auto& [node, intent] : recent_intents_) {
    s.intents.push_back(
        IntentRecord{node, intent.type == IntentType::kLeave, intent.ltime, intent.when});
  }
  for (const auto& slot : event_ring_) {
    if (!slot.events.empty()) s.events.push_back(slot);
  }
  for (const auto& slot : query_ring_) {
    if (!slot.ids.empty()) s.queries.push_back(slot);
  }
  return s;
}

void Serf::import_state(const SerfSnapshot& s) {
  clock_.restore(s.clock);
  event_clock_.restore(s.event_clock);
  query_clock_.restore(s.query_clock);
  event_min_time_ = std::max(event_min_time_, s.event_min_time);
  query_min_time_ = std::max(query_min_time_, s.query_min_time);

  members_.clear();
  for (const auto& m : s.members) {
    if (m.name.empty() || members_.size() >= config_.max_members) continue;
    members_.emplace(m.name, m);
  }
  const auto known = [&](const std::string& name) { return members_.count(name) != 0; };
  failed_members_.clear();
  left_members_.clear();
  for (const auto& name : s.failed) {
    if (known(name)) failed_members_.push_back(name);
  }
  for (const auto& name : s.left) {
    if (known(name)) left_members_.push_back(name);
  }
  recent_intents_.clear();
  for (const auto& r : s.intents) {
    if (recent_intents_.size() >= config_.max_recent_intents) break;
    recent_intents_[r.node] =
        Intent{r.leave ? IntentType::kLeave : IntentType::kJoin, r.ltime, r.when};
  }
  // Ring slots go back where their LTime puts them; sizes are ours, not the predecessor's.
  event_ring_.assign(event_ring_.size(), EventSlot{});
  event_ring_bytes_ = 0;
  for (const auto& slot : s.events) {
    EventSlot& dst = event_ring_[slot.ltime % event_ring_.size()];
    if (!dst.events.empty() && dst.ltime >= slot.ltime) continue;
    for (const auto& [name, payload] : dst.events)
      event_ring_bytes_ -= name.size() + payload.size();
    dst = slot;
    for (const auto& [name, payload] : dst.events)
      event_ring_bytes_ += name.size() + payload.size();
  }
  query_ring_.assign(query_ring_.size(), QuerySlot{});
  for (const auto& slot : s.queries) {
    QuerySlot& dst = query_ring_[slot.ltime % query_ring_.size()];
    if (dst.ids.empty() || slot.ltime > dst.ltime) dst = slot;
  }

  std::vector<table::Member> rows;
  rows.reserve(members_.size());
  for (const auto& [name, m] : members_) rows.push_back(to_table(m));
  table_.replace_all(std::move(rows));
}

}  // namespace haserf::serf
