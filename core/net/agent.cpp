// SPDX-License-Identifier: MIT
#include "core/net/agent.hpp"

#include <unistd.h>

#include <algorithm>
#include <future>
#include <random>

#include "core/net/keyring_file.hpp"
#include "core/net/uv_transport.hpp"

namespace haserf::net {

std::span<const GossipCounter> gossip_counters() {
  using S = const AgentStats&;
  static constexpr GossipCounter kCounters[] = {
      {"packets_received", [](S s) { return s.memberlist.packets_received; }},
      {"packets_dropped", [](S s) { return s.memberlist.packets_dropped; }},
      {"messages_dropped", [](S s) { return s.memberlist.messages_dropped; }},
      {"packets_sent", [](S s) { return s.memberlist.packets_sent; }},
      {"probes", [](S s) { return s.memberlist.probes; }},
      {"probe_failures", [](S s) { return s.memberlist.probe_failures; }},
      {"refutes", [](S s) { return s.memberlist.refutes; }},
      {"push_pulls", [](S s) { return s.memberlist.push_pulls; }},
      {"nodes_refused", [](S s) { return s.memberlist.nodes_refused; }},
      {"tcp_errors", [](S s) { return s.transport.tcp_errors; }},
      {"sources_refused", [](S s) { return s.transport.sources_refused; }},
      {"streams_over_budget", [](S s) { return s.transport.streams_over_budget; }},
      {"streams_evicted", [](S s) { return s.transport.streams_evicted; }},
      {"streams_timed_out", [](S s) { return s.transport.streams_timed_out; }},
      {"tcp_refused", [](S s) { return s.transport.tcp_refused; }},
      {"udp_receive_drops", [](S s) { return s.transport.udp_receive_drops; }},
      // Messages a Go peer could not survive (docs/go-traps.md): dropped, never forwarded.
      {"unsafe_dropped", [](S s) { return s.memberlist.unsafe_dropped + s.serf.unsafe_dropped; }},
  };
  return kCounters;
}

std::string default_node_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "haserf";
  return buf;
}

std::string_view to_string(AgentPhase phase) {
  switch (phase) {
    case AgentPhase::kIdle:
      return "idle";
    case AgentPhase::kStarting:
      return "starting";
    case AgentPhase::kRunning:
      return "running";
    case AgentPhase::kLeaving:
      return "leaving";
    case AgentPhase::kLeft:
      return "left";
    case AgentPhase::kHandingOver:
      return "handing-over";
    case AgentPhase::kHandedOver:
      return "handed-over";
    case AgentPhase::kFailed:
      return "failed";
    case AgentPhase::kStopped:
      return "stopped";
  }
  return "idle";
}

Agent::Agent(AgentConfig config, table::MembershipTable& table)
    : config_(std::move(config)), table_(table) {}

Agent::~Agent() {
  stop();
}

// ---------------------------------------------------------------------------------------
// status

template <typename F>
void Agent::update_status(F&& f) {
  {
    std::lock_guard<std::mutex> lock(status_mutex_);
    f(status_);
  }
  status_changed_.notify_all();
}

void Agent::set_phase(AgentPhase phase, const std::string& error) {
  running_ = phase == AgentPhase::kRunning;
  update_status([&](AgentStatus& s) {
    s.phase = phase;
    if (!error.empty()) s.error = error;
  });
}

AgentStatus Agent::status() const {
  std::lock_guard<std::mutex> lock(status_mutex_);
  return status_;
}

bool Agent::wait_status(const std::function<bool(const AgentStatus&)>& pred,
                        std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(status_mutex_);
  return status_changed_.wait_for(lock, timeout, [&] { return pred(status_); });
}

// ---------------------------------------------------------------------------------------
// start

namespace {

// 127.0.0.0/8, ::1 or ::ffff:127.x.y.z: nobody else can send to it.
bool loopback(const wire::Bytes& ip) {
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (ip.size() == 4) return ip[0] == 127;
  if (ip.size() != 16) return false;
  if (std::equal(kMapped, kMapped + 12, ip.begin())) return ip[12] == 127;
  return std::all_of(ip.begin(), ip.begin() + 15, [](std::uint8_t b) { return b == 0; }) &&
         ip[15] == 1;
}

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// The memberlist timings of a profile (§6.1), keeping the caller's bounds.
bool profile_timings(const AgentConfig& c, swim::Config& out, std::string* err) {
  if (c.tweak_swim) {
    out = c.swim;
    return true;
  }
  if (c.profile == "lan") {
    out = swim::lan_config();
  } else if (c.profile == "wan") {
    out = swim::wan_config();
  } else if (c.profile == "local") {
    out = swim::local_config();
  } else {
    if (err) *err = "unknown profile '" + c.profile + "' (lan, wan or local)";
    return false;
  }
  out.max_nodes = c.swim.max_nodes;
  out.limits = c.swim.limits;
  return true;
}

}  // namespace

