// SPDX-License-Identifier: MIT
// Door of the net room: a Serf member running on its own libuv loop thread.
//
// The Agent owns the loop, the UDP/TCP transport, memberlist (core/swim) and serf
// (core/serf); it feeds a MembershipTable that other threads read through snapshots. Public
// methods are thread-safe and never block, except the *_sync helpers meant for CLIs and
// stop() (bounded: it joins the loop thread). Callbacks run on the loop thread: keep them
// short.
//
// Ownership rules of this room:
// - The Agent owns its loop thread (started in start(), joined in stop(); never detached) and
//   every libuv handle on the loop; a handle's memory is released in its close callback, and
//   the loop is closed only after uv_run() returned with every handle closed.
// - Other threads talk to the loop only through post() (a queue + uv_async_send). Once the
//   loop is shutting down, post() drops the work instead of touching closed handles.
// - Sockets handed over by a predecessor belong to the transport from adopt() on.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/net/handover.hpp"
#include "core/net/snapshot.hpp"
#include "core/net/threads.hpp"
#include "core/net/uv_transport.hpp"
#include "core/serf/serf.hpp"
#include "core/swim/swim.hpp"
#include "core/table/membership_table.hpp"

namespace haserf::net {

struct AgentConfig {
  std::string node_name;  // default: host name
  std::string bind = "0.0.0.0:7946";
  std::string advertise;  // ip[:port]; default: the bind address (required if 0.0.0.0)
  table::Tags tags;
  std::string encrypt_key;  // base64 AES key (16/24/32 bytes), like serf agent -encrypt
  // serf's -keyring-file (core/net/keyring_file.hpp): when it exists, its keys are used and
  // encrypt_key only tells a first start what to write; rewritten after each key query.
  std::string keyring_file;
  // More keys (base64), added as secondaries when encryption is on (haserf keys: the key it is
  // about to install or make primary, so that it can read the answers encrypted with it).
  std::vector<std::string> extra_keys;
  // False: keyring_file is only read (short-lived members must not rewrite an agent's file).
  bool persist_keyring = true;
  std::string profile = "lan";  // lan | wan | local: memberlist timings (§6.1)
  swim::Config swim;            // timings; name/advertise/keyring are filled by start()
  serf::Config serf;            // name/tags are filled by start()
  bool tweak_swim = false;      // true: use `swim` timings as given instead of the profile
  // Seeds joined as soon as the member runs (not after taking over from a predecessor, which
  // already knows the cluster). The outcome is in AgentStatus.
  std::vector<std::string> join;
  // serf's -retry-join: joined as soon as the member runs (after a fresh start, not after a
  // takeover) and again every retry_interval until one of them answers. After retry_max
  // failed attempts (0: no limit) it gives up: status().retry_join_exhausted.
  std::vector<std::string> retry_join;
  std::chrono::milliseconds retry_interval{30000};
  int retry_max = 0;
  // serf's -snapshot (core/net/snapshot.hpp): members, clocks and our leave are appended to
  // this file (by a thread of its own, never the loop). At a fresh start (not after a
  // takeover, which carries all of that) the recorded clocks are witnessed, so that the
  // member never reuses its old Lamport times, and, unless the last run left gracefully, the
  // members it knew alive are joined again (status().rejoined). start() fails when the file
  // cannot be opened. Empty: none.
  std::string snapshot_path;
  // serf's -rejoin (RejoinAfterLeave): rejoin from the snapshot even after a graceful leave
  // (the `leave` record is ignored, and the clocks are kept). Without a snapshot: no effect.
  bool rejoin = false;
  // Lines about the snapshot worth a log line: skipped malformed lines (FILE:LINE), the
  // rejoin's outcome, write errors. From start()'s caller, the loop or the snapshot's writer
  // thread: keep it short and thread-safe.
  std::function<void(const std::string& line)> on_snapshot_log;
  // Called on the loop thread when the member stopped itself: it lost a name conflict
  // resolution (another node has our name and the cluster sides with it; serf quits then).
  // status() is kFailed with the reason.
  std::function<void(const std::string& why)> on_stopped;
  // Called on the loop thread after each retry-join attempt: keep it short.
  std::function<void(int attempt, int joined, const std::string& error)> on_retry_join;
  // Who may take this member over, and whether start() first tries to take over from a
  // predecessor bound to the same address (core/net/handover.hpp). kOff: start() binds
  // synchronously and reports an address in use at once.
  HandoverPolicy handover = HandoverPolicy::kOff;
  std::chrono::milliseconds handover_timeout{5000};
  // The embedding application's own state, given to whoever peeks (handover.hpp), also with
  // handover off. Called on the loop thread: must be quick and thread-safe.
  std::function<std::string()> app_state;
  // Sources that may reach the gossip port (CIDRs, core/net/source_filter.hpp): datagrams and
  // connections from elsewhere are dropped before decoding and counted (sources_refused).
  // Empty: every source (serf's behaviour).
  std::vector<std::string> allow_sources;
};

// Where a member is in its life.
enum class AgentPhase : std::uint8_t {
  kIdle,         // not started
  kStarting,     // the loop thread takes over or binds
  kRunning,      // a member of the cluster
  kLeaving,      // graceful leave in progress
  kLeft,         // left; sockets released
  kHandingOver,  // a successor is importing our state
  kHandedOver,   // a successor is the member now; sockets released, nothing left
  kFailed,       // could not start (see error)
  kStopped,      // stopped without leaving
};
std::string_view to_string(AgentPhase phase);

struct AgentStatus {
  AgentPhase phase = AgentPhase::kIdle;
  std::string error;         // kFailed: why; otherwise the last handover problem, if any
  pid_t took_over_from = 0;  // the predecessor whose identity we continue
  pid_t handed_over_to = 0;  // the successor that continues ours
  int joined = -1;           // seeds that answered; -1 while joining or when none
  bool join_done = false;    // the start-up join finished (or was not needed)
  std::string join_error;
  std::uint64_t handovers_refused = 0;
  std::string notice;  // set at start: worth a log line, not an error (see check_config)
  // Set at start: a risk worth a loud log line (gossip without a key on a non-loopback
  // address: anyone who can send it a packet can join, read and forge the membership).
  std::string warning;
  int retry_join_attempts = 0;
  bool retry_joined = false;          // a retry-join attempt reached a member
  bool retry_join_exhausted = false;  // retry_max attempts failed; no more attempts
  int rejoined = -1;  // snapshot members that answered the start-up rejoin; -1: none tried yet
};

struct AgentStats {
  swim::MemberlistStats memberlist;
  serf::Stats serf;
  // Sockets: floods, stalls, refused sources (core/net/uv_transport.hpp).
  TransportStats transport;
  int awareness = 0;
  std::size_t members = 0;
  SnapshotStats snapshot;  // zero without a snapshot file
  // serf's Lamport clocks and broadcast queues (serf info / RPC stats).
  struct {
    std::uint64_t member = 0, event = 0, query = 0;
  } clocks;
  struct {
    std::size_t intents = 0, events = 0, queries = 0;
  } queues;
  bool encrypted = false;
};

// haserf's own gossip counters (beside serf's), one list for every place that exports them:
// the module's stats() (and from there the metrics) and the RPC `stats` "haserf" section
// (`serf info`). A name, and how to read it from a stats() copy.
struct GossipCounter {
  const char* name;
  std::uint64_t (*read)(const AgentStats&);
};
std::span<const GossipCounter> gossip_counters();

class Agent {
 public:
  using UserEventHandler = std::function<void(const serf::UserEvent&)>;
  // Application queries (not serf's internal `_serf_*` ones), after the ack went out.
  using QueryHandler = std::function<void(const serf::Query&)>;

