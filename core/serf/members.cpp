// SPDX-License-Identifier: MIT
// Serf's member view (§7.7): memberlist join/leave/update notifications, join and leave
// intents, recentIntents, prune, reaper and reconnect. Every change is mirrored into the
// MembershipTable.
#include <algorithm>
#include <random>

#include "core/serf/serf.hpp"
#include "core/wire/codec.hpp"

namespace haserf::serf {

namespace {

void remove_name(std::vector<std::string>& list, std::string_view name) {
  list.erase(std::remove(list.begin(), list.end(), name), list.end());
}

}  // namespace

// Address, versions and tags from memberlist's node. Bad or oversized Meta gives no tags
// (Go would keep whatever decoded) and is counted.
void Serf::apply_node(MemberState& m, const swim::NodeInfo& node) {
  m.addr = node.addr;
  m.port = node.port;
  m.vsn = node.vsn;
  m.incarnation = node.incarnation;
  wire::Tags tags;
  if (node.meta.size() > config_.max_meta_bytes || !wire::decode_tags(node.meta, tags) ||
      tags.size() > config_.max_tags) {
    tags.clear();
    ++stats_.bad_meta;
  }
  m.tags = std::move(tags);
}

table::Member Serf::to_table(const MemberState& m) const {
  table::Member t;
  t.name = m.name;
  t.addr = swim::ip_to_string(m.addr);
  t.port = m.port;
  t.tags = m.tags;
  t.status = m.status;
  t.incarnation = m.incarnation;
  t.ltime = m.status_ltime;
  // Serf's DelegateMin/Max/Cur are Vsn[3..5] (§3.1); a short Vsn leaves zeros.
  const auto v = [&](std::size_t i) -> std::uint8_t { return i < m.vsn.size() ? m.vsn[i] : 0; };
  t.protocol = table::ProtocolVersions{v(3), v(4), v(5)};
  t.memberlist_protocol = table::ProtocolVersions{v(0), v(1), v(2)};
  return t;
}

// §7.7 NotifyJoin: a new node, or one coming back from failed/left.
void Serf::notify_join(const swim::NodeInfo& node) {
  auto it = members_.find(node.name);
  if (it == members_.end()) {
    if (members_.size() >= config_.max_members) {
      ++stats_.members_dropped;
      return;
    }
    MemberState m;
    m.name = node.name;
    apply_node(m, node);
    m.status = MemberStatus::kAlive;
    // An intent may have arrived before memberlist told us about the node.
    if (const auto in = recent_intents_.find(node.name); in != recent_intents_.end()) {
      m.status_ltime = in->second.ltime;
      if (in->second.type == IntentType::kLeave) m.status = MemberStatus::kLeaving;
    }
    it = members_.emplace(node.name, std::move(m)).first;
  } else {
    MemberState& m = it->second;
    if (m.status == MemberStatus::kFailed) remove_name(failed_members_, m.name);
    if (m.status == MemberStatus::kLeft) remove_name(left_members_, m.name);
    m.status = MemberStatus::kAlive;
    m.leave_time = {};
    apply_node(m, node);
  }
  table_.join(to_table(it->second));
}

// §7.7 NotifyLeave: leaving -> left (graceful), alive -> failed; anything else is ignored.
void Serf::notify_leave(const swim::NodeInfo& node) {
  const auto it = members_.find(node.name);
  if (it == members_.end()) return;
  MemberState& m = it->second;
  switch (m.status) {
    case MemberStatus::kLeaving:
      m.status = MemberStatus::kLeft;
      m.leave_time = sched_.now();
      left_members_.push_back(m.name);
      table_.leave(m.name, m.status_ltime);
      break;
    case MemberStatus::kAlive:
      m.status = MemberStatus::kFailed;
      m.leave_time = sched_.now();
      failed_members_.push_back(m.name);
      table_.fail(m.name);
      break;
    default:
      break;
  }
}

// §7.7 NotifyUpdate: tags, address and versions refreshed.
void Serf::notify_update(const swim::NodeInfo& node) {
  const auto it = members_.find(node.name);
  if (it == members_.end()) return;
  apply_node(it->second, node);
  table_.update(to_table(it->second));
}

// Keeps the newest intent per unknown node (serf upsertIntent); true when it is new.
bool Serf::upsert_intent(const std::string& node, IntentType type, LamportTime ltime) {
  const auto it = recent_intents_.find(node);
  if (it == recent_intents_.end()) {
    if (recent_intents_.size() >= config_.max_recent_intents) {
      ++stats_.intents_dropped;
      return false;
    }
    recent_intents_.emplace(node, Intent{type, ltime, sched_.now()});
  } else if (ltime > it->second.ltime) {
    it->second = Intent{type, ltime, sched_.now()};
  } else {
    ++stats_.intents_stale;
    return false;
  }
  ++stats_.intents_buffered;
  return true;
}

// §7.7 join intent: newer LTime wins; leaving -> alive.
bool Serf::handle_join_intent(const wire::SerfJoin& msg) {
  clock_.witness(msg.LTime);
  const auto it = members_.find(msg.Node);
  if (it == members_.end()) return upsert_intent(msg.Node, IntentType::kJoin, msg.LTime);
  MemberState& m = it->second;
  if (msg.LTime <= m.status_ltime) {
    ++stats_.intents_stale;
    return false;
  }
  m.status_ltime = msg.LTime;
  if (m.status == MemberStatus::kLeaving) m.status = MemberStatus::kAlive;
  table_.set_status(m.name, m.status, m.status_ltime);
  ++stats_.intents_applied;
  return true;
}

// §7.7 leave intent: alive -> leaving, failed -> left; a stale one about us is refuted.
bool Serf::handle_leave_intent(const wire::SerfLeave& msg) {
  clock_.witness(msg.LTime);
  const auto it = members_.find(msg.Node);
  if (it == members_.end()) return upsert_intent(msg.Node, IntentType::kLeave, msg.LTime);
  MemberState& m = it->second;
  if (msg.LTime <= m.status_ltime) {
    ++stats_.intents_stale;
    return false;
  }
  // Someone thinks we are leaving while we are not: answer with a newer join intent (the
  // clock already moved past msg.LTime).
  if (msg.Node == config_.node_name && state_ == SerfState::kAlive) {
    ++stats_.leave_refutations;
    broadcast_join();
    return false;
  }
  m.status_ltime = msg.LTime;
  switch (m.status) {
    case MemberStatus::kAlive:
      m.status = MemberStatus::kLeaving;
      table_.set_status(m.name, MemberStatus::kLeaving, m.status_ltime);
      break;
    case MemberStatus::kFailed:
      // A failed node that is known to have left is a graceful leave after all.
      m.status = MemberStatus::kLeft;
      remove_name(failed_members_, m.name);
      left_members_.push_back(m.name);
      table_.leave(m.name, m.status_ltime);
      break;
    case MemberStatus::kLeaving:
    case MemberStatus::kLeft:
      table_.set_status(m.name, m.status, m.status_ltime);  // LTime only
      break;
    default:
      return false;
  }
  ++stats_.intents_applied;
  if (msg.Prune) prune_member(msg.Node);
  return true;
}

// serf handlePrune (force-leave -prune): a leaving node is erased once its own leave had
// time to propagate; others at once. Go sleeps inline here; we schedule.
void Serf::prune_member(std::string name) {
  const auto it = members_.find(name);
  if (it == members_.end()) return;
  if (it->second.status == MemberStatus::kLeaving) {
    after(config_.broadcast_timeout + config_.leave_propagate_delay,
          [this, name = std::move(name)] { erase_member(name); });
    return;
  }
  erase_member(name);
}

void Serf::erase_member(std::string name) {
  if (members_.erase(name) == 0) return;
  remove_name(failed_members_, name);
  remove_name(left_members_, name);
  table_.reap(name);
  ++stats_.members_reaped;
  forget_coordinate(name);  // serf eraseNode
}

bool Serf::has_other_alive_members() const {
  return std::any_of(members_.begin(), members_.end(), [&](const auto& kv) {
    return kv.first != config_.node_name && kv.second.status == MemberStatus::kAlive;
  });
}

// §7.7 reaper: failed members after reconnect_timeout, left ones after tombstone_timeout,
// buffered intents after recent_intent_timeout.
void Serf::reap() {
  const auto now = sched_.now();
  std::vector<std::string> gone;
  for (const auto& name : failed_members_) {
    const auto it = members_.find(name);
    if (it != members_.end() && now - it->second.leave_time > config_.reconnect_timeout) {
      gone.push_back(name);
    }
  }
  for (const auto& name : left_members_) {
    const auto it = members_.find(name);
    if (it != members_.end() && now - it->second.leave_time > config_.tombstone_timeout) {
      gone.push_back(name);
    }
  }
  if (!gone.empty()) {
    table_.batch([&] {
      for (const auto& name : gone) erase_member(name);
    });
  }
  std::erase_if(recent_intents_, [&](const auto& kv) {
    return now - kv.second.when > config_.recent_intent_timeout;
  });
}

// §7.7 reconnect: with probability failed/alive, a push/pull join to one random failed member.
void Serf::reconnect() {
  if (memberlist_ == nullptr || failed_members_.empty()) return;
  const std::size_t failed = failed_members_.size();
  const std::size_t others = failed + left_members_.size();
  double alive = members_.size() > others ? static_cast<double>(members_.size() - others) : 0.0;
  if (alive == 0.0) alive = 1.0;
  const double prob = static_cast<double>(failed) / alive;
  auto& rng = sched_.rng();
  if (std::uniform_real_distribution<double>(0.0, 1.0)(rng) > prob) return;
  const std::size_t idx = std::uniform_int_distribution<std::size_t>(0, failed - 1)(rng);
  const auto it = members_.find(failed_members_[idx]);
  if (it == members_.end()) return;
  ++stats_.reconnect_attempts;
  memberlist_->join_address(swim::Address{it->second.addr, it->second.port}, [](bool) {});
}

}  // namespace haserf::serf