bool check_config(const AgentConfig& config, std::string* err, swim::Address* bind_out,
                  swim::Address* advertise_out, wire::Keyring* keyring_out, std::string* notice) {
  // Node names end up one per line in serf's snapshot files (docs/go-traps.md SF-6).
  if (has_control_char(config.node_name)) {
    if (err) *err = "node name has a control character";
    return false;
  }
  swim::Config timings;
  if (!profile_timings(config, timings, err)) return false;
  swim::Address bind, advertise;
  if (!swim::parse_address(config.bind, 7946, bind, err)) {
    if (err) *err = "bind: " + *err;
    return false;
  }
  advertise = bind;
  if (!config.advertise.empty() &&
      !swim::parse_address(config.advertise, bind.port, advertise, err)) {
    if (err) *err = "advertise: " + *err;
    return false;
  }
  if (std::all_of(advertise.ip.begin(), advertise.ip.end(),
                  [](std::uint8_t b) { return b == 0; })) {
    if (err) *err = "bind address " + config.bind + " is a wildcard: give an advertise address";
    return false;
  }
  wire::Keyring keyring;
  if (!initial_keyring(config.encrypt_key, config.keyring_file, keyring, nullptr, err, notice)) {
    return false;
  }
  if (config.rejoin && config.snapshot_path.empty() && notice) {  // serf warns too
    *notice +=
        (notice->empty() ? "" : "; ") + std::string("rejoin has no effect without a snapshot");
  }
  for (const auto& extra : config.extra_keys) {
    wire::Bytes key;
    std::string kerr;
    if (!wire::parse_key_base64(extra, key, &kerr)) {
      if (err) *err = "encryption key: " + kerr;
      return false;
    }
    if (keyring.enabled()) keyring.add(key);
  }
  for (const auto* seeds : {&config.join, &config.retry_join}) {
    for (const auto& seed : *seeds) {
      swim::Address a;
      std::string jerr;
      if (!swim::parse_address(seed, 7946, a, &jerr)) {
        if (err) *err = "join address '" + seed + "': " + jerr;
        return false;
      }
    }
  }
  if (!config.retry_join.empty() && (config.retry_interval.count() <= 0 || config.retry_max < 0)) {
    if (err) *err = "retry-join: the interval must be positive and the maximum not negative";
    return false;
  }
  SourceFilter sources;
  if (!sources.parse(config.allow_sources, err)) {
    if (err) *err = "allow: " + *err;
    return false;
  }
  const auto meta = wire::encode_tags(config.tags);
  if (meta.size() > config.serf.meta_size_limit) {
    if (err) {
      *err = "tags encode to " + std::to_string(meta.size()) + " bytes, more than " +
             std::to_string(config.serf.meta_size_limit);
    }
    return false;
  }
  if (bind_out) *bind_out = bind;
  if (advertise_out) *advertise_out = advertise;
  if (keyring_out) *keyring_out = keyring;
  return true;
}

bool Agent::prepare(std::string* err) {
  if (config_.node_name.empty()) config_.node_name = default_node_name();
  swim::Config timings;
  if (!profile_timings(config_, timings, err)) return false;
  std::string notice;
  if (!check_config(config_, err, &bind_addr_, &advertise_addr_, &keyring_, &notice)) {
    // CLI flags are named --bind/--advertise; the message says which address is wrong.
    return false;
  }
  config_.swim = timings;
  if (!notice.empty()) update_status([&](AgentStatus& s) { s.notice = notice; });
  if (!config_.snapshot_path.empty()) {
    SnapshotOptions options;
    options.path = config_.snapshot_path;
    options.rejoin_after_leave = config_.rejoin;
    options.log = config_.on_snapshot_log;
    auto recorder = std::make_unique<SnapshotRecorder>(std::move(options));
    if (!recorder->open(snapshot_replay_, err)) return false;  // "snapshot PATH: why"
    snapshot_ = std::move(recorder);
  }

  uv_loop_init(&loop_);
  loop_initialized_ = true;
  timers_ = std::make_unique<swim::TimerQueue>();
  transport_ = std::make_unique<UvTransport>(&loop_, keyring_.enabled() ? &keyring_ : nullptr,
                                             config_.swim.limits);
  transport_->allow_sources.parse(config_.allow_sources, nullptr);  // checked above
  if (!keyring_.enabled() && !loopback(bind_addr_.ip)) {
    const std::string warning =
        "gossip on " + swim::to_string(bind_addr_) +
        " is not encrypted: anyone who can send a packet to it can join the cluster, read the "
        "membership and forge events; give a key (serf keygen)" +
        (config_.allow_sources.empty() ? " and an allow-list of sources" : "") +
        " (docs/security.md)";
    update_status([&](AgentStatus& s) { s.warning = warning; });
  }
  uv_async_init(&loop_, &async_, [](uv_async_t* a) { static_cast<Agent*>(a->data)->run_posted(); });
  async_.data = this;
  uv_timer_init(&loop_, &timer_);
  timer_.data = this;
  return true;
}

