// SPDX-License-Identifier: MIT
// The memberlist 0.2.2 state machine (§4-§6): probes, indirect probes, suspicion, gossip,
// push/pull, refutation, graceful leave. Driven by received packets/streams and by timers
// from a Scheduler; it sends through a Transport. Single-threaded: every call happens on
// the thread that runs the Scheduler (the libuv loop in production, the test in tests).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/swim/broadcast_queue.hpp"
#include "core/swim/delegate.hpp"
#include "core/swim/scheduler.hpp"
#include "core/swim/suspicion.hpp"
#include "core/wire/wire.hpp"

namespace haserf::swim {

using namespace std::chrono_literals;

// Defaults are memberlist's DefaultLANConfig (§6.1).
struct Config {
  std::string name;
  Address advertise;  // our address as peers should reach it (never 0.0.0.0)
  Duration probe_interval = 1s;
  Duration probe_timeout = 500ms;
  int indirect_checks = 3;
  Duration gossip_interval = 200ms;
  int gossip_nodes = 3;
  Duration gossip_to_the_dead_time = 30s;
  int suspicion_mult = 4;
  int suspicion_max_timeout_mult = 6;
  int retransmit_mult = 4;
  Duration push_pull_interval = 30s;
  Duration tcp_timeout = 10s;
  int awareness_max_multiplier = 8;
  bool disable_tcp_pings = false;
  std::size_t udp_buffer_size = 1400;
  bool enable_compression = true;
  // Shared with the transport and changed at run time (serf's key queries): owned by whoever
  // owns the memberlist (core/net: the Agent), outlives it. Null or empty: no encryption.
  const wire::Keyring* keyring = nullptr;
  wire::Limits limits;
  // Against hostile or runaway clusters: nodes beyond this are not added (counted).
  std::size_t max_nodes = 10000;
  std::size_t meta_max_size = 512;
};

// The LAN/WAN/local profiles of §6.1.
Config lan_config();
Config wan_config();
Config local_config();

// What the state machine needs from the network. Implemented by core/net over libuv, and by
// an in-memory network in tests.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void send_packet(const Address& to, wire::Bytes datagram) = 0;
  // One TCP exchange: connect, write `request` (framed stream bytes), and, if `want_reply`,
  // read exactly one stream message. `done` runs once, on the loop thread, with the reply
  // (nullptr when none or on error) and an error text.
  using StreamDone =
      std::function<void(bool ok, const wire::StreamMessage* reply, const std::string& error)>;
  virtual void stream_exchange(const Address& to, wire::Bytes request, bool want_reply,
                               Duration timeout, StreamDone done) = 0;
};

struct MemberlistStats {
  std::uint64_t packets_received = 0;
  std::uint64_t packets_dropped = 0;  // failed to decrypt/CRC/decompress/decode
  std::uint64_t messages_received = 0;
  std::uint64_t messages_dropped = 0;  // undecodable or invalid single messages
  std::uint64_t packets_sent = 0;
  std::uint64_t streams_received = 0;
  std::uint64_t streams_failed = 0;
  std::uint64_t probes = 0;
  std::uint64_t probe_failures = 0;
  std::uint64_t refutes = 0;
  std::uint64_t push_pulls = 0;
  std::uint64_t gossip_rounds = 0;   // gossip ticks that had something queued (idle ones stop)
  std::uint64_t nodes_refused = 0;   // over max_nodes, bad Vsn, address conflicts
  std::uint64_t unsafe_dropped = 0;  // messages a Go peer could not survive (wire/go_traps.hpp)
  std::string last_drop_reason;
};

// A node as memberlist keeps it, for handing the whole state to a successor process.
struct NodeRecord {
  NodeInfo info;
  TimePoint state_change{};  // steady clock: the same in every process of the machine
};

