// SPDX-License-Identifier: MIT
// The process-wide member behind the embedding APIs (Lua module, C API): one Agent per
// process, a bounded queue of user events, and background threads for the member's own
// lifecycle work and for render/check/reload jobs.
//
// Every method is thread-safe and non-blocking (it copies a snapshot, pops a queue, or hands
// work to a thread), because callers run inside HAProxy's event loop — except shutdown(),
// which the process calls on its way out.
//
// Threads: the agent's loop thread, the janitor (stops retired agents, runs the soft-stop
// decision) and the reload worker. All three are owned here and joined by shutdown(), which
// runs when the last Lua state holding the module closes (HAProxy's deinit, the interpreter's
// exit) or, failing that, from an atexit handler. The module is linked with -z nodelete, so
// its code stays mapped even after Lua's dlclose.
//
// Fork safety: HAProxy loads the module in its master and forks workers. A process whose pid
// differs from the one that created the state gets a fresh state; the parent's (whose threads
// do not exist here) is abandoned, never touched.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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
  // serf's keyring file: keys at start, rewritten when key queries change them.
  std::string keyring_file;
  // serf's -snapshot file (net::AgentConfig::snapshot_path): a cold start after a crash
  // rejoins the members it lists; a takeover (reload) neither replays nor rejoins it.
  std::string snapshot_file;
  std::string profile = "lan";
  // Take over from a predecessor process on the same address, and let a successor take over
  // from us ("off", "sibling", "same-user"; core/net/handover.hpp).
  std::string handover = "off";
  // How long a stopping member waits for a successor to take over before it leaves.
  std::chrono::milliseconds handover_wait{10000};
  // When > 0 and nobody in `join` answers, join them again this often until one does (serf's
  // -retry-join). 0: join once.
  std::chrono::milliseconds join_retry{0};
  // Which members may be routed and rendered (core/table/member_policy.hpp).
  table::MemberPolicy policy;
  // Sources that may reach the gossip port (CIDRs; net::AgentConfig::allow_sources). Empty: all.
  std::vector<std::string> allow;
};

// An application query that reached us, waiting for respond() (until its deadline).
struct IncomingQuery {
  std::uint64_t id = 0;  // ours, for respond()
  serf::Query query;
};

// A query we sent (query() or keys()), as far as its answers came.
struct QueryResult {
  bool done = false;  // the timeout passed (or, for keys, every member answered)
  std::string error;  // the query could not be sent
  std::vector<std::string> acks;
  std::vector<std::pair<std::string, std::string>> responses;  // (node, payload), arrival order
  std::optional<serf::KeyOp> key_op;  // keys(): the answers, added up as serf does
  serf::KeyResult keys;
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
  // For operators and the metrics: when the running (or last) job started, when the last one
  // finished (Unix seconds, 0 = never) and how long it took (seconds, render to reload).
  double started_at = 0, finished_at = 0, duration = 0;
  std::string last_result;  // the last finished job's state ("" = none yet)
};

struct Counters {
  bool started = false;
  std::map<std::string, long long> numbers;
  std::map<std::string, std::string> strings;
};

// The member's life as the embedding APIs report it.
struct MemberStatus {
  std::string phase = "idle";  // net::AgentPhase names: idle, starting, running, leaving, ...
  std::string error;
  pid_t took_over_from = 0;
  pid_t handed_over_to = 0;
  int joined = -1;
  bool join_done = false;
  std::string warning;  // net::AgentStatus::warning: a risk worth a loud log line
};

class ModuleState {
 public:
  // The state of this process (created on first use, recreated after a fork).
  static ModuleState& get();
  // The state of this process if one was created, else nullptr (never creates one).
  static ModuleState* current();

  // Starts a member (asynchronously when handover is on: see status()). False with a reason
  // for invalid options, an address in use (handover off), or while shutting down.
  // Idempotent while a member starts or runs.
  bool start(const StartOptions& options, std::string& error);
  // What start() would refuse, without starting anything (for `haproxy -c`).
  static bool check(const StartOptions& options, std::string& error);
  bool started() const;  // a running member
  MemberStatus status() const;
  std::string node_name() const;
  table::SnapshotPtr snapshot() const;  // null before the first start
  std::string members_json() const;
  // The members `filter` selects, printed as members_json() prints them, and how many
  // matched (before its offset and limit) of how many in all: one snapshot for the three.
  std::string members_json(const table::MemberFilter& filter, std::size_t& matching,
                           std::size_t& total) const;
  // Estimated round trip times from us to the members (net::Agent::rtt_estimates); null
  // before the first start.
  std::shared_ptr<const net::Agent::RttMap> rtt_estimates() const;

  std::vector<serf::UserEvent> drain_events(std::size_t max);
  bool user_event(const std::string& name, const std::string& payload, bool coalesce,
                  std::string& error);
  bool set_tags(std::map<std::string, std::string> tags, std::string& error);