bool Agent::start(std::string* err) {
  if (loop_initialized_) return true;  // started once already
  if (!prepare(err)) return false;
  // No thread (start_thread throws: HAProxy's RLIMIT_NPROC 0 in a non-root worker without
  // insecure-fork-wanted): close what prepare() and bind_and_start() opened here, in the
  // caller's thread, so that a host retrying the start leaks no descriptor; then rethrow.
  const auto start_loop_thread = [this](auto&& fn) {
    try {
      thread_ = start_thread("haserf-loop", std::forward<decltype(fn)>(fn));
    } catch (const std::exception& e) {
      shut_loop();
      uv_run(&loop_, UV_RUN_DEFAULT);  // let the close callbacks run
      set_phase(AgentPhase::kFailed, e.what());
      throw;
    }
  };
  if (config_.handover == HandoverPolicy::kOff) {
    if (!bind_and_start(err)) {
      shut_loop();
      uv_run(&loop_, UV_RUN_DEFAULT);  // let the close callbacks run
      set_phase(AgentPhase::kFailed, err ? *err : "");
      return false;
    }
    start_loop_thread([this] { run_loop(); });
    return true;
  }
  set_phase(AgentPhase::kStarting);
  start_loop_thread([this] {
    if (!take_over()) {
      std::string e;
      if (!bind_and_start(&e)) {
        const std::string before = status().error;  // a predecessor's refusal says why
        set_phase(AgentPhase::kFailed, before.empty() ? e : e + " (" + before + ")");
        shut_loop();
      }
    }
    run_loop();
  });
  return true;
}

void Agent::run_loop() {
  uv_run(&loop_, UV_RUN_DEFAULT);
}

bool Agent::bind_and_start(std::string* err) {
  if (!transport_->bind(swim::ip_to_string(bind_addr_.ip), bind_addr_.port, err)) {
    transport_->close();
    return false;
  }
  port_ = transport_->bound_port();
  if (config_.advertise.empty() || advertise_addr_.port == 0) advertise_addr_.port = port_;
  start_member(nullptr);
  // A successor may take over, or at least read our application state (HAProxy: the slots).
  // Listening before "running" is announced: whoever sees us running can also reach us.
  if (config_.handover != HandoverPolicy::kOff || config_.app_state) listen_for_successor();
  set_phase(AgentPhase::kRunning);
  if (snapshot_) rejoin_previous();
  if (config_.join.empty() && config_.retry_join.empty()) {
    update_status([](AgentStatus& s) { s.join_done = true; });
  } else if (!config_.join.empty()) {
    join(config_.join, [this](int joined, const std::string& error) {
      update_status([&](AgentStatus& s) {
        s.joined = joined;
        s.join_error = error;
        s.join_done = true;
      });
    });
  }
  if (!config_.retry_join.empty()) retry_join_attempt();
  return true;
}

void Agent::retry_join_attempt() {
  join(config_.retry_join, [this](int joined, const std::string& error) {
    int attempt = 0;
    bool exhausted = false;
    update_status([&](AgentStatus& s) {
      attempt = ++s.retry_join_attempts;
      s.retry_joined = joined > 0;
      exhausted = joined == 0 && config_.retry_max > 0 && attempt >= config_.retry_max;
      s.retry_join_exhausted = exhausted;
      // Without a plain join list, the retries are the start-up join as far as callers care
      // (HAProxy's glue, metrics): the first attempt ends "joining", a success counts.
      if (config_.join.empty() && (attempt == 1 || joined > 0)) {
        s.joined = joined;
        s.join_done = true;
        s.join_error = joined > 0 ? std::string() : error;
      } else if (joined == 0) {
        s.join_error = error;
      }
    });
    if (config_.on_retry_join) config_.on_retry_join(attempt, joined, error);
    if (joined > 0 || exhausted) return;
    // Only a member that is gone stops retrying (a handover in progress may be aborted).
    const auto gone = [this] {
      const auto p = status().phase;
      return p == AgentPhase::kLeaving || p == AgentPhase::kLeft || p == AgentPhase::kStopped ||
             p == AgentPhase::kFailed || p == AgentPhase::kHandedOver;
    };
    if (gone()) return;
    retry_join_timer_ = timers_->schedule(config_.retry_interval, [this, gone] {
      retry_join_timer_ = 0;
      if (gone()) return;
      if (status().phase == AgentPhase::kRunning) {
        retry_join_attempt();
      } else {  // starting or handing over: look again one interval later
        retry_join_timer_ = timers_->schedule(config_.retry_interval, [this] {
          retry_join_timer_ = 0;
          if (status().phase == AgentPhase::kRunning) retry_join_attempt();
        });
      }
    });
  });
}

