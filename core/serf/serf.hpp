// SPDX-License-Identifier: MIT
// Door of core/serf: the Serf layer (serf 0.9.4, §7) on top of memberlist, as a pure state
// machine. memberlist calls it through swim::Delegate; it calls memberlist through
// swim::MemberlistApi; time comes from a swim::Scheduler. Every status or tag change is
// mirrored into the table::MembershipTable. Single-threaded: every call, including the
// callbacks it makes, happens on the loop thread. Nothing reachable from the network throws.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/coord/coordinate.hpp"
#include "core/serf/config.hpp"
#include "core/serf/filters.hpp"
#include "core/serf/key_manager.hpp"
#include "core/serf/lamport.hpp"
#include "core/serf/stats.hpp"
#include "core/swim/broadcast_queue.hpp"
#include "core/swim/delegate.hpp"
#include "core/swim/scheduler.hpp"
#include "core/table/membership_table.hpp"
#include "core/wire/messages.hpp"

namespace haserf::serf {

using table::MemberStatus;  // kNone, kAlive, kLeaving, kLeft, kFailed: serf's codes 0-4

// Our own lifecycle (serf SerfState, without shutdown: the owner just destroys us).
enum class SerfState : std::uint8_t { kAlive, kLeaving, kLeft };

// A user event, delivered once per (LTime, Name, Payload) (§7.9).
struct UserEvent {
  std::string name;
  wire::Bytes payload;
  LamportTime ltime = 0;
  bool coalesce = false;
};

// An application query (name not starting with `_serf_`) that passed our filters (§7.10).
// Answer it at most once, before `deadline`, with Serf::respond().
struct Query {
  std::string name;
  wire::Bytes payload;  // a nil payload arrives empty
  LamportTime ltime = 0;
  std::uint32_t id = 0;
  std::string source_node;
  swim::Address reply_to;    // the query's Addr:Port
  swim::TimePoint deadline;  // receipt time + Timeout
  // How many other members also relay our ack and response to the origin (serf RelayFactor).
  std::uint8_t relay_factor = 0;
  std::shared_ptr<bool> responded = std::make_shared<bool>(false);
};

// Serf's view of one member (serf's memberState).
struct MemberState {
  std::string name;
  wire::Bytes addr;  // as carried by memberlist (4 or 16 bytes)
  std::uint16_t port = 0;
  wire::Bytes vsn;  // [PMin, PMax, PCur, DMin, DMax, DCur]
  std::uint32_t incarnation = 0;
  wire::Tags tags;
  MemberStatus status = MemberStatus::kAlive;
  LamportTime status_ltime = 0;
  swim::TimePoint leave_time{};  // when it became failed or left
};

// One slot of the user-event dedupe ring (§7.9): the events seen with this LTime.
struct EventSlot {
  LamportTime ltime = 0;
  std::vector<std::pair<std::string, wire::Bytes>> events;  // (Name, Payload)
};

// One slot of the query dedupe ring (§7.10).
struct QuerySlot {
  LamportTime ltime = 0;
  std::vector<std::uint32_t> ids;
};

// An intent buffered for a node memberlist has not told us about yet (§7.7 recentIntents).
struct IntentRecord {
  std::string node;
  bool leave = false;
  LamportTime ltime = 0;
  swim::TimePoint when{};
};

// What a successor process needs to continue as this member (core/net handover): clocks,
// every member with its status, the dedupe rings and the buffered intents.
struct SerfSnapshot {
  LamportTime clock = 0, event_clock = 0, query_clock = 0;
  LamportTime event_min_time = 0, query_min_time = 0;
  std::vector<MemberState> members;
  std::vector<std::string> failed, left;  // in the order they failed / left
  std::vector<IntentRecord> intents;
  std::vector<EventSlot> events;   // used slots only
  std::vector<QuerySlot> queries;  // used slots only
};

// How a query we originate is sent (serf QueryParam).
struct QueryParams {
  std::vector<std::string> filter_nodes;  // only these nodes answer (empty: no node filter)
  std::vector<std::pair<std::string, std::string>> filter_tags;  // (tag, regexp), all must match
  bool request_ack = false;
  std::chrono::milliseconds timeout{0};  // 0: serf's default (gossip interval x 16 x log10 N)
  // Members asked to relay each answer to us as well (serf RelayFactor, 0-5): answers then
  // survive a lost direct packet.
  std::uint8_t relay_factor = 0;
};

// What comes back, on the scheduler's thread. `done` runs once, at the timeout.
struct QueryCallbacks {
  std::function<void(const std::string& from)> ack;
  std::function<void(const std::string& from, const wire::Bytes& payload)> response;
  std::function<void(int acks, int responses)> done;
};

class Serf : public swim::Delegate {
 public:
  using EventHandler = std::function<void(const UserEvent&)>;
  using QueryHandler = std::function<void(const Query&)>;

