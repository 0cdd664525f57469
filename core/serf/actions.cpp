// SPDX-License-Identifier: MIT
// What the local node does on its own: join intent, graceful leave, tag changes (§7.4, §7.8).
#include "core/serf/serf.hpp"
#include "core/wire/codec.hpp"

namespace haserf::serf {

void Serf::begin_join() {
  join_ignore_old_ = config_.ignore_old_events;
}

void Serf::end_join(bool joined) {
  join_ignore_old_ = false;
  if (joined && state_ == SerfState::kAlive) broadcast_join();
}

// §7.4: join intent LTime = clock, then witness it; applied locally like a received one.
void Serf::broadcast_join() {
  const wire::SerfJoin msg{clock_.time(), config_.node_name};
  clock_.witness(msg.LTime);
  handle_join_intent(msg);
  intent_queue_.queue(wire::serf_message(wire::SerfMsgType::kJoin, msg));
  if (memberlist_) memberlist_->wake_gossip();
}

// §7.8 steps 1-2. Unlike Go, a timeout still completes (`done` runs; counted in stats), so
// the caller always goes on to memberlist's leave.
bool Serf::leave(std::function<void()> done, std::string* err) {
  if (state_ != SerfState::kAlive) {
    if (err) *err = state_ == SerfState::kLeaving ? "Leave already in progress" : "Already left";
    return false;
  }
  state_ = SerfState::kLeaving;
  const wire::SerfLeave msg{clock_.time(), config_.node_name, false};
  clock_.increment();
  handle_leave_intent(msg);  // not refuted: we are no longer alive

  auto fired = std::make_shared<bool>(false);
  auto timer = std::make_shared<swim::TimerId>(0);
  auto finish = [this, fired, timer, done = std::move(done)](bool timed_out) {
    if (*fired) return;
    *fired = true;
    cancel_timer(*timer);
    if (timed_out) ++stats_.leave_timeouts;
    // Never inline: "finished" fires inside memberlist's packet building.
    if (done) after(swim::Duration::zero(), done);
  };
  if (!has_other_alive_members()) {  // nobody to tell: the intent is not gossiped at all
    finish(false);
    return true;
  }
  send_leave_intent_directly(msg);
  *timer = after(config_.broadcast_timeout, [finish] { finish(true); });
  intent_queue_.queue(wire::serf_message(wire::SerfMsgType::kLeave, msg), {},
                      [finish] { finish(false); });
  if (memberlist_) memberlist_->wake_gossip();
  return true;
}

bool Serf::force_leave(const std::string& node, bool prune,
                       std::function<void(const std::string& error)> done) {
  // serf forceLeave: a leave intent on the node's behalf, applied here and gossiped; the
  // answer waits until it went out retransmit-limit times (or broadcast_timeout).
  const wire::SerfLeave msg{clock_.time(), node, prune};
  clock_.increment();
  handle_leave_intent(msg);
  if (!has_other_alive_members()) {
    if (done) after(swim::Duration::zero(), [done] { done({}); });
    return true;
  }
  auto fired = std::make_shared<bool>(false);
  auto timer = std::make_shared<swim::TimerId>(0);
  auto finish = [this, fired, timer, done = std::move(done)](bool timed_out) {
    if (*fired) return;
    *fired = true;
    cancel_timer(*timer);
    const std::string error = timed_out ? "timed out broadcasting node removal" : "";
    if (done) after(swim::Duration::zero(), [done, error] { done(error); });
  };
  *timer = after(config_.broadcast_timeout, [finish] { finish(true); });
  intent_queue_.queue(wire::serf_message(wire::SerfMsgType::kLeave, msg), {},
                      [finish] { finish(false); });
  if (memberlist_) memberlist_->wake_gossip();
  return true;
}

// Gossip picks its targets at random (recently dead nodes included) and spreads over several
// rounds, so a member may learn of memberlist's dead{From: us} first, or get a push/pull from a
// peer that turns our leave's LTime into a join (Go serf sends a leaving member's LTime as a
// join), and then our leave looks stale: either way serf marks us failed, not left. One
// direct copy to each alive member at once closes those windows in clusters small enough
// for it; bigger ones rely on gossip alone.
void Serf::send_leave_intent_directly(const wire::SerfLeave& msg) {
  stats_.leave_direct_sends +=
      send_to_alive_members(wire::serf_message(wire::SerfMsgType::kLeave, msg));
}

std::size_t Serf::send_to_alive_members(const wire::Bytes& raw) {
  if (memberlist_ == nullptr) return 0;
  std::vector<swim::Address> to;
  for (const auto& [name, m] : members_) {
    if (name == config_.node_name || m.status != MemberStatus::kAlive) continue;
    if (to.size() == config_.leave_direct_limit) return 0;  // too many: gossip only
    to.push_back(swim::Address{m.addr, m.port});
  }
  for (const auto& a : to) memberlist_->send_to_address(a, raw);
  return to.size();
}

bool Serf::set_tags(wire::Tags tags, std::string* err) {
  if (wire::encode_tags(tags).size() > config_.meta_size_limit) {
    if (err) {
      *err = "Encoded length of tags exceeds limit of " + std::to_string(config_.meta_size_limit) +
             " bytes";
    }
    return false;
  }
  config_.tags = std::move(tags);
  // Our own entry now; memberlist's NotifyUpdate for us will then change nothing.
  if (const auto it = members_.find(config_.node_name); it != members_.end()) {
    it->second.tags = config_.tags;
    table_.update(to_table(it->second));
  }
  if (memberlist_ != nullptr) memberlist_->update_node_meta();
  return true;
}

}  // namespace haserf::serf
