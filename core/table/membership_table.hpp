// SPDX-License-Identifier: MIT
// The membership table: the one place where haserf's view of the cluster lives.
//
// One writer (the gossip thread, or a loader) applies changes; any number of readers on other
// threads take immutable snapshots. A snapshot is a shared_ptr to a frozen, name-sorted vector
// of shared members, published atomically, so readers never block the writer and never see a
// half-applied change. Subscribers get one ChangeEvent per effective change, on the writer's
// thread, after the snapshot containing it was published.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/table/member_policy.hpp"

namespace haserf::table {

// Serf's view of a member (status codes as in serf's Member.Status), plus memberlist's
// transient "suspect" so a table fed by gossip can show it.
enum class MemberStatus : std::uint8_t { kNone, kAlive, kLeaving, kLeft, kFailed, kSuspect };

std::string_view to_string(MemberStatus status);
std::optional<MemberStatus> parse_status(std::string_view text);

using Tags = std::map<std::string, std::string>;

// Serf delegate protocol versions, as `serf members -format=json` shows them.
struct ProtocolVersions {
  std::uint8_t min = 2;
  std::uint8_t max = 5;
  std::uint8_t cur = 5;
  bool operator==(const ProtocolVersions&) const = default;
};

struct Member {
  std::string name;
  std::string addr;  // IP address only (v4 dotted or v6 textual), no port
  std::uint16_t port = 0;
  Tags tags;
  MemberStatus status = MemberStatus::kAlive;
  std::uint32_t incarnation = 0;  // memberlist incarnation of the last alive seen
  std::uint64_t ltime = 0;        // serf Lamport time of the last status change
  ProtocolVersions protocol;      // serf's (delegate) versions, Vsn[3..5]
  // memberlist's own versions, Vsn[0..2] (serf RPC's ProtocolMin/Max/Cur).
  ProtocolVersions memberlist_protocol{1, 5, 2};
  std::chrono::system_clock::time_point last_change{};
  // Why the table's MemberPolicy keeps this member out of routing and renders; empty when it
  // may be used. Computed by the table on every change.
  std::string rejected;
};

using MemberPtr = std::shared_ptr<const Member>;

// A frozen, name-sorted view of the table. Stored as chunks of at most a few dozen members
// that consecutive snapshots share: a change copies one chunk and the chunk index, not every
// member (publishing was O(members) per change: at 10,000 members the gossip thread spent
// most of its time copying snapshots). The flat members() vector is built on first use.
class Snapshot {
 public:
  using Chunk = std::vector<MemberPtr>;  // name-sorted, never empty
  using ChunkPtr = std::shared_ptr<const Chunk>;

  Snapshot() = default;
  Snapshot(std::uint64_t version, std::vector<MemberPtr> members_sorted_by_name);
  Snapshot(std::uint64_t version, std::vector<ChunkPtr> chunks);

  std::uint64_t version() const { return version_; }
  // Every member, name-sorted. O(members) the first time per snapshot (thread-safe), then free.
  const std::vector<MemberPtr>& members() const;
  // The same members in chunks: a chunk pointer equal in two snapshots holds the same members
  // (what a diff may skip).
  const std::vector<ChunkPtr>& chunks() const { return chunks_; }
  std::size_t size() const { return size_; }
  // Binary search by name; nullptr when absent.
  const Member* find(std::string_view name) const;
  std::size_t count(MemberStatus status) const;

  // Members per chunk when chunks are cut afresh; a chunk is split past twice this.
  static constexpr std::size_t kChunkSize = 64;