  Serf(Config config, table::MembershipTable& table, swim::Scheduler& scheduler);
  ~Serf() override;
  Serf(const Serf&) = delete;
  Serf& operator=(const Serf&) = delete;

  // Second phase: memberlist is created with us as its delegate, then handed back here.
  // Starts the reaper, reconnect and queue-check timers.
  void attach(swim::MemberlistApi* memberlist);

  void set_event_handler(EventHandler handler) { event_handler_ = std::move(handler); }
  // Without a handler, application queries are acked (if asked) but never answered.
  void set_query_handler(QueryHandler handler) { query_handler_ = std::move(handler); }
  // Name conflict resolution lost (serf: "minority in name conflict resolution, quitting"):
  // the owner must stop this member. Runs on the scheduler's thread.
  void set_conflict_lost_handler(std::function<void(const std::string& why)> handler) {
    conflict_lost_ = std::move(handler);
  }

  // ---- our own actions ----

  // Around a memberlist join (serf Join): while open, a joining push/pull raises the minimum
  // event time to the remote EventLTime if config.ignore_old_events. end_join(true) then
  // broadcasts our join intent.
  void begin_join();
  void end_join(bool joined);
  // Join intent with LTime = clock, then witness it, apply locally and gossip (serf
  // broadcastJoin). Call after a successful memberlist join.
  void broadcast_join();
  // Graceful leave, part 1 (§7.8): state leaving, leave intent (LTime = clock, then
  // increment) applied locally and gossiped. `done` runs (from the scheduler, never inline)
  // once the intent was sent retransmit-limit times, after broadcast_timeout, or at once if no
  // other member is alive. The caller then runs memberlist's leave and calls mark_left().
  // False (and `done` never runs) if a leave is already in progress or done.
  bool leave(std::function<void()> done, std::string* err = nullptr);
  void mark_left() { state_ = SerfState::kLeft; }
  // serf's force-leave (RemoveFailedNode[Prune]): a leave intent for `node`, sent on its
  // behalf; `done(error)` runs from the scheduler once it was gossiped (or timed out).
  bool force_leave(const std::string& node, bool prune,
                   std::function<void(const std::string& error)> done);
  // New tags: encoded meta must fit meta_size_limit; then memberlist gossips an alive.
  bool set_tags(wire::Tags tags, std::string* err = nullptr);
  // A user event (§7.9): LTime = event clock, then increment; delivered to our own handler
  // (as serf's UserEvent does via handleUserEvent) and gossiped.
  bool user_event(std::string_view name, std::span<const std::uint8_t> payload, bool coalesce,
                  std::string* err = nullptr);
  // Answers an application query (serf Query.Respond): once, before its deadline, encoded
  // response within query_response_size_limit.
  bool respond(const Query& query, wire::Bytes payload, std::string* err = nullptr);
  // Originates a query (serf Query): LTime = query clock, a random ID, our address for the
  // answers; handled locally first (our own handlers may answer), then gossiped. Responses
  // and acks are collected until the timeout, one per node. False if it is too large.
  bool query(const std::string& name, wire::Bytes payload, const QueryParams& params,
             QueryCallbacks callbacks, std::string* err = nullptr);
  // The default query timeout for the current cluster size (serf DefaultQueryTimeout).
  std::chrono::milliseconds default_query_timeout() const;