  Agent(AgentConfig config, table::MembershipTable& table);
  ~Agent();  // stop()
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Checks the configuration and starts the loop thread. With handover off it binds UDP+TCP
  // first and returns false with a one-line reason when that fails. With handover on it
  // returns at once; the loop thread takes over from a predecessor or binds, and status()
  // tells how that went (kRunning or kFailed). When no thread can start, everything is
  // closed again (kFailed) and start_thread's std::system_error is rethrown.
  bool start(std::string* err);
  bool running() const { return running_; }
  AgentStatus status() const;
  // Waits (at most `timeout`) until `pred(status())` holds. For CLIs and exit paths only.
  bool wait_status(const std::function<bool(const AgentStatus&)>& pred,
                   std::chrono::milliseconds timeout) const;
  // The port actually bound (useful with port 0); valid once running.
  std::uint16_t port() const { return port_; }
  const std::string& node_name() const { return config_.node_name; }

  // Push/pull join with each seed ("ip:port"; port defaults to 7946). `done(joined, error)`
  // runs on the loop thread.
  void join(const std::vector<std::string>& seeds,
            std::function<void(int joined, const std::string& error)> done = {});
  // Graceful leave (§7.8): leave intent, then dead{From: self}, then a short propagation
  // delay; then the sockets are released. `done` runs on the loop thread.
  void leave(std::function<void()> done = {});
  bool set_tags(table::Tags tags, std::string* err = nullptr);
  // serf's force-leave: a failed `node` is told to have left (prune: and forgotten at once).
  // `done(error)` runs on the loop thread once the intent was gossiped.
  void force_leave(const std::string& node, bool prune,
                   std::function<void(const std::string& error)> done);
  bool user_event(const std::string& name, const std::string& payload, bool coalesce,
                  std::string* err = nullptr);
  // Handlers are set before start() (they are read on the loop thread).
  void on_user_event(UserEventHandler handler) { user_event_handler_ = std::move(handler); }
  void on_query(QueryHandler handler) { query_handler_ = std::move(handler); }
  // Answers a query delivered to on_query (any thread; the send happens on the loop thread).
  // Serf's rules apply: once, before the query's deadline, within the size limit; a refusal
  // reaches `done` (on the loop thread) with the reason.
  void respond(const serf::Query& query, std::string payload,
               std::function<void(bool ok, const std::string& error)> done = {});
  // Originates a query (serf::Serf::query), from any thread. `started(ok, error)` and the
  // callbacks run on the loop thread; callbacks.done runs once at the timeout (not at all
  // when `started` reports a refusal).
  void query(std::string name, std::string payload, serf::QueryParams params,
             serf::QueryCallbacks callbacks,
             std::function<void(bool ok, const std::string& error)> started);