  // Application queries (never `_serf_*`) that reached us, oldest first; at most
  // kMaxQueuedQueries wait (older ones are dropped and counted).
  std::vector<IncomingQuery> drain_queries(std::size_t max);
  // Answers a drained query (once, before its deadline; serf's size limit). The send is
  // asynchronous: refusals found on the loop (late, too large) are counted in stats().
  bool respond(std::uint64_t id, const std::string& payload, std::string& error);
  // Sends a query; its answers collect in query_result(id). At most kMaxOpenQueries at once.
  std::optional<std::uint64_t> query(const std::string& name, const std::string& payload,
                                     const serf::QueryParams& params, std::string& error);
  // serf keys' install/use/remove/list through our own key queries (key: base64).
  std::optional<std::uint64_t> keys(serf::KeyOp op, const std::string& key, std::string& error);
  // A copy of what came back so far; nullopt for an unknown (or forgotten) id. A finished
  // query is forgotten once read, or 60 s after it finished.
  std::optional<QueryResult> query_result(std::uint64_t id);
  static constexpr std::size_t kMaxQueuedQueries = 256;
  static constexpr std::size_t kMaxOpenQueries = 64;
  render::RenderResult render(std::string_view template_text,
                              const std::map<std::string, std::string>& vars) const;

  bool reload(ReloadJob job, std::string& error);
  ReloadStatus reload_status() const;

  Counters stats() const;
  // Graceful leave, asynchronous. Once the leave has gone out, the member releases its
  // address (a new HAProxy worker can bind it while the old one drains).
  void leave();
  void stop();  // immediate, asynchronous, no leave
  // The host is stopping (HAProxy's soft-stop). If a successor is starting (a reload: a newer
  // sibling process exists, or /proc cannot tell), wait up to the handover wait for it to take
  // over; otherwise, or when it does not come, leave. Asynchronous; once per process.
  void soft_stop();
  // Process exit: what soft_stop() does, bounded, then every thread joined. Idempotent.
  void shutdown();

  // The embedding application's own state, handed to whoever peeks: the next HAProxy master
  // reads the glue's slot table this way before it forks the worker that takes over.
  void set_app_state(std::string state);
  // Blocking, at most `timeout`: the app state of the member bound to `bind` in another
  // process of ours. For HAProxy's register_init (init may block); nullopt with a reason.
  static std::optional<std::string> predecessor_state(const std::string& bind,
                                                      std::chrono::milliseconds timeout,
                                                      std::string& error);

  static constexpr std::size_t kMaxQueuedEvents = 1000;

 private:
  ModuleState() = default;
  void retire(std::shared_ptr<net::Agent> agent, std::shared_ptr<table::MembershipTable> table);
  void stop_or_hand_over(const std::shared_ptr<net::Agent>& agent, std::chrono::milliseconds wait);
  void run_reload(ReloadJob job);
  std::optional<std::uint64_t> send_query(const std::string& name, const std::string& payload,
                                          const serf::QueryParams& params,
                                          std::shared_ptr<QueryResult> result, std::string& error);

  pid_t pid_ = 0;
  mutable std::mutex mutex_;  // agent lifecycle fields below
  std::shared_ptr<table::MembershipTable> table_;
  std::shared_ptr<net::Agent> agent_;
  StartOptions options_;
  std::string node_;
  std::uint64_t starts_ = 0;
  bool exit_hook_registered_ = false;
  bool soft_stop_requested_ = false;
  std::atomic<bool> shut_down_{false};

  mutable std::mutex events_mutex_;
  std::deque<serf::UserEvent> events_;
  std::uint64_t events_received_ = 0;
  std::uint64_t events_dropped_ = 0;

  mutable std::mutex queries_mutex_;
  std::deque<IncomingQuery> incoming_;                   // not drained yet
  std::map<std::uint64_t, serf::Query> awaiting_reply_;  // drained, not answered, not expired
  struct Outgoing {
    std::shared_ptr<QueryResult> result;
    std::chrono::steady_clock::time_point finished{};
    // Past this, a query never reported done (its member was retired or stopped meanwhile)
    // is done with an error: it must not hold a slot of kMaxOpenQueries for ever.
    std::chrono::steady_clock::time_point deadline{};
  };
  void expire(Outgoing& o, std::chrono::steady_clock::time_point now);  // queries_mutex_ held
  std::map<std::uint64_t, Outgoing> outgoing_;
  std::uint64_t next_query_id_ = 0;
  std::uint64_t queries_received_ = 0, queries_dropped_ = 0, responses_refused_ = 0;

  mutable std::mutex app_state_mutex_;
  std::string app_state_;

  mutable std::mutex reload_mutex_;
  ReloadStatus reload_status_;
  std::atomic<bool> cancel_commands_{false};

  // Declared last: destroyed (joined) first. Never actually destroyed: see get().
  net::JobThread janitor_{"haserf-janitor"};
  net::JobThread reload_worker_{"haserf-reload"};
};

// Whether a successor of this process has announced itself: HAProxy starts a reload by
// re-executing its master with `-sf <old worker pids>` (or a standalone process with `-sf`/
// `-st`), before the old workers are told to stop. True when our pid is in such a list;
// nullopt when /proc cannot tell.
std::optional<bool> successor_announced();

// Names of the environment variables starting with `prefix` (the glue warns about unknown
// HASERF_* names; Lua cannot list the environment).
std::vector<std::string> env_names(std::string_view prefix);

// The configuration files this process was started with (`-f FILE|DIR`, in the order HAProxy
// reads them: a directory's *.cfg files sorted), from /proc/self/cmdline. Empty if unknown.
std::vector<std::string> host_config_files();

// Opens /proc once (O_CLOEXEC) so that a later chroot (HAProxy's `chroot`) still lets
// successor_announced() read it; forked workers inherit the descriptor. Called from
// luaopen_haserf and haserf_start; cheap and idempotent.
void keep_proc_open();

}  // namespace haserf::bindings
