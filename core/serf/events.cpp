// SPDX-License-Identifier: MIT
// User events (§7.9): creation, dedupe ring, delivery.
#include "core/serf/serf.hpp"
#include "core/wire/codec.hpp"

namespace haserf::serf {

namespace {

std::size_t slot_bytes(const std::vector<std::pair<std::string, wire::Bytes>>& events) {
  std::size_t n = 0;
  for (const auto& [name, payload] : events) n += name.size() + payload.size();
  return n;
}

}  // namespace

// serf UserEvent: LTime = event clock, then increment. Like Go, the event also goes through
// handleUserEvent locally, so our own handler sees it (the agent runs its handlers for events
// it sent itself).
bool Serf::user_event(std::string_view name, std::span<const std::uint8_t> payload, bool coalesce,
                      std::string* err) {
  const std::size_t limit = config_.user_event_size_limit;
  if (name.size() + payload.size() > limit) {
    if (err) {
      *err = "user event exceeds configured limit of " + std::to_string(limit) +
             " bytes before encoding";
    }
    return false;
  }
  wire::SerfUserEvent msg{event_clock_.time(), std::string(name),
                          wire::Bytes(payload.begin(), payload.end()), coalesce};
  wire::Bytes raw = wire::serf_message(wire::SerfMsgType::kUserEvent, msg);
  if (raw.size() > limit) {
    if (err) {
      *err = "encoded user event exceeds configured limit of " + std::to_string(limit) +
             " bytes after encoding";
    }
    return false;
  }
  event_clock_.increment();
  handle_user_event(msg);
  event_queue_.queue(std::move(raw));
  if (memberlist_) memberlist_->wake_gossip();
  ++stats_.events_sent;
  return true;
}

// §7.9 receive rules. True when the event is new (deliver and re-broadcast).
bool Serf::handle_user_event(const wire::SerfUserEvent& msg) {
  event_clock_.witness(msg.LTime);
  if (msg.LTime < event_min_time_) {
    ++stats_.events_too_old;
    return false;
  }
  const LamportTime now = event_clock_.time();
  const LamportTime window = event_ring_.size();
  if (now > window && msg.LTime < now - window) {
    ++stats_.events_too_old;
    return false;
  }
  const std::size_t size = msg.Name.size() + msg.Payload.size();
  if (size > config_.max_event_size) {
    ++stats_.events_dropped;
    return false;
  }
  EventSlot& slot = event_ring_[msg.LTime % window];
  if (!slot.events.empty() && slot.ltime == msg.LTime) {
    for (const auto& [name, payload] : slot.events) {
      if (name == msg.Name && payload == msg.Payload) {
        ++stats_.events_duplicate;
        return false;
      }
    }
    if (slot.events.size() >= config_.max_events_per_slot) {
      ++stats_.events_dropped;
      return false;
    }
  } else {
    // A newer LTime takes over the slot (the old one fell out of the window).
    event_ring_bytes_ -= slot_bytes(slot.events);
    slot = EventSlot{msg.LTime, {}};
  }
  if (event_ring_bytes_ + size > config_.max_event_ring_bytes) {
    ++stats_.events_dropped;
    return false;
  }
  slot.events.emplace_back(msg.Name, msg.Payload);
  event_ring_bytes_ += size;
  ++stats_.events_delivered;
  if (msg.LTime > last_event_ltime_) last_event_ltime_ = msg.LTime;
  if (event_handler_) event_handler_(UserEvent{msg.Name, msg.Payload, msg.LTime, msg.CC});
  return true;
}

}  // namespace haserf::serf