  // Blocking variants for command-line tools. Return false on timeout.
  int join_sync(const std::vector<std::string>& seeds, std::chrono::milliseconds timeout,
                std::string* err);
  bool leave_sync(std::chrono::milliseconds timeout);

  // Stops the loop (no leave: call leave first for a graceful exit) and joins the thread.
  void stop();

  // A copy of the counters, refreshed by the loop at most every 100 ms. Never blocks on it.
  AgentStats stats() const;
  // Estimated round trip times from us to the members (from coordinates); never blocks.
  // Computed by the loop about once a second, but only while someone reads them (a read in
  // the last 30 s): an agent nobody asks spends nothing on it. So the first read after a quiet
  // spell may be up to that old, or empty; empty too before the first probes or when disabled.
  using RttMap = std::map<std::string, std::chrono::nanoseconds, std::less<>>;
  std::shared_ptr<const RttMap> rtt_estimates() const;
  // A network coordinate (serf::Serf::coordinate, for `serf rtt`): ours for our own name,
  // another member's as its last ack carried it. nullopt when unknown, coordinates are
  // disabled, the member is not running, or the loop did not answer within `timeout`. From any
  // thread: the lookup is posted to the loop, which answers at once (no copy of every
  // coordinate is kept for readers); on the loop thread it reads directly.
  std::optional<coord::Coordinate> coordinate(
      const std::string& node, std::chrono::milliseconds timeout = std::chrono::seconds(1)) const;

  // Runs `fn` on the loop thread (thread-safe). Dropped once the loop is shutting down.
  void post(std::function<void()> fn);

