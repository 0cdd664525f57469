// SPDX-License-Identifier: MIT
// Network coordinates (serf ping_delegate.go, §7.11): every ack we send carries our Vivaldi
// coordinate, and the ack of each direct probe of ours moves it by the measured rtt and tells
// us the target's coordinate, which `serf rtt` (and our RPC) reads back.
#include <chrono>

#include "core/serf/serf.hpp"

namespace haserf::serf {

std::optional<wire::Bytes> Serf::ack_payload() {
  if (!coord_client_) return std::nullopt;
  return coord::encode_ack_payload(coord_client_->coordinate());
}

void Serf::notify_ping_complete(const swim::NodeInfo& node, swim::Duration rtt,
                                std::span<const std::uint8_t> payload) {
  // A peer without coordinates (memberlist alone, serf with DisableCoordinates, older haserf)
  // acks with a nil payload: nothing to learn, nothing wrong, as serf sees it.
  if (!coord_client_ || payload.empty()) return;
  std::string err;
  auto other = coord::decode_ack_payload(payload, &err);
  if (!other) {
    ++stats_.coordinate_bad;
    stats_.last_coordinate_error = node.name + ": " + err;
    return;
  }
  // Only for members we track: erase_member() forgets them, which bounds the latency samples
  // and the cache (serf takes any name memberlist probes; ours are the same nodes, except those
  // beyond max_members).
  if (!members_.contains(node.name)) {
    ++stats_.coordinate_rejected;
    stats_.last_coordinate_error = node.name + ": not a member";
    return;
  }
  const auto updated = coord_client_->update(
      node.name, *other, std::chrono::duration_cast<std::chrono::nanoseconds>(rtt), &err);
  if (!updated) {
    ++stats_.coordinate_rejected;
    stats_.last_coordinate_error = node.name + ": " + err;
    return;
  }
  ++stats_.coordinate_updates;
  stats_.coordinate_resets = coord_client_->stats().resets;
  coord_cache_[node.name] = std::move(*other);
}

std::optional<coord::Coordinate> Serf::coordinate(std::string_view node) const {
  if (!coord_client_) return std::nullopt;
  if (node == config_.node_name) return coord_client_->coordinate();
  const auto it = coord_cache_.find(node);
  if (it == coord_cache_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, std::chrono::nanoseconds, std::less<>> Serf::rtt_estimates() const {
  std::map<std::string, std::chrono::nanoseconds, std::less<>> out;
  if (!coord_client_) return out;
  for (const auto& [name, c] : coord_cache_) {
    if (auto d = coord::distance_to(coord_client_->coordinate(), c)) out.emplace(name, *d);
  }
  return out;
}

void Serf::forget_coordinate(const std::string& node) {
  if (!coord_client_) return;
  coord_client_->forget_node(node);
  if (const auto it = coord_cache_.find(node); it != coord_cache_.end()) coord_cache_.erase(it);
}

}  // namespace haserf::serf