  // ---- handover (core/net/handover.hpp) ----
  SerfSnapshot export_state() const;
  // Before memberlist starts: continue from a predecessor's state. The table gets every
  // member in one batch; nobody else is told anything.
  void import_state(const SerfSnapshot& snapshot);

  // ---- views ----
  SerfState state() const { return state_; }
  const Config& config() const { return config_; }
  const Stats& stats() const { return stats_; }
  const MemberState* member(std::string_view name) const;
  std::size_t num_members() const { return members_.size(); }  // incl. failed and left
  LamportTime clock() const { return clock_.time(); }
  LamportTime event_clock() const { return event_clock_.time(); }
  LamportTime query_clock() const { return query_clock_.time(); }
  LamportTime event_min_time() const { return event_min_time_; }
  // The LTimes of the newest user event and query delivered (to handlers or internally): what
  // serf's -snapshot records as event-clock and query-clock (core/net/snapshot.hpp).
  LamportTime last_event_ltime() const { return last_event_ltime_; }
  LamportTime last_query_ltime() const { return last_query_ltime_; }
  // A restart from a snapshot, before memberlist starts (serf Create): witness the recorded
  // clocks, and ignore user events and queries at or before the recorded LTimes.
  void restore_clocks(LamportTime clock, LamportTime event_ltime, LamportTime query_ltime) {
    clock_.witness(clock);
    event_clock_.witness(event_ltime);
    query_clock_.witness(query_ltime);
    if (event_ltime + 1 > event_min_time_) event_min_time_ = event_ltime + 1;
    if (query_ltime + 1 > query_min_time_) query_min_time_ = query_ltime + 1;
  }
  std::size_t queued_intents() const { return intent_queue_.size(); }
  std::size_t queued_events() const { return event_queue_.size(); }
  std::size_t queued_queries() const { return query_queue_.size(); }
  std::size_t recent_intents() const { return recent_intents_.size(); }
  // Network coordinates (coordinates.cpp, §7.11; serf GetCoordinate / GetCachedCoordinate):
  // ours for our own name, another member's as its last ack carried it; nullopt when unknown
  // or config.disable_coordinates.
  std::optional<coord::Coordinate> coordinate(std::string_view node) const;
  // The estimated round trip time from us to every member whose coordinate we hold.
  std::map<std::string, std::chrono::nanoseconds, std::less<>> rtt_estimates() const;

  // ---- swim::Delegate ----
  wire::Bytes node_meta(std::size_t limit) override;
  void notify_msg(std::span<const std::uint8_t> msg) override;
  std::vector<wire::Bytes> get_broadcasts(std::size_t overhead, std::size_t limit) override;
  bool has_broadcasts() const override;
  wire::Bytes local_state(bool join) override;
  void merge_remote_state(std::span<const std::uint8_t> state, bool join) override;
  // A push/pull's changes reach the table as one version (its readers copy it per version).
  void batch(const std::function<void()>& changes) override { table_.batch(changes); }
  void notify_join(const swim::NodeInfo& node) override;
  void notify_leave(const swim::NodeInfo& node) override;
  void notify_conflict(const swim::NodeInfo& existing, const swim::NodeInfo& other) override;
  void notify_update(const swim::NodeInfo& node) override;
  std::optional<wire::Bytes> ack_payload() override;
  void notify_ping_complete(const swim::NodeInfo& node, swim::Duration rtt,
                            std::span<const std::uint8_t> payload) override;

 private:
  enum class IntentType : std::uint8_t { kJoin, kLeave };
  struct Intent {
    IntentType type;
    LamportTime ltime;
    swim::TimePoint when;
  };