 private:
  bool prepare(std::string* err);         // config checks, loop and transport (caller thread)
  void run_loop();                        // the loop thread
  bool bind_and_start(std::string* err);  // loop thread (or caller thread with handover off)
  // The state machines, on a transport that serves; continuing `from` a predecessor if given.
  void start_member(const HandoverState* from);
  bool take_over();  // loop thread: true when a predecessor handed over
  void make_handover_server();
  void listen_for_successor();
  void retry_join_attempt();  // loop thread
  // Snapshot (loop thread): hook the recorder to the member, record the clocks, rejoin.
  void start_snapshot(bool took_over);
  void record_clocks();
  void rejoin_previous();
  bool offer_handover(const HandoverRequest& req, HandoverServer::Offer& offer,
                      std::string& refusal);
  void finish_handover(pid_t successor);
  void abort_handover(const HandoverServer::Offer& offer, const std::string& why);
  void release_sockets();  // loop thread: the member is done (left, handed over)
  void shut_loop();        // loop thread: close every handle so uv_run returns
  void pump();             // run due timers, re-arm the loop timer, refresh stats
  void run_posted();
  void set_phase(AgentPhase phase, const std::string& error = {});
  template <typename F>
  void update_status(F&& f);

  AgentConfig config_;
  table::MembershipTable& table_;
  UserEventHandler user_event_handler_;
  QueryHandler query_handler_;
  swim::Address bind_addr_;
  swim::Address advertise_addr_;

  uv_loop_t loop_{};
  uv_async_t async_{};
  uv_timer_t timer_{};
  bool loop_initialized_ = false;
  std::unique_ptr<swim::TimerQueue> timers_;
  std::unique_ptr<UvTransport> transport_;
  std::unique_ptr<serf::Serf> serf_;
  std::unique_ptr<swim::Memberlist> memberlist_;
  std::unique_ptr<HandoverServer> handover_;
  swim::TimerId handover_retry_ = 0;
  swim::TimerId retry_join_timer_ = 0;  // loop thread
  // serf's snapshot: the recorder is opened by prepare() and closed by stop(); what the file
  // said at start; our table subscriber (0: none); the clocks' timer (loop thread).
  std::unique_ptr<SnapshotRecorder> snapshot_;
  SnapshotReplay snapshot_replay_;
  int snapshot_subscription_ = 0;
  swim::TimerId snapshot_timer_ = 0;
  // The gossip keys: read by the transport and memberlist, changed by serf's key queries, all
  // on the loop thread. Its address never changes (they hold pointers).
  wire::Keyring keyring_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  bool closing_ = false;  // guarded by posted_mutex_: the loop no longer takes work
  std::atomic<std::uint16_t> port_{0};

  std::mutex posted_mutex_;
  std::deque<std::function<void()>> posted_;

  mutable std::mutex status_mutex_;
  mutable std::condition_variable status_changed_;
  AgentStatus status_;

  mutable std::mutex stats_mutex_;
  AgentStats stats_;
  std::shared_ptr<const RttMap> rtt_estimates_ = std::make_shared<RttMap>();  // stats_mutex_
  swim::TimePoint last_rtt_refresh_{};                                        // loop thread
  // When rtt_estimates() was last called (steady_clock ticks; 0: never), so the loop computes
  // them only for readers.
  mutable std::atomic<std::int64_t> rtt_read_at_{0};
  swim::TimePoint last_stats_{};
};

// Host name of this machine (default node name).
std::string default_node_name();

// Checks everything start() would refuse before touching a socket: profile, bind and
// advertise addresses, encryption key, join addresses, tag size. For configuration checks
// (the HAProxy glue runs it in `haproxy -c`). Optionally returns the parsed values.
// `notice`: something worth a log line that is no error (a keyring file that overrides the
// configured key).
bool check_config(const AgentConfig& config, std::string* err, swim::Address* bind = nullptr,
                  swim::Address* advertise = nullptr, wire::Keyring* keyring = nullptr,
                  std::string* notice = nullptr);

}  // namespace haserf::net
