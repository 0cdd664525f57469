// SPDX-License-Identifier: MIT
// serf agent's event handlers for haserf agent: `--event-handler [filter=]script` runs a
// shell script per event with serf's environment and stdin, and a query handler's output is
// the query's response. Scripts written for `serf agent -event-handler` run unchanged.
//
// Threads: the gossip loop only queues (member_event, user_event, query never block); one
// runner thread coalesces member events (and user events sent with coalescing) as serf's agent
// does (3 s at most, 1 s of quiet) and runs the scripts one at a time, as serf does. The queue
// is bounded: past it, events are dropped and counted. close() runs what is pending, kills a
// script still running after its grace, and joins the thread: it never outlives the object.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "core/serf/serf.hpp"
#include "core/table/table.hpp"

namespace haserf::cli {

// One filter of one handler: event "member-join" ... "member-reap", "user", "query" or "*";
// name: the user event or query name ("user:deploy"), empty for any.
struct EventScript {
  std::string event;
  std::string name;
  std::string script;
};

// Parses serf's -event-handler value: "script" (every event) or "f1,f2=script" with filters
// member-join, member-leave, member-failed, member-update, member-reap, user, user:NAME,
// query, query:NAME, *. False with `error` for an unknown event type or an empty script.
bool parse_event_handler(const std::string& spec, std::vector<EventScript>& out,
                         std::string& error);

struct HandlerStats {
  std::uint64_t invoked = 0;    // scripts run
  std::uint64_t failed = 0;     // could not start, or exited non-zero
  std::uint64_t dropped = 0;    // events not queued: the queue was full, or closing
  std::uint64_t responses = 0;  // query responses sent from a script's output
};

class EventHandlerRunner {
 public:
  struct Options {
    std::vector<EventScript> scripts;
    // serf agent's coalescing of member events (CoalescePeriod, QuiescentPeriod) and of user
    // events sent with coalescing (UserCoalescePeriod, UserQuiescentPeriod).
    std::chrono::milliseconds coalesce{3000};
    std::chrono::milliseconds quiescent{1000};
    std::size_t max_queued = 4096;  // events waiting for the runner
    // Runner thread: log lines ("handler 'x.sh' for member-join: exit 1: ...").
    std::function<void(const std::string&)> log;
    // Runner thread: send a query response (net::Agent::respond).
    std::function<void(const serf::Query&, std::string payload)> respond;
  };

  explicit EventHandlerRunner(Options options);
  ~EventHandlerRunner();
  EventHandlerRunner(const EventHandlerRunner&) = delete;
  EventHandlerRunner& operator=(const EventHandlerRunner&) = delete;

  // Our own name and tags, for SERF_SELF_NAME / SERF_SELF_ROLE / SERF_TAG_* (any thread).
  void set_self(std::string name, table::Tags tags);
  // Any thread; never block. kStatus changes are not serf events and are ignored.
  void member_event(table::ChangeKind kind, const table::Member& member);
  void user_event(const serf::UserEvent& event);
  void query(const serf::Query& query);
  // Whether any script listens to queries (else queries need not be queued at all).
  bool wants_queries() const;
  // Runs what is pending (coalesced events flushed at once), gives a running script `grace`
  // before it is killed, then joins the runner thread. Idempotent.
  void close(std::chrono::milliseconds grace = std::chrono::seconds(5));
  HandlerStats stats() const;

 private:
  struct MemberItem {
    table::ChangeKind kind;
    table::Member member;
  };
  using Item = std::variant<MemberItem, serf::UserEvent, serf::Query>;
  struct PendingMember {
    std::string type;
    table::Member member;
  };

  bool push(Item item);
  void run();
  void flush_members();
  void flush_user_events();
  void handle_user(const serf::UserEvent& e);
  void handle_query(const serf::Query& q);
  // Runs every script matching (event, name). For a query, the first successful output
  // answers it.
  void invoke(const std::string& event, const std::string& name,
              std::map<std::string, std::string> env, const std::string& input,
              const serf::Query* query);

  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Item> queue_;           // guarded by mutex_
  bool closing_ = false;             // guarded by mutex_
  std::string self_name_;            // guarded by mutex_
  table::Tags self_tags_;            // guarded by mutex_
  HandlerStats stats_;               // guarded by mutex_
  std::atomic<bool> cancel_{false};  // set when close()'s grace is over: kill the script

  // Runner thread only.
  std::map<std::string, PendingMember> pending_members_;
  std::map<std::string, std::string> last_member_event_;  // name -> type last sent (serf)
  std::chrono::steady_clock::time_point members_first_{}, members_last_{};
  std::map<std::string, std::vector<serf::UserEvent>> pending_users_;  // latest LTime per name
  std::chrono::steady_clock::time_point users_first_{}, users_last_{};

  std::thread thread_;
};

}  // namespace haserf::cli
