// SPDX-License-Identifier: MIT
// The seam between memberlist (core/swim) and serf (core/serf), as in Go's memberlist:
// memberlist calls a Delegate for node meta, user messages, broadcasts, push/pull state and
// membership events; the layer above calls MemberlistApi for what it needs from below.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/swim/scheduler.hpp"
#include "core/wire/messages.hpp"

namespace haserf::swim {

// A UDP/TCP endpoint. `ip` is 4 bytes (IPv4) or 16 bytes (IPv6 or IPv4-mapped), exactly as
// carried in Addr fields.
struct Address {
  wire::Bytes ip;
  std::uint16_t port = 0;
  bool operator==(const Address&) const = default;
};
std::string to_string(const Address& a);          // "10.0.0.1:7946", "[::1]:7946"
std::string ip_to_string(const wire::Bytes& ip);  // "10.0.0.1", "::1"; "" if malformed
bool parse_address(const std::string& host_port, std::uint16_t default_port, Address& out,
                   std::string* err = nullptr);

enum class NodeStateKind : std::uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };

struct NodeInfo {
  std::string name;
  wire::Bytes addr;
  std::uint16_t port = 0;
  wire::Bytes meta;
  wire::Bytes vsn;  // [PMin, PMax, PCur, DMin, DMax, DCur]
  std::uint32_t incarnation = 0;
  NodeStateKind state = NodeStateKind::kAlive;
  Address address() const { return Address{addr, port}; }
};

class Delegate {
 public:
  virtual ~Delegate() = default;
  // Our node's meta (serf: 0xff + msgpack tags); at most `limit` bytes (512).
  virtual wire::Bytes node_meta(std::size_t limit) = 0;
  // A user message: the bytes after memberlist's 0x08 type byte (serf type byte + body).
  virtual void notify_msg(std::span<const std::uint8_t> msg) = 0;
  // Serf messages to piggyback. Each costs its size plus `overhead`; `limit` bytes in all.
  // memberlist prefixes each with 0x08.
  virtual std::vector<wire::Bytes> get_broadcasts(std::size_t overhead, std::size_t limit) = 0;
  // Whether get_broadcasts() could return anything. memberlist stops its gossip ticker while
  // nothing is queued anywhere (an idle member then wakes only to probe); a delegate that
  // queues something calls MemberlistApi::wake_gossip(). The default keeps the ticker running.
  virtual bool has_broadcasts() const { return true; }
  // User state for a push/pull (serf: 0x02 + messagePushPull) and its remote counterpart.
  virtual wire::Bytes local_state(bool join) = 0;
  virtual void merge_remote_state(std::span<const std::uint8_t> state, bool join) = 0;
  // Runs `changes` (a push/pull's merge: up to every node of the cluster) so that what they
  // change is published as one membership change (serf: one table version, not one per node,
  // which made a 10,000-node join quadratic). The default just runs them.
  virtual void batch(const std::function<void()>& changes) { changes(); }
  // Membership events (memberlist's EventDelegate). Called for our own node too, at start.
  virtual void notify_join(const NodeInfo& node) = 0;
  virtual void notify_leave(const NodeInfo& node) = 0;
  virtual void notify_update(const NodeInfo& node) = 0;
  // Someone claims a known node's name from another address (memberlist's ConflictDelegate);
  // `existing` may be ourselves. The claim itself is refused by memberlist.
  virtual void notify_conflict(const NodeInfo& existing, const NodeInfo& other) {
    (void)existing;
    (void)other;
  }
  // memberlist's PingDelegate (serf: network coordinates, §7.11). The Payload of the acks we
  // send to UDP pings; nullopt sends nil, as memberlist does without a PingDelegate.
  virtual std::optional<wire::Bytes> ack_payload() { return std::nullopt; }
  // A direct UDP probe of `node` was acked within probe_timeout: `rtt` runs from sending the
  // ping to receiving the ack, `payload` is the ack's (empty for nil). Not called for acks
  // that came by indirect probes or TCP, as in memberlist.
  virtual void notify_ping_complete(const NodeInfo& node, Duration rtt,
                                    std::span<const std::uint8_t> payload) {
    (void)node;
    (void)rtt;
    (void)payload;
  }
};

class MemberlistApi {
 public:
  virtual ~MemberlistApi() = default;
  virtual NodeInfo local_node() const = 0;
  // Nodes memberlist knows, any state, ourselves included (serf's retransmit scaling and
  // relay selection use this).
  virtual std::vector<NodeInfo> nodes() const = 0;
  // Number of nodes not dead or left, ourselves included (memberlist NumMembers).
  virtual std::size_t num_members() const = 0;
  // Sends a user message (serf bytes, without 0x08) straight to an address by UDP: no
  // piggybacking, no CRC; compressed and encrypted per configuration (SendToAddress).
  virtual void send_to_address(const Address& to, std::span<const std::uint8_t> serf_msg) = 0;
  // Re-reads Delegate::node_meta() and gossips an alive with incarnation + 1 (tag update).
  virtual void update_node_meta() = 0;
  // Push/pull join with one address (serf's reconnect to failed members). `done(ok)` runs
  // on the loop thread.
  virtual void join_address(const Address& to, std::function<void(bool ok)> done) = 0;
  // Something was queued for gossip (Delegate::has_broadcasts): restart the gossip ticker if
  // it stopped for lack of work, on its old rhythm.
  virtual void wake_gossip() {}
};

}  // namespace haserf::swim
