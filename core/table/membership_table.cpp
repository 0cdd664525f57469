// SPDX-License-Identifier: MIT
#include "core/table/membership_table.hpp"

#include <algorithm>

namespace haserf::table {

std::string_view to_string(MemberStatus status) {
  switch (status) {
    case MemberStatus::kNone:
      return "none";
    case MemberStatus::kAlive:
      return "alive";
    case MemberStatus::kLeaving:
      return "leaving";
    case MemberStatus::kLeft:
      return "left";
    case MemberStatus::kFailed:
      return "failed";
    case MemberStatus::kSuspect:
      return "suspect";
  }
  return "none";
}

std::optional<MemberStatus> parse_status(std::string_view text) {
  for (auto s : {MemberStatus::kNone, MemberStatus::kAlive, MemberStatus::kLeaving,
                 MemberStatus::kLeft, MemberStatus::kFailed, MemberStatus::kSuspect}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view to_string(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kJoin:
      return "member-join";
    case ChangeKind::kUpdate:
      return "member-update";
    case ChangeKind::kLeave:
      return "member-leave";
    case ChangeKind::kFail:
      return "member-failed";
    case ChangeKind::kReap:
      return "member-reap";
    case ChangeKind::kStatus:
      return "member-status";
  }
  return "member-status";
}

namespace {

// Cuts a name-sorted vector into fresh chunks of Snapshot::kChunkSize.
std::vector<Snapshot::ChunkPtr> cut(const std::vector<MemberPtr>& sorted) {
  std::vector<Snapshot::ChunkPtr> chunks;
  chunks.reserve(sorted.size() / Snapshot::kChunkSize + 1);
  for (std::size_t i = 0; i < sorted.size(); i += Snapshot::kChunkSize) {
    const std::size_t end = std::min(sorted.size(), i + Snapshot::kChunkSize);
    chunks.push_back(
        std::make_shared<const Snapshot::Chunk>(sorted.begin() + static_cast<std::ptrdiff_t>(i),
                                                sorted.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  return chunks;
}

// The chunk that holds `name`, or would hold it: the first whose last member is not before
// it, or the last chunk for a name past every member. `chunks` must not be empty.
std::size_t chunk_for(const std::vector<Snapshot::ChunkPtr>& chunks, std::string_view name) {
  const auto it = std::lower_bound(
      chunks.begin(), chunks.end(), name,
      [](const Snapshot::ChunkPtr& c, std::string_view n) { return c->back()->name < n; });
  if (it == chunks.end()) return chunks.size() - 1;
  return static_cast<std::size_t>(it - chunks.begin());
}

Snapshot::Chunk::const_iterator position(const Snapshot::Chunk& chunk, std::string_view name) {
  return std::lower_bound(chunk.begin(), chunk.end(), name,
                          [](const MemberPtr& m, std::string_view n) { return m->name < n; });
}

}  // namespace

Snapshot::Snapshot(std::uint64_t version, std::vector<MemberPtr> members_sorted_by_name)
    : version_(version),
      size_(members_sorted_by_name.size()),
      chunks_(cut(members_sorted_by_name)) {
  // The flat view is at hand: keep it rather than build it again.
  std::call_once(flat_->once, [&] { flat_->members = std::move(members_sorted_by_name); });
}

Snapshot::Snapshot(std::uint64_t version, std::vector<ChunkPtr> chunks)
    : version_(version), chunks_(std::move(chunks)) {
  for (const auto& c : chunks_) size_ += c->size();
}

const std::vector<MemberPtr>& Snapshot::members() const {
  std::call_once(flat_->once, [this] {
    flat_->members.reserve(size_);
    for (const auto& c : chunks_) flat_->members.insert(flat_->members.end(), c->begin(), c->end());
  });
  return flat_->members;
}

Snapshot snapshot_of(std::vector<Member> members, const MemberPolicy& policy) {
  std::vector<MemberPtr> sorted;
  sorted.reserve(members.size());
  for (auto& m : members) {
    m.rejected = reject_reason(m, policy).value_or("");
    sorted.push_back(std::make_shared<const Member>(std::move(m)));
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const MemberPtr& a, const MemberPtr& b) { return a->name < b->name; });
  std::vector<MemberPtr> unique;
  unique.reserve(sorted.size());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (i + 1 < sorted.size() && sorted[i + 1]->name == sorted[i]->name) continue;  // later wins
    unique.push_back(std::move(sorted[i]));
  }
  return Snapshot(1, std::move(unique));
}

const Member* Snapshot::find(std::string_view name) const {
  if (chunks_.empty()) return nullptr;
  const Chunk& chunk = *chunks_[chunk_for(chunks_, name)];
  const auto it = position(chunk, name);
  if (it == chunk.end() || (*it)->name != name) return nullptr;
  return it->get();
}

std::size_t Snapshot::count(MemberStatus status) const {
  std::size_t n = 0;
  for (const auto& c : chunks_) {
    for (const auto& m : *c) n += m->status == status ? 1 : 0;
  }
  return n;
}

MembershipTable::MembershipTable()
    : MembershipTable([] { return std::chrono::system_clock::now(); }) {}

MembershipTable::MembershipTable(Clock clock)
    : clock_(std::move(clock)), published_(std::make_shared<const Snapshot>()) {}

SnapshotPtr MembershipTable::snapshot() const {
  std::lock_guard<std::mutex> lock(publish_mutex_);
  return published_;
}

namespace {
// Fields whose change is visible to users (and so an update event).
bool same_visible(const Member& a, const Member& b) {
  return a.addr == b.addr && a.port == b.port && a.tags == b.tags && a.protocol == b.protocol;
}
}  // namespace

void MembershipTable::record(ChangeKind kind, const MemberPtr& member,
                             std::optional<MemberStatus> previous) {
  dirty_ = true;
  // The version is assigned at publish time; events carry it then.
  pending_events_.push_back(ChangeEvent{kind, member, previous, 0});
}

void MembershipTable::publish_locked() {
  if (!dirty_ || batch_depth_ > 0) return;
  dirty_ = false;
  ++version_;
  if (chunks_.empty() || touched_.size() * 8 > members_.size()) {
    // Most of the table changed (a first fill, a policy change): cut it afresh.
    std::vector<MemberPtr> sorted;
    sorted.reserve(members_.size());
    for (const auto& [name, member] : members_) sorted.push_back(member);  // map is name-ordered
    chunks_ = cut(sorted);
  } else {
    rechunk_locked();
  }
  touched_.clear();
  auto snap = std::make_shared<const Snapshot>(version_, chunks_);
  {
    std::lock_guard<std::mutex> lock(publish_mutex_);
    published_ = std::move(snap);
  }
  for (auto& e : pending_events_) e.version = version_;
}

void MembershipTable::touch(const std::string& name) {
  touched_.insert(name);
}

// Copies only the chunks that hold touched names, applies what the map now says about each
// (replaced, added, erased), and shares every other chunk with the previous snapshot.
void MembershipTable::rechunk_locked() {
  std::map<std::size_t, Snapshot::Chunk> edited;  // chunk index (in chunks_) -> its new members
  for (const auto& name : touched_) {
    const std::size_t i = chunk_for(chunks_, name);
    auto [it, fresh] = edited.try_emplace(i);
    if (fresh) it->second = *chunks_[i];
    Snapshot::Chunk& chunk = it->second;
    const auto pos = chunk.begin() + (position(chunk, name) - chunk.cbegin());
    const bool present = pos != chunk.end() && (*pos)->name == name;
    const auto m = members_.find(name);
    if (m == members_.end()) {
      if (present) chunk.erase(pos);
    } else if (present) {
      *pos = m->second;
    } else {
      chunk.insert(pos, m->second);
    }
  }
  std::vector<Snapshot::ChunkPtr> next;
  next.reserve(chunks_.size() + edited.size());
  for (std::size_t i = 0; i < chunks_.size(); ++i) {
    const auto e = edited.find(i);
    if (e == edited.end()) {
      next.push_back(chunks_[i]);
      continue;
    }
    Snapshot::Chunk& chunk = e->second;
    if (chunk.empty()) continue;
    // A chunk that shrank a lot joins its neighbour, so reaps do not leave the index long.
    if (!next.empty() && chunk.size() < Snapshot::kChunkSize / 4 &&
        next.back()->size() + chunk.size() <= 2 * Snapshot::kChunkSize) {
      Snapshot::Chunk merged(*next.back());
      merged.insert(merged.end(), chunk.begin(), chunk.end());
      next.back() = std::make_shared<const Snapshot::Chunk>(std::move(merged));
      continue;
    }
    if (chunk.size() <= 2 * Snapshot::kChunkSize) {
      next.push_back(std::make_shared<const Snapshot::Chunk>(std::move(chunk)));
      continue;
    }
    for (const auto& piece : cut(chunk)) next.push_back(piece);
  }
  chunks_ = std::move(next);
}

void MembershipTable::flush_events(std::unique_lock<std::mutex>& lock) {
  if (batch_depth_ > 0 || pending_events_.empty()) return;
  std::vector<ChangeEvent> events;
  events.swap(pending_events_);
  // Subscribers run without the table lock, so they may read snapshots or even write.
  std::lock_guard<std::mutex> sub_lock(subscriber_mutex_);
  lock.unlock();
  for (const auto& event : events) {
    for (const auto& [id, subscriber] : subscribers_) subscriber(event);
  }
}

void MembershipTable::judge(Member& m) const {
  m.rejected = reject_reason(m, policy_).value_or("");
}

bool MembershipTable::join_locked(Member member) {
  member.last_change = clock_();
  judge(member);
  auto it = members_.find(member.name);
  if (it == members_.end()) {
    auto ptr = std::make_shared<const Member>(std::move(member));
    members_.emplace(ptr->name, ptr);
    touch(ptr->name);
    record(ChangeKind::kJoin, ptr, std::nullopt);
    return true;
  }
  const Member& old = *it->second;
  const bool was_gone = old.status == MemberStatus::kLeft || old.status == MemberStatus::kFailed ||
                        old.status == MemberStatus::kNone;
  if (!was_gone && same_visible(old, member) && old.status == member.status) {
    if (old.incarnation == member.incarnation && old.ltime == member.ltime) return false;
    // Only bookkeeping moved: keep last_change, publish silently.
    member.last_change = old.last_change;
    it->second = std::make_shared<const Member>(std::move(member));
    touch(it->first);
    dirty_ = true;
    return true;
  }
  const auto previous = old.status;
  const ChangeKind kind = was_gone                    ? ChangeKind::kJoin
                          : same_visible(old, member) ? ChangeKind::kStatus
                                                      : ChangeKind::kUpdate;
  auto ptr = std::make_shared<const Member>(std::move(member));
  it->second = ptr;
  touch(it->first);
  record(kind, ptr, previous);
  return true;
}

bool MembershipTable::update_locked(const Member& member) {
  auto it = members_.find(member.name);
  if (it == members_.end()) return false;
  Member next = *it->second;
  const bool visible_change = !same_visible(next, member);
  if (!visible_change && next.incarnation == member.incarnation) return false;
  next.addr = member.addr;
  next.port = member.port;
  next.tags = member.tags;
  next.protocol = member.protocol;
  next.incarnation = member.incarnation;
  judge(next);
  if (visible_change) next.last_change = clock_();
  auto ptr = std::make_shared<const Member>(std::move(next));
  it->second = ptr;
  touch(it->first);
  if (visible_change) {
    record(ChangeKind::kUpdate, ptr, ptr->status);
  } else {
    dirty_ = true;
  }
  return true;
}

bool MembershipTable::set_status_locked(std::string_view name, MemberStatus status,
                                        std::optional<std::uint64_t> ltime) {
  auto it = members_.find(name);
  if (it == members_.end()) return false;
  const Member& old = *it->second;
  if (old.status == status && (!ltime || *ltime == old.ltime)) return false;
  Member next = old;
  const auto previous = old.status;
  if (ltime) next.ltime = *ltime;
  if (status != previous) {
    next.status = status;
    next.last_change = clock_();
  }
  auto ptr = std::make_shared<const Member>(std::move(next));
  it->second = ptr;
  touch(it->first);
  if (status == previous) {
    dirty_ = true;
    return true;
  }
  ChangeKind kind = ChangeKind::kStatus;
  if (status == MemberStatus::kLeft) kind = ChangeKind::kLeave;
  if (status == MemberStatus::kFailed) kind = ChangeKind::kFail;
  if (status == MemberStatus::kAlive &&
      (previous == MemberStatus::kLeft || previous == MemberStatus::kFailed)) {
    kind = ChangeKind::kJoin;
  }
  record(kind, ptr, previous);
  return true;
}

bool MembershipTable::reap_locked(std::string_view name) {
  auto it = members_.find(name);
  if (it == members_.end()) return false;
  auto last = it->second;
  members_.erase(it);
  touch(last->name);
  record(ChangeKind::kReap, last, last->status);
  return true;
}

// Every writer entry point: lock, change, publish, then tell subscribers outside the lock.
#define HASERF_WRITE(expr)                   \
  std::unique_lock<std::mutex> lock(mutex_); \
  const bool changed = (expr);               \
  publish_locked();                          \
  flush_events(lock);                        \
  return changed

bool MembershipTable::join(Member member) {
  HASERF_WRITE(join_locked(std::move(member)));
}
bool MembershipTable::update(const Member& member) {
  HASERF_WRITE(update_locked(member));
}
bool MembershipTable::leave(std::string_view name, std::optional<std::uint64_t> ltime) {
  HASERF_WRITE(set_status_locked(name, MemberStatus::kLeft, ltime));
}
bool MembershipTable::fail(std::string_view name) {
  HASERF_WRITE(set_status_locked(name, MemberStatus::kFailed, std::nullopt));
}
bool MembershipTable::set_status(std::string_view name, MemberStatus status,
                                 std::optional<std::uint64_t> ltime) {
  HASERF_WRITE(set_status_locked(name, status, ltime));
}
bool MembershipTable::reap(std::string_view name) {
  HASERF_WRITE(reap_locked(name));
}
#undef HASERF_WRITE

void MembershipTable::set_policy(MemberPolicy policy) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (policy == policy_) return;
  policy_ = std::move(policy);
  for (auto& [name, ptr] : members_) {
    Member next = *ptr;
    judge(next);
    if (next.rejected == ptr->rejected) continue;
    ptr = std::make_shared<const Member>(std::move(next));
    touch(name);
    dirty_ = true;
  }
  publish_locked();
  flush_events(lock);
}

MemberPolicy MembershipTable::policy() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return policy_;
}

void MembershipTable::replace_all(std::vector<Member> members) {
  std::unique_lock<std::mutex> lock(mutex_);
  std::map<std::string, bool, std::less<>> seen;
  for (auto& m : members) {
    seen[m.name] = true;
    join_locked(std::move(m));
  }
  std::vector<std::string> gone;
  for (const auto& [name, member] : members_) {
    if (!seen.count(name)) gone.push_back(name);
  }
  for (const auto& name : gone) reap_locked(name);
  publish_locked();
  flush_events(lock);
}

void MembershipTable::batch(const std::function<void()>& changes) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++batch_depth_;
  }
  // Changes inside call the public entry points; they must not deadlock, so the batch runs
  // its body without holding mutex_ and the entry points see batch_depth_ > 0.
  struct Exit {
    MembershipTable* self;
    ~Exit() {
      std::unique_lock<std::mutex> lock(self->mutex_);
      --self->batch_depth_;
      self->publish_locked();
      self->flush_events(lock);
    }
  } exit{this};
  changes();
}

int MembershipTable::subscribe(Subscriber subscriber) {
  std::lock_guard<std::mutex> lock(subscriber_mutex_);
  const int id = next_subscriber_id_++;
  subscribers_.emplace(id, std::move(subscriber));
  return id;
}

void MembershipTable::unsubscribe(int id) {
  std::lock_guard<std::mutex> lock(subscriber_mutex_);
  subscribers_.erase(id);
}

}  // namespace haserf::table
