// SPDX-License-Identifier: MIT
#include "core/swim/memberlist.hpp"

#include <algorithm>
#include <cmath>

namespace haserf::swim {
namespace {

constexpr std::size_t kCompoundHeaderOverhead = 2;  // type byte + count byte
constexpr std::size_t kCompoundOverhead = 2;        // u16 length per part
constexpr std::size_t kUserMsgOverhead = 1;         // 0x08 in front of each serf broadcast
constexpr std::size_t kEncryptOverhead = 29;        // version + nonce + GCM tag

template <typename T>
wire::Bytes msg(wire::MsgType type, const T& m) {
  return wire::message(type, m);
}

bool dead_or_left(const NodeInfo& n) {
  return n.state == NodeStateKind::kDead || n.state == NodeStateKind::kLeft;
}

}  // namespace

Config lan_config() {
  return Config{};
}

Config wan_config() {
  Config c;
  c.probe_interval = 5s;
  c.probe_timeout = 3s;
  c.gossip_interval = 500ms;
  c.gossip_nodes = 4;
  c.gossip_to_the_dead_time = 60s;
  c.suspicion_mult = 6;
  c.push_pull_interval = 60s;
  c.tcp_timeout = 30s;
  return c;
}

Config local_config() {
  Config c;
  c.probe_timeout = 200ms;
  c.indirect_checks = 1;
  c.gossip_interval = 100ms;
  c.gossip_to_the_dead_time = 15s;
  c.suspicion_mult = 3;
  c.retransmit_mult = 2;
  c.push_pull_interval = 15s;
  c.tcp_timeout = 1s;
  return c;
}

Memberlist::Memberlist(Config config, Delegate& delegate, Transport& transport,
                       Scheduler& scheduler)
    : config_(std::move(config)),
      delegate_(delegate),
      transport_(transport),
      scheduler_(scheduler),
      broadcasts_(config_.retransmit_mult, [this] { return est_num_nodes(); }) {}

Memberlist::~Memberlist() {
  shutdown();
}

// ---------------------------------------------------------------------------------------
// lifecycle

void Memberlist::start() {
  if (started_) return;
  started_ = true;
  wire::Alive a;
  a.Incarnation = next_incarnation();  // after import_state: the predecessor's + 1
  a.Node = config_.name;
  a.Addr = config_.advertise.ip;
  a.Port = config_.advertise.port;
  a.Meta = delegate_.node_meta(config_.meta_max_size);
  a.Vsn = wire::kOurVsn;
  alive_node(std::move(a), /*bootstrap=*/true);
  start_timers();
}

void Memberlist::start_timers() {
  schedule_probe();
  gossip_idle_ = false;
  gossip_last_tick_ = scheduler_.now();
  gossip_timer_ = scheduler_.schedule(config_.gossip_interval, [this] { gossip_tick(); });
  // A random first delay spreads push/pulls of nodes started together (§6.8).
  std::uniform_int_distribution<std::int64_t> stagger(0, config_.push_pull_interval.count());
  schedule_push_pull(Duration(stagger(scheduler_.rng())));
}

void Memberlist::shutdown() {
  if (!started_) return;
  pause();
  started_ = false;
  paused_ = false;
  for (auto& [name, s] : suspicions_) scheduler_.cancel(s.timer);
  suspicions_.clear();
}

void Memberlist::pause() {
  if (!started_ || paused_) return;
  paused_ = true;
  *alive_token_ = false;  // in-flight TCP exchanges report nothing
  alive_token_ = std::make_shared<bool>(true);
  for (TimerId id : {probe_timer_, gossip_timer_, push_pull_timer_}) scheduler_.cancel(id);
  for (auto& [seq, h] : ack_handlers_) scheduler_.cancel(h.timeout);
  ack_handlers_.clear();
  if (probe_) {
    for (TimerId t : probe_->timers) scheduler_.cancel(t);
    probe_.reset();
  }
}

void Memberlist::resume() {
  if (!started_ || !paused_) return;
  paused_ = false;
  start_timers();
}

MemberlistState Memberlist::export_state() const {
  MemberlistState out;
  out.incarnation = incarnation_;
  out.seq = seq_;
  out.nodes.reserve(nodes_.size());
  for (const auto& [name, n] : nodes_) out.nodes.push_back(NodeRecord{n.info, n.state_change});
  return out;
}

void Memberlist::import_state(const MemberlistState& state) {
  if (started_) return;
  nodes_.clear();
  live_count_.reset();  // num_members() counts again
  order_.clear();
  for (const auto& r : state.nodes) {
    if (r.info.name.empty() || (r.info.addr.size() != 4 && r.info.addr.size() != 16)) continue;
    if (nodes_.size() >= config_.max_nodes) break;
    Node n{r.info, r.state_change};
    if (n.info.name == config_.name) {
      // Our own entry: where we are now is what counts (the predecessor checked it matches).
      n.info.addr = config_.advertise.ip;
      n.info.port = config_.advertise.port;
      n.info.state = NodeStateKind::kAlive;
    }
    nodes_.emplace(n.info.name, std::move(n));
    live_count_.reset();  // num_members() counts again
    order_.push_back(r.info.name);
  }
  std::shuffle(order_.begin(), order_.end(), scheduler_.rng());
  incarnation_ = state.incarnation;
  seq_ = state.seq;
  for (const auto& [name, n] : nodes_) {
    if (n.info.state == NodeStateKind::kSuspect)
      begin_suspicion(name, config_.name, n.state_change);
  }
}

// ---------------------------------------------------------------------------------------
// receive path

void Memberlist::drop(const std::string& reason, bool whole_packet) {
  if (whole_packet) {
    ++stats_.packets_dropped;
  } else {
    ++stats_.messages_dropped;
  }
  stats_.last_drop_reason = reason;
}

bool Memberlist::unsafe(const char* what, const Address& from,
                        const std::optional<std::string>& trap) {
  if (!trap) return false;
  ++stats_.unsafe_dropped;
  drop(std::string(what) + " from " + to_string(from) + " dropped, unsafe for Go peers: " + *trap,
       false);
  return true;
}

void Memberlist::handle_packet(const Address& from, std::span<const std::uint8_t> datagram) {
  ++stats_.packets_received;
  std::vector<wire::Bytes> messages;
  std::string err;
  if (!wire::unwrap_datagram(datagram, keyring(), messages, &err, config_.limits)) {
    drop("packet from " + to_string(from) + ": " + err, true);
    return;
  }
  for (const auto& m : messages) dispatch(from, m);
}

void Memberlist::dispatch(const Address& from, std::span<const std::uint8_t> m) {
  if (m.empty()) return;
  ++stats_.messages_received;
  const auto type = static_cast<wire::MsgType>(m[0]);
  const auto body = m.subspan(1);
  std::string err;
  auto bad = [&](const char* what) {
    drop(std::string(what) + " from " + to_string(from) + ": " + err, false);
  };
  // Decodes the body as T and hands it to `handle`, or drops it as undecodable.
  auto decoded = [&](auto tag, const char* what, auto handle) {
    decltype(tag) message;
    if (!wire::decode(body, message, &err)) return bad(what);
    handle(message);
  };
  switch (type) {
    case wire::MsgType::kPing:
      return decoded(wire::Ping{}, "ping", [&](auto& p) { handle_ping(from, p); });
    case wire::MsgType::kIndirectPing:
      return decoded(wire::IndirectPing{}, "indirect ping",
                     [&](auto& p) { handle_indirect_ping(from, p); });
    case wire::MsgType::kAck:
      return decoded(wire::Ack{}, "ack", [&](auto& a) { handle_ack(a); });
    case wire::MsgType::kNack:
      return decoded(wire::Nack{}, "nack", [&](auto& n) { handle_nack(n); });
    case wire::MsgType::kAlive:
      return decoded(wire::Alive{}, "alive", [&](auto& a) {
        // We would gossip it on: what a Go peer cannot survive is dropped here (go_traps.hpp).
        if (unsafe("alive", from, wire::go_trap(a))) return;
        a.Vsn.resize(6);  // Go reads six bytes; more would only travel with us
        if (a.Port == 0) a.Port = config_.advertise.port;
        alive_node(std::move(a), false);
      });
    case wire::MsgType::kSuspect:
      return decoded(wire::Suspect{}, "suspect", [&](auto& m) {
        if (!unsafe("suspect", from, wire::go_trap(m))) suspect_node(m);
      });
    case wire::MsgType::kDead:
      return decoded(wire::Dead{}, "dead", [&](auto& m) {
        if (!unsafe("dead", from, wire::go_trap(m))) dead_node(m);
      });
    case wire::MsgType::kUser:
      if (body.empty()) {
        err = "empty";
        return bad("user message");
      }
      delegate_.notify_msg(body);
      return;
    default:
      err = "type " + std::to_string(m[0]) + " not supported over UDP";
      return bad("message");
  }
}

void Memberlist::handle_ping(const Address& from, const wire::Ping& ping) {
  // A ping for another name (we restarted under a new name at the same address): no ack.
  if (!ping.Node.empty() && ping.Node != config_.name) {
    drop("ping for node '" + ping.Node + "' from " + to_string(from), false);
    return;
  }
  Address to = from;
  if (!ping.SourceAddr.empty() && ping.SourcePort != 0)
    to = Address{ping.SourceAddr, ping.SourcePort};
  wire::Ack ack;
  ack.SeqNo = ping.SeqNo;
  ack.Payload = delegate_.ack_payload();
  send_with_piggyback(to, msg(wire::MsgType::kAck, ack));
}

void Memberlist::handle_indirect_ping(const Address& from, const wire::IndirectPing& req) {
  Address requester = from;
  if (!req.SourceAddr.empty() && req.SourcePort != 0) {
    requester = Address{req.SourceAddr, req.SourcePort};
  }
  const std::uint32_t seq = next_seq();
  wire::Ping ping;
  ping.SeqNo = seq;
  ping.Node = req.Node;
  ping.SourceAddr = config_.advertise.ip;
  ping.SourcePort = config_.advertise.port;
  ping.SourceNode = config_.name;
  const std::uint32_t their_seq = req.SeqNo;
  const bool want_nack = req.Nack;
  AckHandler h;
  h.on_ack = [this, requester, their_seq](const std::optional<wire::Bytes>&) {
    wire::Ack ack;
    ack.SeqNo = their_seq;
    send_with_piggyback(requester, msg(wire::MsgType::kAck, ack));
  };
  h.on_nack = [this, requester, their_seq, want_nack] {
    if (!want_nack) return;
    wire::Nack nack;
    nack.SeqNo = their_seq;
    send_with_piggyback(requester, msg(wire::MsgType::kNack, nack));
  };
  set_ack_handler(seq, std::move(h), config_.probe_timeout);
  const std::uint16_t port = req.Port != 0 ? req.Port : config_.advertise.port;
  send_with_piggyback(Address{req.Target, port}, msg(wire::MsgType::kPing, ping));
}

void Memberlist::set_ack_handler(std::uint32_t seq, AckHandler handler, Duration timeout) {
  handler.timeout = scheduler_.schedule(timeout, [this, seq] {
    auto it = ack_handlers_.find(seq);
    if (it == ack_handlers_.end()) return;
    auto on_timeout = std::move(it->second.on_nack);
    ack_handlers_.erase(it);
    if (on_timeout) on_timeout();
  });
  ack_handlers_[seq] = std::move(handler);
}

void Memberlist::handle_ack(const wire::Ack& ack) {
  auto it = ack_handlers_.find(ack.SeqNo);
  if (it == ack_handlers_.end()) return;  // late or unknown: ignored like Go
  auto h = std::move(it->second);
  ack_handlers_.erase(it);
  scheduler_.cancel(h.timeout);
  if (h.on_ack) h.on_ack(ack.Payload);
}

void Memberlist::handle_nack(const wire::Nack& nack) {
  // Nacks for our own probe are counted there; the handler stays for a late ack.
  if (probe_ && probe_->seq == nack.SeqNo) ++probe_->nacks_received;
}

// ---------------------------------------------------------------------------------------
// state changes (§6.4)

Memberlist::Node* Memberlist::find(const std::string& name) {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

void Memberlist::alive_node(wire::Alive a, bool bootstrap, std::function<void()> notify) {
  const bool about_us = a.Node == config_.name;
  if (leaving_ && about_us) return;
  if (a.Vsn.size() >= 3 && (a.Vsn[0] == 0 || a.Vsn[1] == 0 || a.Vsn[0] > a.Vsn[1])) {
    drop("alive for " + a.Node + " with invalid protocol versions", false);
    ++stats_.nodes_refused;
    return;
  }
  if (a.Node.empty() || (a.Addr.size() != 4 && a.Addr.size() != 16)) {
    drop("alive with empty name or bad address", false);
    return;
  }
  const wire::Bytes meta = a.Meta.value_or(wire::Bytes{});
  if (meta.size() > config_.meta_max_size) {
    drop("alive for " + a.Node + " with " + std::to_string(meta.size()) + " bytes of meta", false);
    return;
  }
  Node* state = find(a.Node);
  bool updates_address = false;
  if (!state) {
    if (nodes_.size() >= config_.max_nodes) {
      ++stats_.nodes_refused;
      drop("node limit reached, ignoring " + a.Node, false);
      return;
    }
    Node n;
    n.info.name = a.Node;
    n.info.addr = a.Addr;
    n.info.port = a.Port;
    n.info.meta = meta;
    n.info.state = NodeStateKind::kDead;  // so that becoming alive is a join
    if (a.Vsn.size() >= 6) n.info.vsn = a.Vsn;
    n.state_change = scheduler_.now();
    state = &nodes_.emplace(a.Node, std::move(n)).first->second;
    live_count_.reset();  // num_members() counts again
    // Random position in the probe order (§6.2).
    std::uniform_int_distribution<std::size_t> pos(0, order_.size());
    order_.insert(order_.begin() + static_cast<std::ptrdiff_t>(pos(scheduler_.rng())), a.Node);
  } else if (state->info.addr != a.Addr || state->info.port != a.Port) {
    // Same name, new address: only a node that left may come back elsewhere (§6.4 step 5).
    if (state->info.state == NodeStateKind::kLeft) {
      updates_address = true;
    } else {
      ++stats_.nodes_refused;
      drop("conflicting address for " + a.Node + ": " +
               to_string(Address{state->info.addr, state->info.port}) + " vs " +
               to_string(Address{a.Addr, a.Port}),
           false);
      NodeInfo other = state->info;
      other.addr = a.Addr;
      other.port = a.Port;
      other.incarnation = a.Incarnation;
      delegate_.notify_conflict(state->info, other);
      return;
    }
  }
  if (a.Incarnation <= state->info.incarnation && !about_us && !updates_address) return;
  if (a.Incarnation < state->info.incarnation && about_us) return;

  if (auto s = suspicions_.find(a.Node); s != suspicions_.end()) {
    scheduler_.cancel(s->second.timer);
    suspicions_.erase(s);
  }
  const NodeStateKind old_state = state->info.state;
  const wire::Bytes old_meta = state->info.meta;

  if (!bootstrap && about_us) {
    if (a.Incarnation == state->info.incarnation && meta == state->info.meta &&
        a.Vsn == wire::kOurVsn) {
      return;
    }
    refute(*state, a.Incarnation);
    return;
  }
  broadcast(a.Node, msg(wire::MsgType::kAlive, a), std::move(notify));
  if (!a.Vsn.empty()) state->info.vsn = a.Vsn;
  state->info.incarnation = a.Incarnation;
  state->info.meta = meta;
  state->info.addr = a.Addr;
  state->info.port = a.Port;
  if (about_us) incarnation_ = std::max(incarnation_, a.Incarnation);
  if (state->info.state != NodeStateKind::kAlive) {
    state->info.state = NodeStateKind::kAlive;
    live_count_.reset();  // num_members() counts again
    state->state_change = scheduler_.now();
  }
  if (old_state == NodeStateKind::kDead || old_state == NodeStateKind::kLeft) {
    delegate_.notify_join(state->info);
  } else if (old_meta != state->info.meta) {
    delegate_.notify_update(state->info);
  }
}

// When the timer fires and the node is still suspect since the same change, it is dead.
TimerId Memberlist::arm_suspicion(const std::string& name, TimePoint change, Duration delay) {
  return scheduler_.schedule(delay, [this, name, change] {
    Node* node = find(name);
    suspicions_.erase(name);
    if (node && node->info.state == NodeStateKind::kSuspect && node->state_change == change) {
      dead_node(wire::Dead{node->info.incarnation, name, config_.name});
    }
  });
}

void Memberlist::suspect_node(const wire::Suspect& s) {
  Node* state = find(s.Node);
  if (!state || s.Incarnation < state->info.incarnation) return;
  if (auto it = suspicions_.find(s.Node); it != suspicions_.end()) {
    Suspicion& sus = it->second;
    // An independent confirmation shortens the timeout (Lifeguard).
    if (sus.n >= sus.k || sus.confirmations.count(s.From)) return;
    sus.confirmations.insert(s.From);
    ++sus.n;
    const Duration elapsed = scheduler_.now() - sus.start;
    const Duration remaining = remaining_suspicion_time(sus.n, sus.k, elapsed, sus.min, sus.max);
    const TimerId old = sus.timer;
    const std::string name = s.Node;
    const TimePoint change = state->state_change;
    sus.timer = arm_suspicion(name, change, std::max(remaining, Duration::zero()));
    scheduler_.cancel(old);
    broadcast(s.Node, msg(wire::MsgType::kSuspect, s));
    return;
  }
  if (state->info.state != NodeStateKind::kAlive) return;
  if (s.Node == config_.name) {
    refute(*state, s.Incarnation);
    return;
  }
  broadcast(s.Node, msg(wire::MsgType::kSuspect, s));
  state->info.incarnation = s.Incarnation;
  state->info.state = NodeStateKind::kSuspect;
  const TimePoint change = scheduler_.now();
  state->state_change = change;
  begin_suspicion(s.Node, s.From, change);
}

void Memberlist::begin_suspicion(const std::string& name, const std::string& from,
                                 TimePoint change) {
  Suspicion sus;
  sus.k = config_.suspicion_mult - 2;
  const std::size_t n = est_num_nodes();
  if (n < 2 || n - 2 < static_cast<std::size_t>(std::max(sus.k, 0))) sus.k = 0;
  sus.min = suspicion_timeout(config_.suspicion_mult, n, config_.probe_interval);
  sus.max = sus.min * config_.suspicion_max_timeout_mult;
  sus.start = change;
  sus.confirmations.insert(from);
  const Duration timeout = sus.k < 1 ? sus.min : sus.max;
  sus.timer = arm_suspicion(name, change, timeout);
  suspicions_[name] = std::move(sus);
}

void Memberlist::dead_node(const wire::Dead& d, std::function<void()> notify) {
  Node* state = find(d.Node);
  if (!state || d.Incarnation < state->info.incarnation) {
    if (notify) notify();
    return;
  }
  if (auto s = suspicions_.find(d.Node); s != suspicions_.end()) {
    scheduler_.cancel(s->second.timer);
    suspicions_.erase(s);
  }
  if (dead_or_left(state->info)) {
    if (notify) notify();
    return;
  }
  if (d.Node == config_.name) {
    if (!leaving_) {
      refute(*state, d.Incarnation);
      return;
    }
    broadcast(d.Node, msg(wire::MsgType::kDead, d), std::move(notify));
  } else {
    broadcast(d.Node, msg(wire::MsgType::kDead, d));
  }
  state->info.incarnation = d.Incarnation;
  state->info.state = d.Node == d.From ? NodeStateKind::kLeft : NodeStateKind::kDead;
  live_count_.reset();  // num_members() counts again
  state->state_change = scheduler_.now();
  delegate_.notify_leave(state->info);
}

void Memberlist::refute(Node& self, std::uint32_t accused_incarnation) {
  std::uint32_t inc = next_incarnation();
  if (accused_incarnation >= inc) {
    incarnation_ = accused_incarnation + 1;
    inc = incarnation_;
  }
  self.info.incarnation = inc;
  ++stats_.refutes;
  apply_awareness(1);
  wire::Alive a;
  a.Incarnation = inc;
  a.Node = self.info.name;
  a.Addr = self.info.addr;
  a.Port = self.info.port;
  a.Meta = self.info.meta;
  a.Vsn = wire::kOurVsn;
  broadcast(a.Node, msg(wire::MsgType::kAlive, a));
}

void Memberlist::update_node_meta() {
  Node* self = find(config_.name);
  if (!self) return;
  wire::Alive a;
  a.Incarnation = next_incarnation();
  a.Node = config_.name;
  a.Addr = config_.advertise.ip;
  a.Port = config_.advertise.port;
  a.Meta = delegate_.node_meta(config_.meta_max_size);
  a.Vsn = wire::kOurVsn;
  alive_node(std::move(a), /*bootstrap=*/true);
}

void Memberlist::apply_awareness(int delta) {
  awareness_ = std::clamp(awareness_ + delta, 0, config_.awareness_max_multiplier - 1);
}

bool Memberlist::pmax_at_least(const Node& n, int v) const {
  return n.info.vsn.size() >= 2 && n.info.vsn[1] >= v;
}

// ---------------------------------------------------------------------------------------
// probing (§4.1-§4.3, §6.2, §6.9)

void Memberlist::schedule_probe() {
  probe_timer_ = scheduler_.schedule(config_.probe_interval, [this] { probe_tick(); });
}

void Memberlist::reset_probe_order() {
  // Forget dead (and, unlike 0.2.2, left) nodes once they had their chance to refute.
  const TimePoint now = scheduler_.now();
  std::vector<std::string> keep;
  for (const auto& name : order_) {
    const Node* n = find(name);
    if (!n) continue;
    if (name != config_.name && dead_or_left(n->info) &&
        now - n->state_change > config_.gossip_to_the_dead_time) {
      nodes_.erase(name);
      live_count_.reset();  // num_members() counts again
      continue;
    }
    keep.push_back(name);
  }
  order_ = std::move(keep);
  std::shuffle(order_.begin(), order_.end(), scheduler_.rng());
}

void Memberlist::probe_tick() {
  schedule_probe();
  if (probe_) return;  // the previous probe is still waiting (awareness stretches it)
  std::size_t checked = 0;
  while (checked < order_.size() + 1) {
    if (probe_index_ >= order_.size()) {
      reset_probe_order();
      probe_index_ = 0;
      ++checked;
      if (order_.empty()) return;
      continue;
    }
    const std::string name = order_[probe_index_++];
    const Node* n = find(name);
    if (!n || name == config_.name || dead_or_left(n->info)) {
      ++checked;
      continue;
    }
    probe_node(name);
    return;
  }
}

void Memberlist::probe_node(const std::string& name) {
  Node* node = find(name);
  if (!node) return;
  ++stats_.probes;
  Probe probe;
  probe.seq = next_seq();
  probe.target = name;
  probe.incarnation = node->info.incarnation;
  const std::uint32_t seq = probe.seq;
  const Duration deadline = config_.probe_interval * (awareness_ + 1);

  wire::Ping ping;
  ping.SeqNo = seq;
  ping.Node = name;
  ping.SourceAddr = config_.advertise.ip;
  ping.SourcePort = config_.advertise.port;
  ping.SourceNode = config_.name;
  const Address target = node->info.address();

  AckHandler h;
  h.on_ack = [this, seq](const std::optional<wire::Bytes>& payload) {
    if (!probe_ || probe_->seq != seq) return;
    const bool direct = probe_->direct;
    const std::string target = probe_->target;
    const Duration rtt = scheduler_.now() - probe_->sent;
    finish_probe(true);
    // Only a direct ack measures the path to the target (memberlist NotifyPingComplete).
    if (!direct) return;
    if (const Node* n = find(target)) {
      delegate_.notify_ping_complete(
          n->info, rtt,
          payload ? std::span<const std::uint8_t>(*payload) : std::span<const std::uint8_t>());
    }
  };
  set_ack_handler(seq, std::move(h), deadline);

  // Before the send, as memberlist does: over-reports a little rather than ever going negative.
  probe.sent = scheduler_.now();
  if (node->info.state == NodeStateKind::kAlive) {
    send_with_piggyback(target, msg(wire::MsgType::kPing, ping));
  } else {
    // Probing a suspect: tell it, so it can refute at once (§4.3).
    wire::Suspect s{node->info.incarnation, name, config_.name};
    send_raw(target, node, {msg(wire::MsgType::kPing, ping), msg(wire::MsgType::kSuspect, s)});
  }

  // No direct ack within ProbeTimeout: ask others, and try TCP (§4.2).
  probe.timers.push_back(scheduler_.schedule(config_.probe_timeout, [this, seq, name, ping] {
    if (!probe_ || probe_->seq != seq || probe_->acked) return;
    probe_->direct = false;  // a later ack may be relayed: it no longer times our ping
    Node* target_node = find(name);
    if (!target_node) return;
    const auto helpers = random_nodes(config_.indirect_checks, [&](const Node& n) {
      return n.info.name == config_.name || n.info.name == name ||
             n.info.state != NodeStateKind::kAlive;
    });
    for (Node* helper : helpers) {
      wire::IndirectPing req;
      req.SeqNo = seq;
      req.Target = target_node->info.addr;
      req.Port = target_node->info.port;
      req.Node = name;
      req.Nack = pmax_at_least(*helper, 4);
      req.SourceAddr = config_.advertise.ip;
      req.SourcePort = config_.advertise.port;
      req.SourceNode = config_.name;
      if (req.Nack) ++probe_->nacks_expected;
      send_with_piggyback(helper->info.address(), msg(wire::MsgType::kIndirectPing, req));
    }
    if (!config_.disable_tcp_pings && pmax_at_least(*target_node, 3)) {
      std::weak_ptr<bool> alive = alive_token_;
      transport_.stream_exchange(
          target_node->info.address(), stream_frame(msg(wire::MsgType::kPing, ping)), true,
          config_.probe_interval * (awareness_ + 1),
          [this, alive, seq](bool ok, const wire::StreamMessage* reply, const std::string&) {
            if (alive.expired() || !*alive.lock()) return;
            if (ok && reply && reply->type == wire::MsgType::kAck && reply->ack.SeqNo == seq &&
                probe_ && probe_->seq == seq) {
              probe_->tcp_ok = true;
            }
          });
    }
  }));

  probe.timers.push_back(scheduler_.schedule(deadline, [this, seq] {
    if (!probe_ || probe_->seq != seq || probe_->acked) return;
    finish_probe(false);
  }));
  probe_ = std::move(probe);
}

void Memberlist::finish_probe(bool success) {
  if (!probe_) return;
  Probe probe = std::move(*probe_);
  probe_.reset();
  for (TimerId t : probe.timers) scheduler_.cancel(t);
  if (success) {
    apply_awareness(-1);
    return;
  }
  if (auto it = ack_handlers_.find(probe.seq); it != ack_handlers_.end()) {
    scheduler_.cancel(it->second.timeout);
    ack_handlers_.erase(it);
  }
  if (probe.tcp_ok) return;  // "was able to connect but other probes failed": no suspicion
  ++stats_.probe_failures;
  apply_awareness(probe.nacks_expected > 0 ? probe.nacks_expected - probe.nacks_received : 1);
  if (!find(probe.target)) return;
  suspect_node(wire::Suspect{probe.incarnation, probe.target, config_.name});
}

std::vector<Memberlist::Node*> Memberlist::random_nodes(
    int k, const std::function<bool(const Node&)>& exclude) {
  // Large clusters: random picks from the probe order (it mirrors nodes_), at most 3n tries,
  // as memberlist's kRandomNodes does. Gossip asks for 3 nodes every 200 ms: a scan and a
  // shuffle of 1,000 nodes each time was most of the loop's CPU. Small ones: scan and
  // shuffle, so that a lone candidate is never missed by chance.
  constexpr std::size_t kScanBelow = 64;
  if (order_.size() >= kScanBelow && k > 0) {
    std::vector<Node*> picked;
    std::uniform_int_distribution<std::size_t> pick(0, order_.size() - 1);
    for (std::size_t i = 0; i < 3 * order_.size() && picked.size() < static_cast<std::size_t>(k);
         ++i) {
      Node* n = find(order_[pick(scheduler_.rng())]);
      if (!n || exclude(*n) || std::find(picked.begin(), picked.end(), n) != picked.end()) continue;
      picked.push_back(n);
    }
    return picked;
  }
  std::vector<Node*> candidates;
  for (auto& [name, n] : nodes_) {
    if (!exclude(n)) candidates.push_back(&n);
  }
  std::shuffle(candidates.begin(), candidates.end(), scheduler_.rng());
  if (candidates.size() > static_cast<std::size_t>(std::max(k, 0))) {
    candidates.resize(static_cast<std::size_t>(std::max(k, 0)));
  }
  return candidates;
}

// ---------------------------------------------------------------------------------------
// gossip (§4.4) and broadcasts (§6.7)

void Memberlist::broadcast(const std::string& node, wire::Bytes message,
                           std::function<void()> notify) {
  broadcasts_.queue(std::move(message), node, std::move(notify));
  wake_gossip();
}

void Memberlist::wake_gossip() {
  if (!gossip_idle_ || !started_ || paused_) return;
  gossip_idle_ = false;
  const TimePoint now = scheduler_.now();
  const Duration interval = config_.gossip_interval;
  TimePoint next = gossip_last_tick_ + interval;
  if (next <= now && interval > Duration::zero()) {
    next += ((now - next) / interval + 1) * interval;
  }
  gossip_timer_ = scheduler_.schedule(next - now, [this] { gossip_tick(); });
}

std::vector<wire::Bytes> Memberlist::get_broadcasts(std::size_t overhead, std::size_t limit) {
  auto out = broadcasts_.get(overhead, limit);
  std::size_t used = 0;
  for (const auto& m : out) used += m.size() + overhead;
  if (used < limit) {
    for (auto& serf : delegate_.get_broadcasts(overhead + kUserMsgOverhead, limit - used)) {
      if (serf.empty()) continue;
      out.push_back(wire::user_message(serf));
    }
  }
  return out;
}

void Memberlist::gossip_tick() {
  const TimePoint now = scheduler_.now();
  gossip_last_tick_ = now;
  if (broadcasts_.size() == 0 && !delegate_.has_broadcasts()) {
    gossip_timer_ = 0;
    gossip_idle_ = true;  // until wake_gossip()
    return;
  }
  gossip_timer_ = scheduler_.schedule(config_.gossip_interval, [this] { gossip_tick(); });
  ++stats_.gossip_rounds;
  const auto targets = random_nodes(config_.gossip_nodes, [&](const Node& n) {
    if (n.info.name == config_.name) return true;
    switch (n.info.state) {
      case NodeStateKind::kAlive:
      case NodeStateKind::kSuspect:
        return false;
      case NodeStateKind::kDead:
        return now - n.state_change > config_.gossip_to_the_dead_time;
      default:
        return true;
    }
  });
  std::size_t avail = config_.udp_buffer_size - kCompoundHeaderOverhead;
  if (keyring() != nullptr) avail -= kEncryptOverhead;
  for (Node* node : targets) {
    auto msgs = get_broadcasts(kCompoundOverhead, avail);
    if (msgs.empty()) return;
    send_raw(node->info.address(), node, msgs);
  }
}

void Memberlist::send_with_piggyback(const Address& to, wire::Bytes message) {
  std::vector<wire::Bytes> msgs{std::move(message)};
  std::size_t overhead = msgs[0].size() + kCompoundHeaderOverhead;
  if (keyring() != nullptr) overhead += kEncryptOverhead;
  if (overhead < config_.udp_buffer_size) {
    for (auto& extra : get_broadcasts(kCompoundOverhead, config_.udp_buffer_size - overhead)) {
      msgs.push_back(std::move(extra));
    }
  }
  send_raw(to, nullptr, msgs);
}

void Memberlist::send_raw(const Address& to, const Node* node,
                          const std::vector<wire::Bytes>& msgs) {
  wire::WrapOptions opt;
  opt.crc = node && pmax_at_least(*node, 5);
  opt.compress = config_.enable_compression;
  opt.keyring = keyring();
  wire::Bytes packet;
  std::string err;
  if (!wire::wrap_datagram(msgs, opt, packet, &err)) {
    drop("cannot send to " + to_string(to) + ": " + err, false);
    return;
  }
  ++stats_.packets_sent;
  transport_.send_packet(to, std::move(packet));
}

void Memberlist::send_to_address(const Address& to, std::span<const std::uint8_t> serf_msg) {
  if (serf_msg.empty()) return;
  send_raw(to, nullptr, {wire::user_message(serf_msg)});
}

// ---------------------------------------------------------------------------------------
// TCP: push/pull (§5.2), fallback ping (§5.4), user stream (§5.5)

wire::Bytes Memberlist::stream_frame(const wire::Bytes& plain) const {
  return wire::encode_stream(plain, config_.enable_compression, keyring());
}

wire::PushPull Memberlist::local_push_pull(bool join) {
  wire::PushPull pp;
  pp.Join = join;
  pp.Nodes.reserve(nodes_.size());
  for (const auto& name : order_) {
    const Node* n = find(name);
    if (!n) continue;
    wire::PushNodeState s;
    s.Name = n->info.name;
    s.Addr = n->info.addr;
    s.Port = n->info.port;
    s.Meta = n->info.meta;
    s.Incarnation = n->info.incarnation;
    s.State = static_cast<wire::NodeState>(n->info.state);
    // Never report a node without a full Vsn: it poisons Go peers' merges (§3.1).
    s.Vsn = n->info.vsn.size() >= 6 ? n->info.vsn : wire::kOurVsn;
    pp.Nodes.push_back(std::move(s));
  }
  pp.UserState = delegate_.local_state(join);
  return pp;
}

bool Memberlist::verify_protocol(const std::vector<wire::PushNodeState>& remote) const {
  int max_pmin = 0, min_pmax = 255, max_dmin = 0, min_dmax = 255;
  auto widen = [&](const wire::Bytes& v) {
    if (v.size() < 6) return;
    max_pmin = std::max<int>(max_pmin, v[0]);
    min_pmax = std::min<int>(min_pmax, v[1]);
    max_dmin = std::max<int>(max_dmin, v[3]);
    min_dmax = std::min<int>(min_dmax, v[4]);
  };
  for (const auto& [name, n] : nodes_) {
    if (n.info.state == NodeStateKind::kAlive) widen(n.info.vsn);
  }
  for (const auto& r : remote) {
    if (r.State == wire::NodeState::kAlive) widen(r.Vsn);
  }
  auto ok = [&](const wire::Bytes& v) {
    const int pcur = v.size() >= 6 ? v[2] : 0, dcur = v.size() >= 6 ? v[5] : 0;
    return pcur >= max_pmin && pcur <= min_pmax && dcur >= max_dmin && dcur <= min_dmax;
  };
  for (const auto& r : remote) {
    if (!ok(r.Vsn)) return false;
  }
  for (const auto& [name, n] : nodes_) {
    if (!n.info.vsn.empty() && !ok(n.info.vsn)) return false;
  }
  return true;
}

void Memberlist::merge_remote(const wire::PushPull& remote) {
  if (!verify_protocol(remote.Nodes)) {
    drop("push/pull refused: incompatible protocol versions", false);
    return;
  }
  ++stats_.push_pulls;
  delegate_.batch([&] { merge_remote_nodes(remote); });
}

void Memberlist::merge_remote_nodes(const wire::PushPull& remote) {
  for (const auto& r : remote.Nodes) {
    if (const auto trap = wire::go_trap(r)) {  // never store (and later relay) it
      ++stats_.unsafe_dropped;
      stats_.last_drop_reason =
          "push/pull node " + r.Name + " dropped, unsafe for Go peers: " + *trap;
      continue;
    }
    switch (r.State) {
      case wire::NodeState::kAlive: {
        wire::Alive a;
        a.Incarnation = r.Incarnation;
        a.Node = r.Name;
        a.Addr = r.Addr;
        a.Port = r.Port != 0 ? r.Port : config_.advertise.port;
        a.Meta = r.Meta;
        a.Vsn.assign(r.Vsn.begin(), r.Vsn.begin() + 6);
        alive_node(std::move(a), false);
        break;
      }
      case wire::NodeState::kLeft:
        dead_node(wire::Dead{r.Incarnation, r.Name, r.Name});
        break;
      default:
        // Hearsay of death only makes us suspect (§5.2).
        suspect_node(wire::Suspect{r.Incarnation, r.Name, config_.name});
        break;
    }
  }
  if (!remote.UserState.empty()) delegate_.merge_remote_state(remote.UserState, remote.Join);
}

wire::Bytes Memberlist::handle_stream(const Address& from, const wire::StreamMessage& m) {
  ++stats_.streams_received;
  switch (m.type) {
    case wire::MsgType::kPushPull: {
      // Send our state first, then merge (Go's order).
      const wire::Bytes reply =
          stream_frame(wire::encode_push_pull(local_push_pull(m.push_pull.Join)));
      merge_remote(m.push_pull);
      return reply;
    }
    case wire::MsgType::kPing: {
      if (!m.ping.Node.empty() && m.ping.Node != config_.name) {
        drop("TCP ping for node '" + m.ping.Node + "' from " + to_string(from), false);
        return {};
      }
      wire::Ack ack;
      ack.SeqNo = m.ping.SeqNo;
      return stream_frame(msg(wire::MsgType::kAck, ack));
    }
    case wire::MsgType::kUser:
      if (!m.user_msg.empty()) delegate_.notify_msg(m.user_msg);
      return {};
    default:
      ++stats_.streams_failed;
      drop(
          "stream of type " + std::to_string(static_cast<int>(m.type)) + " from " + to_string(from),
          false);
      return {};
  }
}

void Memberlist::push_pull_with(const Address& to, bool join,
                                std::function<void(bool ok, const std::string& error)> done) {
  std::weak_ptr<bool> alive = alive_token_;
  transport_.stream_exchange(
      to, stream_frame(wire::encode_push_pull(local_push_pull(join))), true, config_.tcp_timeout,
      [this, alive, to, done = std::move(done)](bool ok, const wire::StreamMessage* reply,
                                                const std::string& error) {
        if (alive.expired() || !*alive.lock()) {
          // Paused for a handover or shut down: the caller still hears how it ended.
          if (done) done(false, "interrupted (handover or shutdown)");
          return;
        }
        if (!ok || !reply) {
          ++stats_.streams_failed;
          if (done) done(false, error.empty() ? "no reply" : error);
          return;
        }
        if (reply->type == wire::MsgType::kErr) {
          ++stats_.streams_failed;
          if (done) done(false, "remote error: " + reply->err.Error);
          return;
        }
        if (reply->type != wire::MsgType::kPushPull) {
          ++stats_.streams_failed;
          if (done) done(false, "unexpected reply type " + std::to_string(int(reply->type)));
          return;
        }
        merge_remote(reply->push_pull);
        if (done) done(true, "");
      });
}

void Memberlist::schedule_push_pull(Duration delay) {
  push_pull_timer_ = scheduler_.schedule(delay, [this] { push_pull_tick(); });
}

void Memberlist::push_pull_tick() {
  // Interval scaled with the cluster size beyond 32 nodes (§6.8).
  const std::size_t n = est_num_nodes();
  double scale = 1;
  if (n > 32) scale = std::ceil(std::log2(double(n)) - std::log2(32.0)) + 1;
  schedule_push_pull(std::chrono::duration_cast<Duration>(config_.push_pull_interval * scale));
  const auto peer = random_nodes(1, [&](const Node& node) {
    return node.info.name == config_.name || node.info.state != NodeStateKind::kAlive;
  });
  if (peer.empty()) return;
  push_pull_with(peer[0]->info.address(), false, {});
}

void Memberlist::join(const std::vector<Address>& seeds,
                      std::function<void(int joined, const std::string& error)> done) {
  if (seeds.empty()) {
    if (done) done(0, "no address to join");
    return;
  }
  struct State {
    std::size_t pending;
    int joined = 0;
    std::string errors;
  };
  auto state = std::make_shared<State>(State{seeds.size(), 0, {}});
  for (const auto& seed : seeds) {
    push_pull_with(seed, true, [state, seed, done](bool ok, const std::string& error) {
      if (ok) {
        ++state->joined;
      } else {
        if (!state->errors.empty()) state->errors += "; ";
        state->errors += to_string(seed) + ": " + error;
      }
      if (--state->pending == 0 && done) done(state->joined, state->errors);
    });
  }
}

void Memberlist::join_address(const Address& to, std::function<void(bool ok)> done) {
  push_pull_with(to, true, [done = std::move(done)](bool ok, const std::string&) {
    if (done) done(ok);
  });
}

void Memberlist::leave(Duration timeout, std::function<void()> done) {
  if (leaving_) {
    if (done) done();
    return;
  }
  leaving_ = true;
  Node* self = find(config_.name);
  const bool anyone_alive = std::any_of(nodes_.begin(), nodes_.end(), [&](const auto& kv) {
    return kv.first != config_.name && kv.second.info.state == NodeStateKind::kAlive;
  });
  if (!self) {
    if (done) done();
    return;
  }
  auto once = std::make_shared<std::function<void()>>(std::move(done));
  auto fire = [once] {
    if (*once) {
      auto f = std::move(*once);
      *once = nullptr;
      f();
    }
  };
  dead_node(wire::Dead{self->info.incarnation, config_.name, config_.name},
            anyone_alive ? std::function<void()>(fire) : std::function<void()>());
  if (!anyone_alive) {
    fire();
    return;
  }
  std::weak_ptr<bool> alive = alive_token_;
  scheduler_.schedule(timeout, [alive, fire] {
    if (alive.expired() || !*alive.lock()) return;
    fire();
  });
}

// ---------------------------------------------------------------------------------------
// MemberlistApi

NodeInfo Memberlist::local_node() const {
  auto it = nodes_.find(config_.name);
  if (it != nodes_.end()) return it->second.info;
  NodeInfo n;
  n.name = config_.name;
  n.addr = config_.advertise.ip;
  n.port = config_.advertise.port;
  n.vsn = wire::kOurVsn;
  return n;
}

std::vector<NodeInfo> Memberlist::nodes() const {
  std::vector<NodeInfo> out;
  out.reserve(nodes_.size());
  for (const auto& [name, n] : nodes_) out.push_back(n.info);
  return out;
}

std::size_t Memberlist::num_members() const {
  // Asked for every packet serf fills (its retransmit limits): counted once per change of
  // the node set or of a node's state, not per packet.
  if (!live_count_) {
    live_count_ =
        static_cast<std::size_t>(std::count_if(nodes_.begin(), nodes_.end(), [](const auto& kv) {
          return !dead_or_left(kv.second.info);
        }));
  }
  return *live_count_;
}

}  // namespace haserf::swim