// ---------------------------------------------------------------------------------------
// snapshot (serf's -snapshot and -rejoin; core/net/snapshot.hpp)

void Agent::start_snapshot(bool took_over) {
  if (!snapshot_) return;
  const auto log = [this](const std::string& line) {
    if (config_.on_snapshot_log) config_.on_snapshot_log(line);
  };
  if (took_over) {
    // The predecessor's state is newer than the file: nothing replayed, nobody rejoined; the
    // file continues with the members taken over (their join events follow).
    snapshot_->reset_alive();
    log("snapshot: took over from a predecessor: " + snapshot_->path() + " not replayed");
  } else {
    // serf Create: the clocks a previous run recorded are witnessed before anything is sent.
    serf_->restore_clocks(snapshot_replay_.clock, snapshot_replay_.event_clock,
                          snapshot_replay_.query_clock);
  }
  // The recorder is thread-safe; serf is not: table events may come from other threads (a
  // policy change), so the clock after a member event (serf records it) waits for the tick.
  snapshot_subscription_ = table_.subscribe([this](const table::ChangeEvent& e) {
    const auto& m = *e.member;
    switch (e.kind) {
      case table::ChangeKind::kJoin:
      case table::ChangeKind::kUpdate:  // a new address is worth recording (serf: join only)
        if (m.status == table::MemberStatus::kFailed || m.status == table::MemberStatus::kLeft) {
          return;
        }
        snapshot_->alive(m.name, snapshot_address(m.addr, m.port));
        return;
      case table::ChangeKind::kLeave:
      case table::ChangeKind::kFail:
        snapshot_->not_alive(m.name);
        return;
      default:
        return;
    }
  });
  // serf's clockUpdateInterval.
  struct Tick {
    Agent* self;
    void operator()() const {
      self->record_clocks();
      self->snapshot_timer_ = self->timers_->schedule(std::chrono::milliseconds(500), Tick{self});
    }
  };
  snapshot_timer_ = timers_->schedule(std::chrono::milliseconds(500), Tick{this});
}

void Agent::record_clocks() {
  if (!snapshot_ || !serf_) return;
  // serf records clock - 1, the last value seen; a restart witnesses it (= clock again).
  snapshot_->clocks(serf_->clock() - 1, serf_->last_event_ltime(), serf_->last_query_ltime());
}

void Agent::rejoin_previous() {
  const auto log = [this](const std::string& line) {
    if (config_.on_snapshot_log) config_.on_snapshot_log(line);
  };
  const auto& replay = snapshot_replay_;
  if (replay.left) {
    log("snapshot: the previous run left the cluster gracefully: no rejoin (the rejoin option "
        "ignores the leave)");
  } else if (replay.leave_ignored) {
    log("snapshot: ignoring the previous leave (rejoin)");
  }
  // serf handleRejoin: every member recorded alive but us, in random order.
  std::vector<swim::Address> addrs;
  for (const auto& [name, addr] : replay.alive) {
    swim::Address a;
    if (name == config_.node_name || !swim::parse_address(addr, 7946, a) || a == advertise_addr_) {
      continue;
    }
    addrs.push_back(std::move(a));
  }
  if (addrs.empty()) return;
  std::shuffle(addrs.begin(), addrs.end(), std::mt19937(std::random_device{}()));
  log("snapshot: rejoining " + std::to_string(addrs.size()) + " previous members from " +
      snapshot_->path());
  post([this, addrs, log] {
    if (!memberlist_ || status().phase != AgentPhase::kRunning) return;
    // As serf: no "ignore old events" here (that is `join`'s): events newer than the recorded
    // event clock happened while we were away and are delivered; older ones were seen.
    memberlist_->join(addrs, [this, n = addrs.size(), log](int joined, const std::string& error) {
      serf_->end_join(joined > 0);
      update_status([&](AgentStatus& s) { s.rejoined = joined; });
      if (joined > 0) {
        log("snapshot: rejoined " + std::to_string(joined) + " of " + std::to_string(n) +
            " previous members");
      } else {
        log("snapshot: no previous member answered the rejoin (" + error + ")");
      }
    });
  });
}

