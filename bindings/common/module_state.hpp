// The process-wide member behind the embedding APIs (Lua module, C API): one Agent per
// process, a bounded queue of user events, and a worker thread for render/check/reload jobs.
//
// Every method is thread-safe and non-blocking (it copies a snapshot, pops a queue, or hands
// work to a thread), because callers run inside HAProxy's event loop.
//
// Fork safety: HAProxy loads the module in its master and forks workers. A process whose pid
// differs from the one that created the state gets a fresh state; the parent's (whose threads
// do not exist here) is abandoned, never touched.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/net/agent.hpp"
#include "core/render/render.hpp"
#include "core/table/table.hpp"

namespace haserf::bindings {

struct StartOptions {
  std::string bind;
  std::string advertise;
  std::vector<std::string> join;
  std::string node;
  std::map<std::string, std::string> tags;
  std::string encrypt;
  std::string profile = "lan";
};

struct ReloadJob {
  std::string template_path;
  std::string out;
  std::string check;
  std::string reload;
  std::map<std::string, std::string> vars;
};

struct ReloadStatus {
  std::string state = "idle";  // idle | running | ok | unchanged | failed
  std::string message;
  std::uint64_t ok = 0, failed = 0, unchanged = 0;
  std::uint64_t last_version = 0;
};

struct Counters {
  bool started = false;
  std::map<std::string, long long> numbers;
  std::map<std::string, std::string> strings;
};

class ModuleState {
 public:
  // The state of this process (created on first use, recreated after a fork).
  static ModuleState& get();

  bool start(const StartOptions& options, std::string& error);
  bool started() const;
  std::string node_name() const;
  table::SnapshotPtr snapshot() const;  // null before the first start
  std::string members_json() const;

  std::vector<serf::UserEvent> drain_events(std::size_t max);
  bool user_event(const std::string& name, const std::string& payload, bool coalesce,
                  std::string& error);
  bool set_tags(std::map<std::string, std::string> tags, std::string& error);
  render::RenderResult render(std::string_view template_text,
                              const std::map<std::string, std::string>& vars) const;

  bool reload(ReloadJob job, std::string& error);
  ReloadStatus reload_status() const;

  Counters stats() const;
  // Graceful leave, asynchronous. Once the leave has gone out, the member stops and releases
  // its address (so a new HAProxy worker can bind it while the old one drains).
  void leave();
  void stop();  // immediate, asynchronous
  // "none", "leaving" or "left".
  std::string leave_state() const;
  // At process exit: leave if still a member, and wait (at most `bound`) for the leave to go
  // out, so peers see "left" rather than "failed" when HAProxy stops.
  void leave_at_exit(std::chrono::milliseconds bound);

  static constexpr std::size_t kMaxQueuedEvents = 1000;

 private:
  ModuleState() = default;
  // Hands an agent to a short-lived thread that stops it, so callers never wait for a join.
  static void retire(std::shared_ptr<net::Agent> agent,
                     std::shared_ptr<table::MembershipTable> table);
  void leave_locked();
  void reload_worker();

  pid_t pid_ = 0;
  mutable std::mutex mutex_;  // agent lifecycle fields below
  std::shared_ptr<table::MembershipTable> table_;
  std::shared_ptr<net::Agent> agent_;
  std::string node_;
  std::string leave_state_ = "none";
  std::condition_variable left_;
  bool exit_hook_registered_ = false;
  std::shared_ptr<std::atomic<int>> joined_;
  std::shared_ptr<std::string> join_error_;  // guarded by mutex_
  std::uint64_t starts_ = 0;

  mutable std::mutex events_mutex_;
  std::deque<serf::UserEvent> events_;
  std::uint64_t events_received_ = 0;
  std::uint64_t events_dropped_ = 0;

  mutable std::mutex reload_mutex_;
  std::condition_variable reload_wake_;
  std::optional<ReloadJob> pending_reload_;
  ReloadStatus reload_status_;
  bool reload_thread_started_ = false;
};

}  // namespace haserf::bindings
