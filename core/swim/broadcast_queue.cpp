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

void BroadcastQueue::queue(wire::Bytes message, std::string key, Finished finished) {
  if (message.empty()) return;  // an empty message would crash a memberlist 0.2.2 peer
  std::vector<Finished> done;
  if (!key.empty()) {
    auto it = std::remove_if(items_.begin(), items_.end(), [&](Item& item) {
      if (item.key != key) return false;
      if (item.finished) done.push_back(std::move(item.finished));
      return true;
    });
    items_.erase(it, items_.end());
  }
  items_.push_back(Item{std::move(message), std::move(key), std::move(finished), 0, next_id_++});
  for (auto& f : done) f();
}

std::vector<wire::Bytes> BroadcastQueue::get(std::size_t overhead, std::size_t limit) {
  std::vector<wire::Bytes> out;
  if (items_.empty()) return out;
  const int max_transmits = retransmit_limit(retransmit_mult_, num_nodes_());
  std::sort(items_.begin(), items_.end(), [](const Item& a, const Item& b) {
    if (a.transmits != b.transmits) return a.transmits < b.transmits;
    if (a.message.size() != b.message.size()) return a.message.size() > b.message.size();
    return a.id > b.id;
  });
  std::size_t used = 0;
  std::vector<Finished> done;
  for (auto it = items_.begin(); it != items_.end();) {
    const std::size_t cost = it->message.size() + overhead;
    if (used + cost > limit) {
      ++it;
      continue;
    }
    used += cost;
    out.push_back(it->message);
    if (++it->transmits >= max_transmits) {
      if (it->finished) done.push_back(std::move(it->finished));
      it = items_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& f : done) f();
  return out;
}

void BroadcastQueue::prune(std::size_t max_depth) {
  if (items_.size() <= max_depth) return;
  std::sort(items_.begin(), items_.end(), [](const Item& a, const Item& b) { return a.id < b.id; });
  const std::size_t drop = items_.size() - max_depth;
  std::vector<Finished> done;
  for (std::size_t i = 0; i < drop; ++i) {
    if (items_[i].finished) done.push_back(std::move(items_[i].finished));
  }
  items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(drop));
  for (auto& f : done) f();
}

void BroadcastQueue::clear() {
  std::vector<Finished> done;
  for (auto& item : items_) {
    if (item.finished) done.push_back(std::move(item.finished));
  }
  items_.clear();
  for (auto& f : done) f();
}

}  // namespace haserf::swim
