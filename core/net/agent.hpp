// Door of the net room: a Serf member running on its own libuv loop thread.
//
// The Agent owns the loop, the UDP/TCP transport, memberlist (core/swim) and serf
// (core/serf); it feeds a MembershipTable that other threads read through snapshots. Public
// methods are thread-safe and never block, except the *_sync helpers meant for CLIs (and
// stop(), bounded). Callbacks run on the loop thread: keep them short.
#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/serf/serf.hpp"
#include "core/swim/swim.hpp"
#include "core/table/membership_table.hpp"

namespace haserf::net {

struct AgentConfig {
  std::string node_name;           // default: host name
  std::string bind = "0.0.0.0:7946";
  std::string advertise;           // ip[:port]; default: the bind address (required if 0.0.0.0)
  table::Tags tags;
  std::string encrypt_key;         // base64 AES key (16/24/32 bytes), like serf agent -encrypt
  std::string profile = "lan";     // lan | wan | local: memberlist timings (§6.1)
  swim::Config swim;               // timings; name/advertise/keyring are filled by start()
  serf::Config serf;               // name/tags are filled by start()
  bool tweak_swim = false;         // true: use `swim` timings as given instead of the profile
};

struct AgentStats {
  swim::MemberlistStats memberlist;
  serf::Stats serf;
  std::uint64_t udp_send_errors = 0;
  std::uint64_t tcp_accepted = 0;
  std::uint64_t tcp_errors = 0;
  int awareness = 0;
  std::size_t members = 0;
};

class Agent {
 public:
  using UserEventHandler = std::function<void(const serf::UserEvent&)>;

  Agent(AgentConfig config, table::MembershipTable& table);
  ~Agent();  // stop()
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Binds UDP+TCP and starts the loop thread. False with a one-line reason on failure.
  bool start(std::string* err);
  bool running() const { return running_; }
  // The port actually bound (useful with port 0).
  std::uint16_t port() const { return port_; }
  const std::string& node_name() const { return config_.node_name; }

  // Push/pull join with each seed ("ip:port"; port defaults to 7946). `done(joined, error)`
  // runs on the loop thread.
  void join(const std::vector<std::string>& seeds,
            std::function<void(int joined, const std::string& error)> done = {});
  // Graceful leave (§7.8): leave intent, then dead{From: self}, then a short propagation
  // delay. `done` runs on the loop thread.
  void leave(std::function<void()> done = {});
  bool set_tags(table::Tags tags, std::string* err = nullptr);
  bool user_event(const std::string& name, const std::string& payload, bool coalesce,
                  std::string* err = nullptr);
  // Handlers are set before start() (they are read on the loop thread).
  void on_user_event(UserEventHandler handler) { user_event_handler_ = std::move(handler); }

  // Blocking variants for command-line tools. Return false on timeout.
  int join_sync(const std::vector<std::string>& seeds, std::chrono::milliseconds timeout,
                std::string* err);
  bool leave_sync(std::chrono::milliseconds timeout);

  // Stops the loop (no leave: call leave first for a graceful exit) and joins the thread.
  void stop();

  // A copy of the counters, refreshed by the loop at most every 100 ms. Never blocks on it.
  AgentStats stats() const;

  // Runs `fn` on the loop thread (thread-safe).
  void post(std::function<void()> fn);

 private:
  class LoopScheduler;
  void pump();  // run due timers, re-arm the loop timer, refresh stats
  void run_posted();

  AgentConfig config_;
  table::MembershipTable& table_;
  UserEventHandler user_event_handler_;

  uv_loop_t loop_{};
  uv_async_t async_{};
  uv_timer_t timer_{};
  bool loop_initialized_ = false;
  std::unique_ptr<swim::TimerQueue> timers_;
  std::unique_ptr<class UvTransport> transport_;
  std::unique_ptr<serf::Serf> serf_;
  std::unique_ptr<swim::Memberlist> memberlist_;
  wire::Keyring keyring_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::uint16_t port_ = 0;

  std::mutex posted_mutex_;
  std::deque<std::function<void()>> posted_;

  mutable std::mutex stats_mutex_;
  AgentStats stats_;
  swim::TimePoint last_stats_{};
};

// Host name of this machine (default node name).
std::string default_node_name();

}  // namespace haserf::net