// What a successor needs to continue as this member without anyone noticing (core/net
// handover, docs/haproxy.md "Reloads"): our incarnation and every node we know.
struct MemberlistState {
  std::uint32_t incarnation = 0;
  std::uint32_t seq = 0;
  std::vector<NodeRecord> nodes;
};

class Memberlist : public MemberlistApi {
 public:
  Memberlist(Config config, Delegate& delegate, Transport& transport, Scheduler& scheduler);
  ~Memberlist() override;
  Memberlist(const Memberlist&) = delete;
  Memberlist& operator=(const Memberlist&) = delete;

  // Declares ourselves alive (the delegate sees our own join) and starts the probe, gossip
  // and push/pull timers.
  void start();
  // Stops every timer; the object can then be destroyed.
  void shutdown();

  // ---- handover (core/net/handover.hpp) ----
  MemberlistState export_state() const;
  // Before start(): continue from a predecessor's state. start() then announces us with the
  // predecessor's incarnation + 1 (a refreshed alive, no join for anyone). Suspect nodes stay
  // suspect with a fresh suspicion timer.
  void import_state(const MemberlistState& state);
  // The predecessor's side while its successor imports: no timers, no probe (the state is
  // kept, nothing changes it); resume() re-arms everything when the handover failed.
  void pause();
  void resume();
  bool paused() const { return paused_; }

  // Input from the network.
  void handle_packet(const Address& from, std::span<const std::uint8_t> datagram);
  // A complete stream message received by our TCP server. Returns the framed reply to write
  // back (empty: write nothing and close).
  wire::Bytes handle_stream(const Address& from, const wire::StreamMessage& msg);

  // Push/pull with every seed (Join=true). `done(joined, error)` once all have answered.
  void join(const std::vector<Address>& seeds,
            std::function<void(int joined, const std::string& error)> done);
  // Graceful leave: gossips dead{From: self} and calls `done` once it has been sent
  // retransmit-limit times, or after `timeout`, or at once when we are alone.
  void leave(Duration timeout, std::function<void()> done);

  bool leaving() const { return leaving_; }
  const MemberlistStats& stats() const { return stats_; }
  int awareness() const { return awareness_; }
  const Config& config() const { return config_; }

  // MemberlistApi
  NodeInfo local_node() const override;
  std::vector<NodeInfo> nodes() const override;
  std::size_t num_members() const override;
  void send_to_address(const Address& to, std::span<const std::uint8_t> serf_msg) override;
  void update_node_meta() override;
  void join_address(const Address& to, std::function<void(bool ok)> done) override;
  void wake_gossip() override;

 private:
  struct Node {
    NodeInfo info;
    TimePoint state_change{};
  };
  struct AckHandler {
    std::function<void(const std::optional<wire::Bytes>& payload)> on_ack;
    std::function<void()> on_nack;
    TimerId timeout = 0;
  };
  struct Probe {
    std::uint32_t seq = 0;
    std::string target;
    // The incarnation we probed. A node that refuted meanwhile (higher incarnation) must not
    // be suspected for this probe's failure: Go probes a copy of the state taken at start.
    std::uint32_t incarnation = 0;
    bool acked = false;
    bool tcp_ok = false;
    int nacks_expected = 0;
    int nacks_received = 0;
    std::vector<TimerId> timers;
    TimePoint sent{};    // when the direct ping went out (rtt for the PingDelegate hooks)
    bool direct = true;  // still waiting for the direct ack (before probe_timeout)
  };

  // The keyring when encryption is on, else null.
  const wire::Keyring* keyring() const {
    return config_.keyring != nullptr && config_.keyring->enabled() ? config_.keyring : nullptr;
  }