  // serf.cpp: timers and queues
  swim::TimerId after(swim::Duration delay, std::function<void()> fn);
  void every(swim::Duration period, std::function<void()> fn);
  void cancel_timer(swim::TimerId id);
  void check_queues();
  void dispatch(std::span<const std::uint8_t> msg);
  bool unsafe(const std::optional<std::string>& trap);

  // members.cpp (§7.7)
  void apply_node(MemberState& m, const swim::NodeInfo& node);
  table::Member to_table(const MemberState& m) const;
  bool handle_join_intent(const wire::SerfJoin& msg);
  bool handle_leave_intent(const wire::SerfLeave& msg);
  void send_leave_intent_directly(const wire::SerfLeave& msg);
  // One direct copy of `raw` to each alive member but us, when there are at most
  // leave_direct_limit of them (else none); returns the copies sent.
  std::size_t send_to_alive_members(const wire::Bytes& raw);
  void handle_key_change(const Query& q);
  void handle_list_keys(const Query& q);
  bool upsert_intent(const std::string& node, IntentType type, LamportTime ltime);
  void prune_member(std::string name);  // by value: callers pass names owned by members_
  void erase_member(std::string name);
  bool has_other_alive_members() const;
  void reap();
  void reconnect();

  // coordinates.cpp (§7.11): drops a reaped member's rtt samples and cached coordinate.
  void forget_coordinate(const std::string& node);

  // events.cpp (§7.9)
  bool handle_user_event(const wire::SerfUserEvent& msg);

  // queries.cpp (§7.10)
  bool handle_query(const wire::SerfQuery& msg);
  bool should_process(const std::vector<wire::Bytes>& filters);
  void handle_internal_query(const Query& q);
  bool send_response(const Query& q, std::optional<wire::Bytes> payload, std::string* err);
  void handle_query_response(const wire::SerfQueryResponse& msg);
  // serf relayResponse: copies of an ack or response through relay_factor random alive members.
  void relay_response(const Query& q, const wire::Bytes& raw);
  // A type-9 relay from another member: forwarded only when it holds a query response for a
  // member we know at that address (never a reflector of arbitrary bytes).
  void forward_relay(std::span<const std::uint8_t> body);

  Config config_;
  table::MembershipTable& table_;
  swim::Scheduler& sched_;
  swim::MemberlistApi* memberlist_ = nullptr;
  EventHandler event_handler_;
  QueryHandler query_handler_;
  std::function<void(const std::string&)> conflict_lost_;
  bool resolving_conflict_ = false;
  swim::TimePoint last_conflict_resolution_{};
  SerfState state_ = SerfState::kAlive;
  Stats stats_;

  LamportClock clock_, event_clock_, query_clock_;
  LamportTime event_min_time_ = 0;
  LamportTime query_min_time_ = 0;
  LamportTime last_event_ltime_ = 0;  // see last_event_ltime()
  LamportTime last_query_ltime_ = 0;
  bool join_ignore_old_ = false;

  std::map<std::string, MemberState, std::less<>> members_;
  std::vector<std::string> failed_members_;  // names, in the order they failed
  std::vector<std::string> left_members_;
  std::map<std::string, Intent, std::less<>> recent_intents_;

  std::vector<EventSlot> event_ring_;
  std::size_t event_ring_bytes_ = 0;
  std::vector<QuerySlot> query_ring_;
  // Queries we originated and still collect answers for, by LTime (serf queryResponse).
  struct OpenQuery {
    std::uint32_t id = 0;
    std::set<std::string> acks, responses;
    QueryCallbacks callbacks;
  };
  std::map<LamportTime, OpenQuery> open_queries_;

  swim::BroadcastQueue intent_queue_;
  swim::BroadcastQueue event_queue_;
  swim::BroadcastQueue query_queue_;

  std::set<swim::TimerId> timers_;  // every pending timer, cancelled on destruction

  // Network coordinates (serf coordClient, coordCache); no client when disabled.
  std::optional<coord::Client> coord_client_;
  std::map<std::string, coord::Coordinate, std::less<>> coord_cache_;  // other members'
};

}  // namespace haserf::serf