void Agent::start_member(const HandoverState* from) {
  config_.swim.name = config_.node_name;
  config_.swim.advertise = advertise_addr_;
  config_.swim.keyring = &keyring_;
  config_.serf.node_name = config_.node_name;
  config_.serf.tags = config_.tags;
  config_.serf.gossip_interval =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.swim.gossip_interval);
  if (from != nullptr && !from->keys.empty() && keyring_.enabled()) {
    // The predecessor's keys are the ones the cluster uses now: key queries may have rotated
    // them since our configuration was written.
    keyring_.keys = from->keys;
  }
  wire::Keyring on_disk;
  if (!config_.keyring_file.empty() && config_.persist_keyring && keyring_.enabled() &&
      !(load_keyring_file(config_.keyring_file, on_disk, nullptr) &&
        on_disk.keys == keyring_.keys)) {
    std::string err;
    if (!save_keyring_file(config_.keyring_file, keyring_, &err)) {
      update_status([&](AgentStatus& s) { s.error = err; });
    }
  }
  config_.serf.keyring = keyring_.enabled() ? &keyring_ : nullptr;
  config_.serf.keyring_changed = [this](const wire::Keyring& ring, std::string* err) {
    return config_.keyring_file.empty() || !config_.persist_keyring ||
           save_keyring_file(config_.keyring_file, ring, err);
  };

  serf_ = std::make_unique<serf::Serf>(config_.serf, table_, *timers_);
  memberlist_ = std::make_unique<swim::Memberlist>(config_.swim, *serf_, *transport_, *timers_);
  serf_->attach(memberlist_.get());
  serf_->set_event_handler([this](const serf::UserEvent& e) {
    record_clocks();
    if (user_event_handler_) user_event_handler_(e);
  });
  serf_->set_conflict_lost_handler([this](const std::string& why) {
    // Not from inside serf's timer: stopping cancels timers.
    post([this, why] {
      if (status().phase != AgentPhase::kRunning) return;
      set_phase(AgentPhase::kFailed, why);
      if (config_.on_stopped) config_.on_stopped(why);
      shut_loop();
    });
  });
  if (query_handler_) {  // set before start(); without one, queries count as unhandled
    serf_->set_query_handler([this](const serf::Query& q) { query_handler_(q); });
  }
  transport_->set_handlers(
      [this](const swim::Address& from_addr, std::span<const std::uint8_t> data) {
        timers_->set_now(swim::Clock::now());
        // A compound datagram's changes are published as one table version.
        table_.batch([&] { memberlist_->handle_packet(from_addr, data); });
      },
      [this](const swim::Address& from_addr, const wire::StreamMessage& msg) {
        timers_->set_now(swim::Clock::now());
        return memberlist_->handle_stream(from_addr, msg);
      },
      [this] { pump(); });
  timers_->set_now(swim::Clock::now());
  start_snapshot(from != nullptr);
  if (from) {
    serf_->import_state(from->serf);
    memberlist_->import_state(from->memberlist);
  }
  memberlist_->start();  // after an import: our predecessor's incarnation + 1
  if (snapshot_ && from) {
    // The file now holds exactly the members we took over.
    record_clocks();
    snapshot_->compact();
  }
  pump();
}

// ---------------------------------------------------------------------------------------
// handover

bool Agent::take_over() {
  HandoverRequest req;
  req.node = config_.node_name;
  req.advertise = swim::to_string(advertise_addr_);
  req.pid = ::getpid();
  req.ppid = ::getppid();
  Takeover t = net::take_over(handover_socket_name(bind_addr_), req, config_.handover_timeout);
  switch (t.outcome) {
    case Takeover::Outcome::kNoPredecessor:
      return false;
    case Takeover::Outcome::kRefused:
    case Takeover::Outcome::kFailed: {
      const std::string why =
          "predecessor pid " + std::to_string(t.from_pid) + " did not hand over: " + t.message;
      update_status([&](AgentStatus& s) { s.error = why; });
      return false;
    }
    case Takeover::Outcome::kTaken:
      break;
  }
  // Ready: the predecessor commits (and stops) or resumes; only a commit lets us touch its
  // sockets, so the two of us never serve them at once.
  const int conn = t.conn_fd;
  t.conn_fd = -1;
  if (!commit_takeover(conn, config_.handover_timeout)) {
    t.close_fds();
    update_status([&](AgentStatus& s) {
      s.error = "predecessor pid " + std::to_string(t.from_pid) + " did not commit the handover";
    });
    return false;
  }
  std::string err;
  const int listener = t.listener_fd;
  t.listener_fd = -1;
  const bool adopted = transport_->adopt(t.udp_fd, t.tcp_fd, &err);  // owns them now
  t.udp_fd = t.tcp_fd = -1;
  if (!adopted) {
    // The predecessor is gone: with the sockets closed, binding afresh works.
    transport_->close();
    ::close(listener);
    update_status(
        [&](AgentStatus& s) { s.error = "could not adopt the predecessor's sockets: " + err; });
    return false;
  }
  port_ = transport_->bound_port();
  if (config_.advertise.empty() || advertise_addr_.port == 0) advertise_addr_.port = port_;
  start_member(&t.state);
  make_handover_server();
  if (!handover_->adopt(listener, &err)) listen_for_successor();
  update_status([&](AgentStatus& s) {
    s.took_over_from = t.from_pid;
    s.join_done = true;
    s.error.clear();
  });
  set_phase(AgentPhase::kRunning);
  return true;
}

