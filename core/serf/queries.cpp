// SPDX-License-Identifier: MIT
// Queries received (§7.10): dedupe, re-broadcast, filters, ack, delivery, responses.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "core/serf/filters.hpp"
#include "core/serf/serf.hpp"
#include "core/wire/codec.hpp"
#include "core/wire/go_traps.hpp"

namespace haserf::serf {

namespace {

constexpr std::uint32_t kFlagAck = 1;
constexpr std::uint32_t kFlagNoBroadcast = 2;
constexpr std::string_view kInternalPrefix = "_serf_";

bool usable(const swim::Address& a) {
  return (a.ip.size() == 4 || a.ip.size() == 16) && a.port != 0;
}

// Go's time.Now().Add(Timeout) saturates; a steady_clock time_point would overflow instead.
swim::Duration clamp_timeout(std::int64_t ns) {
  constexpr std::int64_t kMax = std::chrono::nanoseconds(std::chrono::hours(24)).count();
  return std::chrono::duration_cast<swim::Duration>(
      std::chrono::nanoseconds(std::clamp<std::int64_t>(ns, 0, kMax)));
}

}  // namespace

// True when the query should be re-broadcast (it is new and flag 2 is clear).
bool Serf::handle_query(const wire::SerfQuery& msg) {
  query_clock_.witness(msg.LTime);
  if (msg.LTime < query_min_time_) {
    ++stats_.queries_too_old;
    return false;
  }
  const LamportTime now = query_clock_.time();
  const LamportTime window = query_ring_.size();
  if (now > window && msg.LTime < now - window) {
    ++stats_.queries_too_old;
    return false;
  }
  QuerySlot& slot = query_ring_[msg.LTime % window];
  if (!slot.ids.empty() && slot.ltime == msg.LTime) {
    if (std::find(slot.ids.begin(), slot.ids.end(), msg.ID) != slot.ids.end()) {
      ++stats_.queries_duplicate;
      return false;
    }
    if (slot.ids.size() >= config_.max_queries_per_slot) {
      ++stats_.queries_dropped;
      return false;
    }
  } else {
    slot = QuerySlot{msg.LTime, {}};
  }
  slot.ids.push_back(msg.ID);
  ++stats_.queries_received;

  // Re-broadcast even when the filters exclude us (§7.10 step 2).
  const bool rebroadcast = (msg.Flags & kFlagNoBroadcast) == 0;
  if (!should_process(msg.Filters)) {
    ++stats_.queries_filtered;
    return rebroadcast;
  }
  if (msg.LTime > last_query_ltime_) last_query_ltime_ = msg.LTime;

  Query q;
  q.name = msg.Name;
  q.payload = msg.Payload.value_or(wire::Bytes{});
  q.ltime = msg.LTime;
  q.id = msg.ID;
  q.source_node = msg.SourceNode;
  q.reply_to = swim::Address{msg.Addr, msg.Port};
  q.deadline = sched_.now() + clamp_timeout(msg.Timeout);
  q.relay_factor = msg.RelayFactor;

  // The ack goes out at once, before any handler runs (§7.10 step 4).
  if ((msg.Flags & kFlagAck) != 0) {
    if (memberlist_ == nullptr || !usable(q.reply_to)) {
      ++stats_.bad_query_addr;
    } else {
      const wire::SerfQueryResponse ack{msg.LTime, msg.ID, config_.node_name, kFlagAck,
                                        std::nullopt};
      const auto raw = wire::serf_message(wire::SerfMsgType::kQueryResponse, ack);
      memberlist_->send_to_address(q.reply_to, raw);
      relay_response(q, raw);
      ++stats_.queries_acked;
    }
  }

  if (q.name.starts_with(kInternalPrefix)) {
    handle_internal_query(q);
  } else if (query_handler_) {
    ++stats_.queries_delivered;
    query_handler_(q);
  } else {
    ++stats_.queries_unhandled;
  }
  return rebroadcast;
}

// serf shouldProcessQuery: every filter must match; an unusable one excludes us.
bool Serf::should_process(const std::vector<wire::Bytes>& filters) {
  const RegexLimits limits{config_.max_regex_length, config_.max_regex_repeat};
  for (const auto& f : filters) {
    switch (match_filter(f, config_.node_name, config_.tags, limits)) {
      case FilterResult::kMatch:
        continue;
      case FilterResult::kInvalid:
        ++stats_.bad_filters;
        return false;
      case FilterResult::kNoMatch:
        return false;
    }
  }
  return true;
}

bool Serf::respond(const Query& query, wire::Bytes payload, std::string* err) {
  return send_response(query, std::move(payload), err);
}

// serf Query.Respond: once, before the deadline, within the size limit.
bool Serf::send_response(const Query& q, std::optional<wire::Bytes> payload, std::string* err) {
  const auto fail = [&](std::string why) {
    if (err) *err = std::move(why);
    return false;
  };
  if (!q.responded || *q.responded) return fail("response already sent");
  if (sched_.now() > q.deadline) return fail("response is past the deadline");
  const wire::SerfQueryResponse resp{q.ltime, q.id, config_.node_name, 0, std::move(payload)};
  const wire::Bytes raw = wire::serf_message(wire::SerfMsgType::kQueryResponse, resp);
  if (raw.size() > config_.query_response_size_limit) {
    return fail("response exceeds limit of " + std::to_string(config_.query_response_size_limit) +
                " bytes");
  }
  if (memberlist_ == nullptr || !usable(q.reply_to)) {
    ++stats_.bad_query_addr;
    return fail("query has no usable reply address");
  }
  memberlist_->send_to_address(q.reply_to, raw);
  relay_response(q, raw);
  *q.responded = true;
  ++stats_.queries_answered;
  return true;
}

void Serf::relay_response(const Query& q, const wire::Bytes& raw) {
  if (q.relay_factor == 0 || memberlist_ == nullptr) return;
  // Worth it only with at least relay_factor *other* members (serf's rule).
  if (members_.size() < static_cast<std::size_t>(q.relay_factor) + 1) return;
  const wire::SerfRelayHeader header{q.reply_to.ip, q.reply_to.port, "", q.source_node};
  const auto relayed = wire::encode_relay_message(header, raw);
  if (relayed.size() > config_.query_response_size_limit) {
    ++stats_.relays_too_large;
    return;
  }
  // Random alive members that understand relays (memberlist protocol max >= 5), not us.
  std::vector<const MemberState*> candidates;
  for (const auto& [name, m] : members_) {
    if (name == config_.node_name || m.status != MemberStatus::kAlive) continue;
    if (m.vsn.size() < 2 || m.vsn[1] < 5) continue;
    candidates.push_back(&m);
  }
  std::shuffle(candidates.begin(), candidates.end(), sched_.rng());
  if (candidates.size() > q.relay_factor) candidates.resize(q.relay_factor);
  for (const auto* m : candidates) {
    memberlist_->send_to_address(swim::Address{m->addr, m->port}, relayed);
    ++stats_.responses_relayed;
  }
}

void Serf::forward_relay(std::span<const std::uint8_t> body) {
  wire::SerfRelayHeader header;
  wire::ByteSpan inner;
  wire::SerfQueryResponse resp;
  if (!wire::decode_relay_message(body, header, inner) || inner.empty() ||
      inner[0] != static_cast<std::uint8_t>(wire::SerfMsgType::kQueryResponse) ||
      !wire::decode(inner.subspan(1), resp)) {
    ++stats_.decode_errors;
    ++stats_.relays_ignored;
    return;
  }
  // Only to a member we know, at the address we know it by: a relay must not let anyone use
  // us to send datagrams to an address of their choosing.
  const auto it = members_.find(header.DestName);
  if (it == members_.end() || it->second.status != MemberStatus::kAlive ||
      it->second.addr != header.DestIP || it->second.port != header.DestPort) {
    ++stats_.relays_ignored;
    return;
  }
  // Re-encoded from what we decoded: we forward only what we understood.
  const auto raw = wire::serf_message(wire::SerfMsgType::kQueryResponse, resp);
  if (raw.size() > config_.query_response_size_limit) {
    ++stats_.relays_ignored;
    return;
  }
  memberlist_->send_to_address(swim::Address{header.DestIP, header.DestPort}, raw);
  ++stats_.relays_forwarded;
}

std::chrono::milliseconds Serf::default_query_timeout() const {
  const std::size_t n = memberlist_ != nullptr ? memberlist_->num_members() : 1;
  const int scale =
      std::max(1, static_cast<int>(std::ceil(std::log10(static_cast<double>(n) + 1))));
  return config_.gossip_interval * config_.query_timeout_mult * scale;
}

bool Serf::query(const std::string& name, wire::Bytes payload, const QueryParams& params,
                 QueryCallbacks callbacks, std::string* err) {
  const auto fail = [&](std::string why) {
    if (err) *err = std::move(why);
    return false;
  };
  if (memberlist_ == nullptr) return fail("not running");
  if (open_queries_.size() >= config_.max_open_queries) {
    return fail("too many queries in flight (" + std::to_string(open_queries_.size()) + ")");
  }
  // At most an hour: a longer one would only hold a slot of max_open_queries.
  const auto timeout = std::min<std::chrono::milliseconds>(
      params.timeout.count() > 0 ? params.timeout : default_query_timeout(), std::chrono::hours(1));
  const swim::NodeInfo local = memberlist_->local_node();
  wire::SerfQuery q;
  q.LTime = query_clock_.time();
  std::uniform_int_distribution<std::uint32_t> id(0, 0x7fffffff);  // Go's rand.Int31
  q.ID = id(sched_.rng());
  q.Addr = local.addr;
  q.Port = local.port;
  q.SourceNode = config_.node_name;
  if (!params.filter_nodes.empty()) q.Filters.push_back(encode_node_filter(params.filter_nodes));
  for (const auto& [tag, expr] : params.filter_tags)
    q.Filters.push_back(encode_tag_filter(tag, expr));
  q.Flags = params.request_ack ? kFlagAck : 0;
  q.RelayFactor = std::min<std::uint8_t>(params.relay_factor, 5);
  q.Timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
  q.Name = name;
  q.Payload = std::move(payload);
  // Nothing we send may crash a Go peer (a key query without a key request would).
  if (const auto trap = wire::go_trap(q)) return fail("refused: " + *trap);
  const wire::Bytes raw = wire::serf_message(wire::SerfMsgType::kQuery, q);
  if (raw.size() > config_.query_size_limit) {
    return fail("query exceeds limit of " + std::to_string(config_.query_size_limit) + " bytes");
  }
  // Registered before the local delivery: our own handler's answer comes back to us.
  OpenQuery& open = open_queries_[q.LTime];
  open = OpenQuery{q.ID, {}, {}, std::move(callbacks)};
  const LamportTime ltime = q.LTime;
  after(timeout, [this, ltime] {
    const auto it = open_queries_.find(ltime);
    if (it == open_queries_.end()) return;
    auto done = std::move(it->second.callbacks.done);
    const int acks = static_cast<int>(it->second.acks.size());
    const int responses = static_cast<int>(it->second.responses.size());
    open_queries_.erase(it);
    if (done) done(acks, responses);
  });
  ++stats_.queries_sent;
  handle_query(q);
  query_queue_.queue(raw);
  if (memberlist_) memberlist_->wake_gossip();
  // As with our leave intent: random gossip may take a while to reach everyone (and spends
  // copies on recently dead nodes), while the answers only count until the timeout. A direct
  // copy to each alive member (small clusters) starts everyone at once; duplicates are
  // dropped by ID.
  send_to_alive_members(raw);
  return true;
}

// serf handleQueryResponse: for an open query of ours with the same ID; one ack and one
// response per node.
void Serf::handle_query_response(const wire::SerfQueryResponse& msg) {
  const auto it = open_queries_.find(msg.LTime);
  if (it == open_queries_.end() || it->second.id != msg.ID) {
    ++stats_.query_responses_ignored;
    return;
  }
  OpenQuery& q = it->second;
  if ((msg.Flags & kFlagAck) != 0) {
    if (!q.acks.insert(msg.From).second) return;
    ++stats_.query_acks_received;
    if (q.callbacks.ack) q.callbacks.ack(msg.From);
    return;
  }
  if (!q.responses.insert(msg.From).second) return;
  ++stats_.query_answers_received;
  if (q.callbacks.response) q.callbacks.response(msg.From, msg.Payload.value_or(wire::Bytes{}));
}

}  // namespace haserf::serf
