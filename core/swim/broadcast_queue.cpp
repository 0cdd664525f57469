// SPDX-License-Identifier: MIT
#include "core/swim/broadcast_queue.hpp"

#include <algorithm>
#include <cmath>

namespace haserf::swim {

int retransmit_limit(int retransmit_mult, std::size_t num_nodes) {
  const double scale = std::ceil(std::log10(static_cast<double>(num_nodes) + 1.0));
  return retransmit_mult * static_cast<int>(scale);
}

BroadcastQueue::BroadcastQueue(int retransmit_mult, std::function<std::size_t()> num_nodes)
    : retransmit_mult_(retransmit_mult), num_nodes_(std::move(num_nodes)) {}

void BroadcastQueue::erase_key(const std::string& key, std::vector<Finished>& done) {
  auto found = by_key_.find(key);
  if (found == by_key_.end()) return;
  auto node = items_.extract(found->second);
  by_key_.erase(found);
  if (node.value().finished) done.push_back(std::move(node.value().finished));
}

void BroadcastQueue::queue(wire::Bytes message, std::string key, Finished finished) {
  if (message.empty()) return;  // an empty message would crash a memberlist 0.2.2 peer
  std::vector<Finished> done;
  if (!key.empty()) erase_key(key, done);
  auto it = items_.insert(Item{std::move(message), key, std::move(finished), 0, next_id_++}).first;
  if (!key.empty()) by_key_[key] = it;
  for (auto& f : done) f();
}

std::vector<wire::Bytes> BroadcastQueue::get(std::size_t overhead, std::size_t limit) {
  std::vector<wire::Bytes> out;
  if (items_.empty()) return out;
  const int max_transmits = retransmit_limit(retransmit_mult_, num_nodes_());
  std::size_t used = 0;
  std::vector<Items::node_type> sent;
  std::vector<Finished> done;
  // Greedy in transmit order: in each transmit count, the largest message that still fits,
  // then the next; a count with nothing that fits is skipped in one seek.
  for (auto it = items_.begin(); it != items_.end();) {
    if (used + overhead >= limit) break;  // not even an empty message would fit
    const std::size_t room = limit - used - overhead;
    auto fit = items_.lower_bound(Fit{it->transmits, room});
    if (fit == items_.end()) break;
    if (fit->transmits != it->transmits) {  // nothing of this count fits: the next count
      it = fit;
      continue;
    }
    used += fit->message.size() + overhead;
    out.push_back(fit->message);
    it = std::next(fit);
    sent.push_back(items_.extract(fit));
  }
  // Re-insert after the scan, so an item is taken at most once per packet.
  for (auto& node : sent) {
    Item& item = node.value();
    if (++item.transmits >= max_transmits) {
      if (!item.key.empty()) by_key_.erase(item.key);
      if (item.finished) done.push_back(std::move(item.finished));
      continue;
    }
    const std::string key = item.key;
    auto pos = items_.insert(std::move(node)).position;
    if (!key.empty()) by_key_[key] = pos;
  }
  for (auto& f : done) f();
  return out;
}

void BroadcastQueue::prune(std::size_t max_depth) {
  if (items_.size() <= max_depth) return;
  // Oldest first: the smallest ids.
  std::vector<std::uint64_t> ids;
  ids.reserve(items_.size());
  for (const auto& item : items_) ids.push_back(item.id);
  const std::size_t drop = items_.size() - max_depth;
  std::nth_element(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(drop - 1), ids.end());
  const std::uint64_t cutoff = ids[drop - 1];
  std::vector<Finished> done;
  for (auto it = items_.begin(); it != items_.end();) {
    if (it->id > cutoff) {
      ++it;
      continue;
    }
    auto node = items_.extract(it++);
    if (!node.value().key.empty()) by_key_.erase(node.value().key);
    if (node.value().finished) done.push_back(std::move(node.value().finished));
  }
  for (auto& f : done) f();
}

void BroadcastQueue::clear() {
  std::vector<Finished> done;
  for (auto it = items_.begin(); it != items_.end();) {
    auto node = items_.extract(it++);
    if (node.value().finished) done.push_back(std::move(node.value().finished));
  }
  by_key_.clear();
  for (auto& f : done) f();
}

}  // namespace haserf::swim