void Agent::make_handover_server() {
  HandoverServer::Callbacks callbacks;
  callbacks.offer = [this](const HandoverRequest& r, HandoverServer::Offer& o, std::string& why) {
    return offer_handover(r, o, why);
  };
  callbacks.completed = [this](pid_t to) { finish_handover(to); };
  callbacks.aborted = [this](const HandoverServer::Offer& o, const std::string& why) {
    abort_handover(o, why);
  };
  callbacks.app_state = config_.app_state;
  handover_ = std::make_unique<HandoverServer>(&loop_, config_.handover, config_.handover_timeout,
                                               std::move(callbacks));
}

void Agent::listen_for_successor() {
  if (!handover_) make_handover_server();
  std::string err;
  if (handover_->listen(handover_socket_name(bind_addr_), &err)) return;
  // Someone (a predecessor on its way out) still holds the name: try again shortly.
  handover_retry_ = timers_->schedule(std::chrono::seconds(1), [this] {
    handover_retry_ = 0;
    if (status().phase == AgentPhase::kRunning && handover_ && !handover_->listening()) {
      listen_for_successor();
    }
  });
}

bool Agent::offer_handover(const HandoverRequest& req, HandoverServer::Offer& offer,
                           std::string& refusal) {
  if (status().phase != AgentPhase::kRunning || !memberlist_) {
    refusal = "not a running member (" + std::string(to_string(status().phase)) + ")";
    return false;
  }
  if (req.node != config_.node_name) {
    refusal = "node name '" + req.node + "' is not ours ('" + config_.node_name + "')";
    return false;
  }
  if (req.advertise != swim::to_string(advertise_addr_)) {
    refusal = "advertise address " + req.advertise + " is not ours (" +
              swim::to_string(advertise_addr_) + ")";
    return false;
  }
  // Nothing else runs on this loop until we return: the state exported here is the state the
  // successor continues from (packets wait in the sockets' buffers).
  memberlist_->pause();
  try {
    offer.state = encode_handover_state(
        HandoverState{memberlist_->export_state(), serf_->export_state(), keyring_.keys});
  } catch (const std::exception& e) {  // out of memory: stay the member
    memberlist_->resume();
    refusal = std::string("cannot export our state: ") + e.what();
    return false;
  }
  std::string err;
  if (!transport_->suspend(offer.udp_fd, offer.tcp_fd, &err)) {
    memberlist_->resume();
    offer.state.clear();
    refusal = "cannot hand the sockets over: " + err;
    return false;
  }
  set_phase(AgentPhase::kHandingOver);
  if (snapshot_) snapshot_->hold();  // the successor appends to the file from now on
  return true;
}

void Agent::finish_handover(pid_t successor) {
  update_status([&](AgentStatus& s) { s.handed_over_to = successor; });
  if (snapshot_) snapshot_->abandon();
  set_phase(AgentPhase::kHandedOver);
  shut_loop();
}

void Agent::abort_handover(const HandoverServer::Offer& offer, const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    if (closing_) return;  // we are stopping anyway: nothing to resume
  }
  if (snapshot_) snapshot_->resume();
  std::string err;
  if (!transport_->resume(offer.udp_fd, offer.tcp_fd, &err)) {
    // Without our sockets we are no member: say so loudly rather than pretend.
    set_phase(AgentPhase::kFailed,
              "handover failed (" + why + ") and the sockets are lost: " + err);
    shut_loop();
    return;
  }
  memberlist_->resume();
  update_status([&](AgentStatus& s) { s.error = "handover failed, still the member: " + why; });
  set_phase(AgentPhase::kRunning);
}

// ---------------------------------------------------------------------------------------
// loop