  // message handling
  void dispatch(const Address& from, std::span<const std::uint8_t> msg);
  void handle_ping(const Address& from, const wire::Ping& ping);
  void handle_indirect_ping(const Address& from, const wire::IndirectPing& req);
  void handle_ack(const wire::Ack& ack);
  void handle_nack(const wire::Nack& nack);
  void alive_node(wire::Alive a, bool bootstrap, std::function<void()> notify = {});
  void suspect_node(const wire::Suspect& s);
  void begin_suspicion(const std::string& name, const std::string& from, TimePoint change);
  void start_timers();
  TimerId arm_suspicion(const std::string& name, TimePoint change, Duration delay);
  void dead_node(const wire::Dead& d, std::function<void()> notify = {});
  void refute(Node& self, std::uint32_t accused_incarnation);
  void merge_remote(const wire::PushPull& remote);
  void merge_remote_nodes(const wire::PushPull& remote);  // merge_remote, inside delegate batch()
  bool verify_protocol(const std::vector<wire::PushNodeState>& remote) const;

  // probing
  void schedule_probe();
  void probe_tick();
  void probe_node(const std::string& name);
  void finish_probe(bool success);
  void reset_probe_order();

  // gossip and push/pull
  void gossip_tick();
  void schedule_push_pull(Duration delay);
  void push_pull_tick();
  void push_pull_with(const Address& to, bool join,
                      std::function<void(bool ok, const std::string& error)> done);
  wire::PushPull local_push_pull(bool join);

  // sending
  std::vector<wire::Bytes> get_broadcasts(std::size_t overhead, std::size_t limit);
  void send_with_piggyback(const Address& to, wire::Bytes msg);
  void send_raw(const Address& to, const Node* node, const std::vector<wire::Bytes>& msgs);
  void broadcast(const std::string& node, wire::Bytes msg, std::function<void()> notify = {});
  wire::Bytes stream_frame(const wire::Bytes& plain) const;

  // helpers
  Node* find(const std::string& name);
  std::uint32_t next_seq() { return ++seq_; }
  std::uint32_t next_incarnation() { return ++incarnation_; }
  std::vector<Node*> random_nodes(int k, const std::function<bool(const Node&)>& exclude);
  void set_ack_handler(std::uint32_t seq, AckHandler handler, Duration timeout);
  void apply_awareness(int delta);
  std::size_t est_num_nodes() const { return order_.size(); }
  bool pmax_at_least(const Node& n, int v) const;
  void drop(const std::string& reason, bool whole_packet);
  // Counts and drops a message a Go peer could not survive; true when `trap` is set.
  bool unsafe(const char* what, const Address& from, const std::optional<std::string>& trap);

  Config config_;
  Delegate& delegate_;
  Transport& transport_;
  Scheduler& scheduler_;
  BroadcastQueue broadcasts_;

  std::map<std::string, Node> nodes_;
  // num_members()'s answer until a node joins, changes state or goes (reset at each).
  mutable std::optional<std::size_t> live_count_;
  std::vector<std::string> order_;  // probe order, random
  std::size_t probe_index_ = 0;
  std::map<std::string, Suspicion> suspicions_;
  std::map<std::uint32_t, AckHandler> ack_handlers_;
  std::optional<Probe> probe_;

  std::uint32_t seq_ = 0;
  std::uint32_t incarnation_ = 0;
  int awareness_ = 0;
  bool started_ = false;
  bool paused_ = false;  // a successor is importing our state (handover)
  bool leaving_ = false;
  std::vector<TimerId> timers_;  // periodic timers to cancel at shutdown
  TimerId probe_timer_ = 0, gossip_timer_ = 0, push_pull_timer_ = 0;
  // The gossip ticker stops while no broadcast is queued (ours or the delegate's): an idle
  // cluster's member then wakes once per probe instead of five times more. wake_gossip()
  // restarts it at the next instant an always-running ticker would have fired (same rhythm,
  // same latency as memberlist's time.Ticker).
  bool gossip_idle_ = false;
  TimePoint gossip_last_tick_{};
  std::shared_ptr<bool> alive_token_ = std::make_shared<bool>(true);  // guards async callbacks
  MemberlistStats stats_;
};

}  // namespace haserf::swim
