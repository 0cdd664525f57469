// SPDX-License-Identifier: MIT
// Serf construction, timers, broadcast queues and user-message dispatch (§6.7, §7.6).
#include "core/serf/serf.hpp"

#include <algorithm>

#include "core/wire/codec.hpp"
#include "core/wire/go_traps.hpp"

namespace haserf::serf {

Serf::Serf(Config config, table::MembershipTable& table, swim::Scheduler& scheduler)
    : config_(std::move(config)),
      table_(table),
      sched_(scheduler),
      // §6.7: serf's queues scale their retransmit limit with len(serf members), failed and
      // left included.
      intent_queue_(config_.retransmit_mult, [this] { return members_.size(); }),
      event_queue_(config_.retransmit_mult, [this] { return members_.size(); }),
      query_queue_(config_.retransmit_mult, [this] { return members_.size(); }) {
  // A zero-slot ring would divide by zero; serf never runs with one either.
  config_.event_buffer = std::max<std::size_t>(config_.event_buffer, 1);
  config_.query_buffer = std::max<std::size_t>(config_.query_buffer, 1);
  event_ring_.resize(config_.event_buffer);
  query_ring_.resize(config_.query_buffer);
  // Randomness comes from the scheduler, like everything else nondeterministic here.
  if (!config_.disable_coordinates) coord_client_.emplace(coord::Config{}, sched_.rng()());
}

Serf::~Serf() {
  for (const auto id : timers_) sched_.cancel(id);
}

void Serf::attach(swim::MemberlistApi* memberlist) {
  const bool first = memberlist_ == nullptr;
  memberlist_ = memberlist;
  if (!first || memberlist == nullptr) return;
  every(config_.reap_interval, [this] { reap(); });
  every(config_.reconnect_interval, [this] { reconnect(); });
  every(config_.queue_check_interval, [this] { check_queues(); });
}

swim::TimerId Serf::after(swim::Duration delay, std::function<void()> fn) {
  auto id = std::make_shared<swim::TimerId>(0);
  *id = sched_.schedule(delay, [this, id, fn = std::move(fn)] {
    timers_.erase(*id);
    fn();
  });
  timers_.insert(*id);
  return *id;
}

void Serf::every(swim::Duration period, std::function<void()> fn) {
  after(period, [this, period, fn = std::move(fn)]() mutable {
    fn();
    every(period, std::move(fn));
  });
}

void Serf::cancel_timer(swim::TimerId id) {
  if (timers_.erase(id) != 0) sched_.cancel(id);
}

// serf checkQueueDepth: prune each queue to MaxQueueDepth (§6.7).
void Serf::check_queues() {
  for (auto* q : {&intent_queue_, &event_queue_, &query_queue_}) {
    const std::size_t before = q->size();
    if (before > config_.max_queue_depth) {
      q->prune(config_.max_queue_depth);
      stats_.queue_pruned += before - q->size();
    }
  }
}

const MemberState* Serf::member(std::string_view name) const {
  const auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second;
}

wire::Bytes Serf::node_meta(std::size_t limit) {
  wire::Bytes meta = wire::encode_tags(config_.tags);
  // set_tags() keeps this within meta_size_limit; memberlist's own limit could be smaller,
  // and Go would panic: fall back to no tags instead.
  if (meta.size() > limit) meta = wire::encode_tags({});
  return meta;
}

bool Serf::has_broadcasts() const {
  return intent_queue_.size() > 0 || query_queue_.size() > 0 || event_queue_.size() > 0;
}

// §7.6 GetBroadcasts: intents, then queries, then events, sharing one byte budget.
std::vector<wire::Bytes> Serf::get_broadcasts(std::size_t overhead, std::size_t limit) {
  std::vector<wire::Bytes> out;
  std::size_t used = 0;
  for (auto* q : {&intent_queue_, &query_queue_, &event_queue_}) {
    if (used >= limit) break;
    for (auto& m : q->get(overhead, limit - used)) {
      used += m.size() + overhead;
      out.push_back(std::move(m));
    }
  }
  return out;
}

void Serf::notify_msg(std::span<const std::uint8_t> msg) {
  // Nothing from the network may throw through memberlist (bad_alloc, regex internals...).
  try {
    dispatch(msg);
  } catch (const std::exception&) {
    ++stats_.decode_errors;
  }
}

// Counts and drops a message a Go peer could not survive; true when `trap` is set.
bool Serf::unsafe(const std::optional<std::string>& trap) {
  if (!trap) return false;
  ++stats_.unsafe_dropped;
  stats_.last_unsafe = *trap;
  return true;
}

// §7.6 NotifyMsg: dispatch on the serf type byte; when a handler reports the message as new,
// it is gossiped on. Unlike Go, we gossip our re-encoding of what we decoded, never the
// received bytes, and nothing a Go peer could not survive (wire/go_traps.hpp).
void Serf::dispatch(std::span<const std::uint8_t> msg) {
  if (msg.empty()) {
    ++stats_.empty_messages;
    return;
  }
  const std::uint8_t type = msg[0];
  const auto body = msg.subspan(1);
  if (type >= stats_.received_by_type.size()) {
    ++stats_.unknown_type;
    return;
  }
  ++stats_.received_by_type[type];
  // Decodes the body as T; unless it is unsafe, `handle` says whether to gossip it on.
  const auto relay = [&](auto message, wire::SerfMsgType kind, swim::BroadcastQueue& queue,
                         auto handle) {
    if (!wire::decode(body, message)) return false;
    if (unsafe(wire::go_trap(message))) return true;
    if (handle(message)) {
      queue.queue(wire::serf_message(kind, message));
      if (memberlist_) memberlist_->wake_gossip();
    }
    return true;
  };
  bool decoded = true;
  switch (static_cast<wire::SerfMsgType>(type)) {
    case wire::SerfMsgType::kLeave:
      decoded = relay(wire::SerfLeave{}, wire::SerfMsgType::kLeave, intent_queue_,
                      [&](const auto& m) { return handle_leave_intent(m); });
      break;
    case wire::SerfMsgType::kJoin:
      decoded = relay(wire::SerfJoin{}, wire::SerfMsgType::kJoin, intent_queue_,
                      [&](const auto& m) { return handle_join_intent(m); });
      break;
    case wire::SerfMsgType::kUserEvent:
      decoded = relay(wire::SerfUserEvent{}, wire::SerfMsgType::kUserEvent, event_queue_,
                      [&](const auto& m) { return handle_user_event(m); });
      break;
    case wire::SerfMsgType::kQuery:
      decoded = relay(wire::SerfQuery{}, wire::SerfMsgType::kQuery, query_queue_, [&](auto& m) {
        wire::normalize(m);
        return handle_query(m);
      });
      break;
    case wire::SerfMsgType::kQueryResponse: {
      wire::SerfQueryResponse m;
      decoded = wire::decode(body, m);
      if (decoded) handle_query_response(m);
      break;
    }
    case wire::SerfMsgType::kRelay:
      if (memberlist_ != nullptr) forward_relay(body);
      break;
    default:  // pushPull is TCP-only; conflict/key types only appear inside payloads
      ++stats_.unknown_type;
      break;
  }
  if (!decoded) ++stats_.decode_errors;
}

}  // namespace haserf::serf