void Agent::shut_loop() {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    if (closing_) return;
    closing_ = true;
    posted_.clear();
  }
  if (handover_retry_ != 0) timers_->cancel(handover_retry_);
  if (retry_join_timer_ != 0) timers_->cancel(retry_join_timer_);
  if (snapshot_timer_ != 0) timers_->cancel(snapshot_timer_);
  snapshot_timer_ = 0;
  record_clocks();  // serf: the clock is snapshotted at shutdown
  if (memberlist_) memberlist_->shutdown();
  if (handover_) handover_->close();
  if (transport_) transport_->close();
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void Agent::pump() {
  if (!timers_) return;
  timers_->set_now(swim::Clock::now());
  timers_->run_due();
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    if (closing_) return;
  }
  const auto next = timers_->next_deadline();
  if (next != swim::TimePoint::max()) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - timers_->now());
    // Round up: waking a millisecond early would spin until the deadline.
    const auto ms = std::max<std::int64_t>(wait.count() + 1, 1);
    uv_timer_start(
        &timer_, [](uv_timer_t* t) { static_cast<Agent*>(t->data)->pump(); },
        static_cast<std::uint64_t>(ms), 0);
  }
  const auto now = timers_->now();
  if (memberlist_ && now - last_stats_ >= std::chrono::milliseconds(100)) {
    last_stats_ = now;
    AgentStats s;
    s.memberlist = memberlist_->stats();
    s.serf = serf_->stats();
    s.transport = transport_->stats();
    s.awareness = memberlist_->awareness();
    s.members = memberlist_->num_members();
    if (snapshot_) s.snapshot = snapshot_->stats();
    s.clocks.member = serf_->clock();
    s.clocks.event = serf_->event_clock();
    s.clocks.query = serf_->query_clock();
    s.queues.intents = serf_->queued_intents();
    s.queues.events = serf_->queued_events();
    s.queues.queries = serf_->queued_queries();
    s.encrypted = keyring_.enabled();
    std::shared_ptr<const RttMap> rtts;
    const auto read_at = rtt_read_at_.load(std::memory_order_relaxed);
    const bool read_lately =
        read_at != 0 && std::chrono::steady_clock::now().time_since_epoch().count() - read_at <
                            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::seconds(30))
                                .count();
    if (read_lately && now - last_rtt_refresh_ >= std::chrono::seconds(1)) {
      last_rtt_refresh_ = now;
      rtts = std::make_shared<const RttMap>(serf_->rtt_estimates());
    }
    {
      std::lock_guard<std::mutex> lock(stats_mutex_);
      stats_ = std::move(s);
      if (rtts) rtt_estimates_ = std::move(rtts);
    }
    if (handover_) {
      const auto refused = handover_->refused();
      update_status([&](AgentStatus& st) { st.handovers_refused = refused; });
    }
  }
}

std::shared_ptr<const Agent::RttMap> Agent::rtt_estimates() const {
  rtt_read_at_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                     std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return rtt_estimates_;
}

AgentStats Agent::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_;
}

std::optional<coord::Coordinate> Agent::coordinate(const std::string& node,
                                                   std::chrono::milliseconds timeout) const {
  if (std::this_thread::get_id() == thread_.get_id()) {
    return serf_ ? serf_->coordinate(node) : std::nullopt;
  }
  auto promise = std::make_shared<std::promise<std::optional<coord::Coordinate>>>();
  auto future = promise->get_future();
  // post() only queues under its own lock; it is non-const because it is also the loop's input.
  const_cast<Agent*>(this)->post([this, node, promise] {
    promise->set_value(serf_ ? serf_->coordinate(node) : std::nullopt);
  });
  // Work post() dropped (the loop is closing) took the last reference with it: the promise is
  // broken, the future ready at once and get() throws.
  promise.reset();
  if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  try {
    return future.get();
  } catch (const std::future_error&) {
    return std::nullopt;
  }
}

void Agent::post(std::function<void()> fn) {
  // Under the lock: the loop closes async_ only after setting closing_ under it too.
  std::lock_guard<std::mutex> lock(posted_mutex_);
  if (!loop_initialized_ || closing_) return;
  posted_.push_back(std::move(fn));
  uv_async_send(&async_);
}

void Agent::run_posted() {
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    tasks.swap(posted_);
  }
  timers_->set_now(swim::Clock::now());
  for (auto& t : tasks) t();
  pump();
}

// ---------------------------------------------------------------------------------------
// actions

void Agent::respond(const serf::Query& query, std::string payload,
                    std::function<void(bool, const std::string&)> done) {
  post([this, query, payload = std::move(payload), done = std::move(done)] {
    std::string err = "not running";
    bool ok = false;
    if (serf_ && status().phase == AgentPhase::kRunning) {
      ok = serf_->respond(query, wire::Bytes(payload.begin(), payload.end()), &err);
    }
    if (done) done(ok, ok ? std::string() : err);
  });
}

void Agent::query(std::string name, std::string payload, serf::QueryParams params,
                  serf::QueryCallbacks callbacks,
                  std::function<void(bool, const std::string&)> started) {
  post([this, name = std::move(name), payload = std::move(payload), params = std::move(params),
        callbacks = std::move(callbacks), started = std::move(started)]() mutable {
    std::string err = "not running";
    bool ok = false;
    if (serf_ && status().phase == AgentPhase::kRunning) {
      ok = serf_->query(name, wire::Bytes(payload.begin(), payload.end()), params,
                        std::move(callbacks), &err);
    }
    if (started) started(ok, ok ? std::string() : err);
  });
}

void Agent::join(const std::vector<std::string>& seeds,
                 std::function<void(int, const std::string&)> done) {
  std::vector<swim::Address> addrs;
  std::string errors;
  for (const auto& s : seeds) {
    swim::Address a;
    std::string e;
    if (swim::parse_address(s, 7946, a, &e)) {
      addrs.push_back(a);
    } else {
      errors += (errors.empty() ? "" : "; ") + e;
    }
  }
  if (addrs.empty()) {
    if (done) done(0, errors.empty() ? "no address to join" : errors);
    return;
  }
  post([this, addrs, errors, done = std::move(done)] {
    if (!memberlist_ || status().phase != AgentPhase::kRunning) {
      if (done) done(0, "not running");
      return;
    }
    serf_->begin_join();
    memberlist_->join(addrs, [this, errors, done](int joined, const std::string& error) {
      serf_->end_join(joined > 0);
      if (done) {
        std::string all = errors;
        if (!error.empty()) all += (all.empty() ? "" : "; ") + error;
        done(joined, all);
      }
    });
  });
}