 private:
  struct Flat {
    std::once_flag once;
    std::vector<MemberPtr> members;
  };
  std::uint64_t version_ = 0;
  std::size_t size_ = 0;
  std::vector<ChunkPtr> chunks_;
  std::shared_ptr<Flat> flat_ = std::make_shared<Flat>();  // shared by copies: same members
};

// A snapshot of `members`, judged by `policy`, without a table: what a one-shot render of a
// members file needs (a table's change tracking serves live members). A later member of the
// same name replaces an earlier one, as MembershipTable::replace_all does; version 1, as a
// fresh table's first replace_all.
Snapshot snapshot_of(std::vector<Member> members, const MemberPolicy& policy);

using SnapshotPtr = std::shared_ptr<const Snapshot>;

// What happened to a member. Names match the event names of `serf agent` handlers.
enum class ChangeKind : std::uint8_t { kJoin, kUpdate, kLeave, kFail, kReap, kStatus };
std::string_view to_string(ChangeKind kind);

struct ChangeEvent {
  ChangeKind kind;
  MemberPtr member;  // the member after the change (for kReap: as it was last seen)
  std::optional<MemberStatus> previous_status;
  std::uint64_t version;  // table version that contains this change
};

class MembershipTable {
 public:
  using Subscriber = std::function<void(const ChangeEvent&)>;
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  MembershipTable();
  explicit MembershipTable(Clock clock);
  MembershipTable(const MembershipTable&) = delete;
  MembershipTable& operator=(const MembershipTable&) = delete;

  // --- writer side (serialized internally; normally called from a single thread) ---

  // A member joins or comes back (join event), or an alive member changes address, port,
  // tags or protocol (update event). Status is taken from `member` (alive, or leaving when
  // a leave intent was already known). Returns true if anything changed.
  bool join(Member member);
  // Refresh tags/address/protocol/incarnation of a known member: an update event if tags,
  // address, port or protocol changed; silent if only the incarnation moved.
  bool update(const Member& member);
  // Status transitions. leave(): -> left; fail(): -> failed; set_status(): any other.
  bool leave(std::string_view name, std::optional<std::uint64_t> ltime = std::nullopt);
  bool fail(std::string_view name);
  bool set_status(std::string_view name, MemberStatus status,
                  std::optional<std::uint64_t> ltime = std::nullopt);
  // The validation every member gets (member_policy.hpp); members are re-judged at once.
  void set_policy(MemberPolicy policy);
  MemberPolicy policy() const;

  // Forget a member entirely (reap event).
  bool reap(std::string_view name);
  // Replace the whole table (e.g. loaded from `serf members -format=json`): one version bump,
  // events for every difference.
  void replace_all(std::vector<Member> members);

  // Group several changes into one published snapshot (one version bump). Nested calls fold
  // into the outermost batch.
  void batch(const std::function<void()>& changes);

  // --- reader side (any thread, lock-free) ---
  SnapshotPtr snapshot() const;
  std::uint64_t version() const { return snapshot()->version(); }

  // Subscribers run on the writer's thread; keep them short. Returns an id for unsubscribe.
  int subscribe(Subscriber subscriber);
  void unsubscribe(int id);

 private:
  void record(ChangeKind kind, const MemberPtr& member, std::optional<MemberStatus> previous);
  void publish_locked();
  void flush_events(std::unique_lock<std::mutex>& lock);
  bool set_status_locked(std::string_view name, MemberStatus status,
                         std::optional<std::uint64_t> ltime);
  bool join_locked(Member member);
  bool update_locked(const Member& member);
  bool reap_locked(std::string_view name);

  void judge(Member& m) const;
  // Records that `name`'s member object changed (replaced, added or erased) since the last
  // publish: publish_locked() re-cuts only the chunks holding such names.
  void touch(const std::string& name);
  void rechunk_locked();

  Clock clock_;
  mutable std::mutex mutex_;  // guards everything below except published_
  MemberPolicy policy_;
  std::map<std::string, MemberPtr, std::less<>> members_;
  // The published snapshot's chunks, and the names changed since (see touch()).
  std::vector<Snapshot::ChunkPtr> chunks_;
  std::set<std::string, std::less<>> touched_;
  std::uint64_t version_ = 0;
  int batch_depth_ = 0;
  bool dirty_ = false;
  std::vector<ChangeEvent> pending_events_;
  std::map<int, Subscriber> subscribers_;
  int next_subscriber_id_ = 1;
  std::mutex subscriber_mutex_;  // subscribers run outside mutex_, one event list at a time
  // Readers hold this only to copy a shared_ptr: never across any real work.
  mutable std::mutex publish_mutex_;
  SnapshotPtr published_;
};

}  // namespace haserf::table
