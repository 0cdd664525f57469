// SPDX-License-Identifier: MIT
// memberlist's TransmitLimitedQueue (§6.7): broadcasts piggybacked on gossip and probes,
// each sent at most retransmit_limit(N) times, fewest-transmitted first.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/wire/messages.hpp"

namespace haserf::swim {

// RetransmitMult * ceil(log10(N + 1)): 4 for 1..9 nodes, 8 for 10..99, 12 for 100..999.
int retransmit_limit(int retransmit_mult, std::size_t num_nodes);

class BroadcastQueue {
 public:
  using Finished = std::function<void()>;

  // `num_nodes` is asked each time a packet is filled, so the limit follows the cluster size.
  BroadcastQueue(int retransmit_mult, std::function<std::size_t()> num_nodes);

  // Queues a message. A non-empty `key` (memberlist: the node name) replaces any queued
  // message with the same key; the replaced one's `finished` runs. `finished` also runs when
  // the message reaches its transmit limit or is pruned.
  void queue(wire::Bytes message, std::string key = {}, Finished finished = {});

  // Takes messages for one packet: each costs its size plus `overhead`; at most `limit` bytes
  // in all. Order: fewest transmits, then larger, then newer. Every taken message counts one
  // transmit; those at the limit leave the queue.
  std::vector<wire::Bytes> get(std::size_t overhead, std::size_t limit);

  std::size_t size() const { return items_.size(); }
  // Drops the oldest entries beyond `max_depth` (serf prunes at 4096).
  void prune(std::size_t max_depth);
  void clear();

 private:
  struct Item {
    wire::Bytes message;
    std::string key;
    Finished finished;
    int transmits = 0;
    std::uint64_t id = 0;  // insertion order: larger = newer
  };
  // Where to look: the first item of `transmits` whose message has at most `size` bytes.
  struct Fit {
    int transmits;
    std::size_t size;
  };
  // Transmit order (§6.7): fewest transmits, then larger, then newer. Kept sorted, so filling
  // a packet never sorts; a sent item is extracted and re-inserted with one more transmit.
  // Within a transmit count the messages too big for what is left of a packet come first, so
  // get() seeks past them (lower_bound with a Fit) instead of walking them: with thousands
  // queued (a 3,000-node table declaring its unreachable nodes dead) a walk per gossip tick
  // was most of the member's CPU.
  struct Order {
    using is_transparent = void;
    bool operator()(const Item& a, const Item& b) const {
      if (a.transmits != b.transmits) return a.transmits < b.transmits;
      if (a.message.size() != b.message.size()) return a.message.size() > b.message.size();
      return a.id > b.id;
    }
    // A Fit sorts after every item of its transmit count bigger than its size and before
    // every other one of that count.
    bool operator()(const Item& a, const Fit& f) const {
      if (a.transmits != f.transmits) return a.transmits < f.transmits;
      return a.message.size() > f.size;
    }
    bool operator()(const Fit& f, const Item& a) const {
      if (f.transmits != a.transmits) return f.transmits < a.transmits;
      return f.size >= a.message.size();
    }
  };
  using Items = std::set<Item, Order>;
  void erase_key(const std::string& key, std::vector<Finished>& done);

  int retransmit_mult_;
  std::function<std::size_t()> num_nodes_;
  Items items_;
  std::unordered_map<std::string, Items::iterator> by_key_;  // keyed items only
  std::uint64_t next_id_ = 1;
};

}  // namespace haserf::swim