void Agent::leave(std::function<void()> done) {
  post([this, done = std::move(done)] {
    if (!memberlist_ || status().phase != AgentPhase::kRunning) {
      if (done) done();
      return;
    }
    set_phase(AgentPhase::kLeaving);
    if (snapshot_) {  // serf: a later start does not rejoin (unless `rejoin`)
      record_clocks();
      snapshot_->leave();
    }
    auto finish_memberlist = [this, done] {
      memberlist_->leave(config_.serf.broadcast_timeout, [this, done] {
        serf_->mark_left();
        // Keep answering probes a moment so peers learn of the leave (LeavePropagateDelay),
        // then release the address (a successor may bind it).
        timers_->schedule(config_.serf.leave_propagate_delay, [this, done] {
          set_phase(AgentPhase::kLeft);
          if (done) done();
          shut_loop();
        });
      });
    };
    if (!serf_->leave(finish_memberlist)) finish_memberlist();
  });
}

void Agent::force_leave(const std::string& node, bool prune,
                        std::function<void(const std::string&)> done) {
  post([this, node, prune, done = std::move(done)] {
    if (!serf_ || status().phase != AgentPhase::kRunning) {
      if (done) done("not running");
      return;
    }
    serf_->force_leave(node, prune, done);
  });
}

bool Agent::set_tags(table::Tags tags, std::string* err) {
  // Validate size here so the caller gets the error; the change itself runs on the loop.
  const auto meta = wire::encode_tags(tags);
  if (meta.size() > config_.serf.meta_size_limit) {
    if (err) {
      *err = "encoded tags are " + std::to_string(meta.size()) + " bytes, more than " +
             std::to_string(config_.serf.meta_size_limit);
    }
    return false;
  }
  post([this, tags = std::move(tags)] {
    if (serf_ && status().phase == AgentPhase::kRunning) serf_->set_tags(tags);
  });
  return true;
}

bool Agent::user_event(const std::string& name, const std::string& payload, bool coalesce,
                       std::string* err) {
  if (name.empty()) {
    if (err) *err = "event name is empty";
    return false;
  }
  if (has_control_char(name)) {  // a metric key and a log line at every serf agent
    if (err) *err = "event name has a control character";
    return false;
  }
  if (name.size() + payload.size() > config_.serf.user_event_size_limit) {
    if (err) {
      *err = "event name + payload is " + std::to_string(name.size() + payload.size()) +
             " bytes, more than " + std::to_string(config_.serf.user_event_size_limit);
    }
    return false;
  }
  post([this, name, payload, coalesce] {
    if (!serf_ || status().phase != AgentPhase::kRunning) return;
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(payload.data()),
                                              payload.size());
    serf_->user_event(name, bytes, coalesce);
  });
  return true;
}

int Agent::join_sync(const std::vector<std::string>& seeds, std::chrono::milliseconds timeout,
                     std::string* err) {
  auto promise = std::make_shared<std::promise<std::pair<int, std::string>>>();
  auto future = promise->get_future();
  join(seeds, [promise](int joined, const std::string& error) {
    promise->set_value({joined, error});
  });
  if (future.wait_for(timeout) != std::future_status::ready) {
    if (err) *err = "join timed out";
    return 0;
  }
  auto [joined, error] = future.get();
  if (err) *err = error;
  return joined;
}

bool Agent::leave_sync(std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<void>>();
  auto future = promise->get_future();
  leave([promise] { promise->set_value(); });
  return future.wait_for(timeout) == std::future_status::ready;
}

void Agent::stop() {
  if (!loop_initialized_) return;
  post([this] {
    set_phase(AgentPhase::kStopped);
    shut_loop();
  });
  if (thread_.joinable()) thread_.join();
  if (snapshot_subscription_ != 0) table_.unsubscribe(snapshot_subscription_);
  snapshot_subscription_ = 0;
  if (snapshot_) snapshot_->close();  // the last records, the clocks, fsync; joins its thread
  snapshot_.reset();
  {
    const auto phase = status().phase;
    if (phase == AgentPhase::kRunning || phase == AgentPhase::kStarting ||
        phase == AgentPhase::kLeaving || phase == AgentPhase::kHandingOver) {
      set_phase(AgentPhase::kStopped);
    }
  }
  handover_.reset();
  memberlist_.reset();
  serf_.reset();
  transport_.reset();
  timers_.reset();
  uv_loop_close(&loop_);
  loop_initialized_ = false;
}

}  // namespace haserf::net
