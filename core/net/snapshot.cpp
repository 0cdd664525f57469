// SPDX-License-Identifier: MIT
#include "core/net/snapshot.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>

#include "core/net/threads.hpp"
#include "core/swim/delegate.hpp"
#include "core/wire/go_traps.hpp"

namespace haserf::net {

namespace {

constexpr std::string_view kAlive = "alive: ";
constexpr std::string_view kNotAlive = "not-alive: ";
constexpr std::string_view kClock = "clock: ";
constexpr std::string_view kEventClock = "event-clock: ";
constexpr std::string_view kQueryClock = "query-clock: ";
constexpr std::string_view kCoordinate = "coordinate: ";
constexpr std::string_view kLeave = "leave";

// serf's snapshotBytesPerNode and snapshotCompactionThreshold.
constexpr std::size_t kBytesPerNode = 128;
constexpr std::size_t kCompactionThreshold = 2;
// Buffered bytes written at once even before the flush interval.
constexpr std::size_t kMaxBuffer = 64 * 1024;

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string errno_text(int e) {
  return std::strerror(e);
}

// One snapshot, line by line (serf Snapshotter.replay, plus the checks Go does not make).
class Replayer {
 public:
  Replayer(const std::string& name, bool rejoin_after_leave, SnapshotReplay& out)
      : name_(name), rejoin_after_leave_(rejoin_after_leave), out_(out) {}

  void skip(std::size_t line_no, const std::string& why) {
    ++out_.malformed;
    if (out_.warnings.size() < SnapshotReplay::kMaxWarnings) {
      out_.warnings.push_back(name_ + ":" + std::to_string(line_no) + ": " + why);
    }
  }

  void line(std::string_view text, std::size_t line_no) {
    if (text.starts_with(kAlive)) {
      const std::string_view info = text.substr(kAlive.size());
      const auto space = info.rfind(' ');
      if (space == std::string_view::npos) return skip(line_no, "alive: no address");
      const std::string_view name = info.substr(0, space);
      const std::string addr(info.substr(space + 1));
      if (name.empty() || has_control_char(name)) {
        return skip(line_no, "alive: empty node name or a control character in it");
      }
      swim::Address a;
      std::string why;
      if (!swim::parse_address(addr, 0, a, &why) || a.port == 0) {
        return skip(line_no, "alive: bad address: " + (why.empty() ? "no port" : why));
      }
      auto it = out_.alive.find(std::string(name));
      if (it == out_.alive.end()) {
        if (out_.alive.size() >= SnapshotReplay::kMaxAlive) {
          return skip(line_no,
                      "alive: more than " + std::to_string(SnapshotReplay::kMaxAlive) + " members");
        }
        out_.alive.emplace(std::string(name), addr);
      } else {
        it->second = addr;
      }
      out_.left = false;
    } else if (text.starts_with(kNotAlive)) {
      const std::string_view name = text.substr(kNotAlive.size());
      if (name.empty() || has_control_char(name)) {
        return skip(line_no, "not-alive: empty node name or a control character in it");
      }
      out_.alive.erase(std::string(name));
    } else if (text.starts_with(kClock)) {
      if (!time(text.substr(kClock.size()), out_.clock, line_no, "clock")) return;
    } else if (text.starts_with(kEventClock)) {
      if (!time(text.substr(kEventClock.size()), out_.event_clock, line_no, "event-clock")) return;
    } else if (text.starts_with(kQueryClock)) {
      if (!time(text.substr(kQueryClock.size()), out_.query_clock, line_no, "query-clock")) return;
    } else if (text.starts_with(kCoordinate)) {
      // Older serf versions persisted coordinates; serf 0.9.4 ignores them, and so do we.
    } else if (text == kLeave) {
      if (rejoin_after_leave_) {
        out_.leave_ignored = true;
      } else {
        out_.alive.clear();
        out_.clock = out_.event_clock = out_.query_clock = 0;
        out_.left = true;
      }
    } else if (text.starts_with("#")) {
      // a comment
    } else {
      std::string shown(text.substr(0, 64));
      for (char& c : shown) {
        if (has_control_char(std::string_view(&c, 1))) c = '?';
      }
      return skip(line_no, "unrecognized line '" + shown + (text.size() > 64 ? "...'" : "'"));
    }
    ++out_.records;
  }

 private:
  bool time(std::string_view text, serf::LamportTime& out, std::size_t line_no, const char* what) {
    serf::LamportTime v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || p != text.data() + text.size()) {
      skip(line_no, std::string(what) + ": not a number");
      return false;
    }
    if (v >= wire::kMaxLamportTime) {  // witnessing it would wrap our clock (SF-5)
      skip(line_no, std::string(what) + ": " + std::to_string(v) + " is near the 64-bit wrap");
      return false;
    }
    out = v;
    return true;
  }

  const std::string& name_;
  bool rejoin_after_leave_;
  SnapshotReplay& out_;
};

// Reads `fd` from offset 0 in chunks, one bounded line at a time.
bool replay_fd(int fd, const std::string& name, bool rejoin_after_leave, SnapshotReplay& out,
               std::string* err) {
  Replayer replayer(name, rejoin_after_leave, out);
  std::string line;
  bool too_long = false;
  std::size_t line_no = 1;
  off_t offset = 0;
  char buf[64 * 1024];
  for (;;) {
    if (static_cast<std::size_t>(offset) >= SnapshotReplay::kMaxBytes) {
      replayer.skip(line_no, "the file is larger than " +
                                 std::to_string(SnapshotReplay::kMaxBytes >> 20) +
                                 " MiB: the rest is ignored");
      return true;
    }
    const ssize_t n = ::pread(fd, buf, sizeof buf, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (err) *err = "snapshot " + name + ": " + errno_text(errno);
      return false;
    }
    if (n == 0) break;
    offset += n;
    std::string_view chunk(buf, static_cast<std::size_t>(n));
    while (!chunk.empty()) {
      const auto nl = chunk.find('\n');
      const std::string_view part = chunk.substr(0, nl);
      if (!too_long) {
        if (line.size() + part.size() > SnapshotReplay::kMaxLine) {
          too_long = true;
          line.clear();
        } else {
          line.append(part);
        }
      }
      if (nl == std::string_view::npos) break;
      chunk.remove_prefix(nl + 1);
      if (too_long) {
        replayer.skip(line_no,
                      "line longer than " + std::to_string(SnapshotReplay::kMaxLine) + " bytes");
      } else {
        replayer.line(line, line_no);
      }
      line.clear();
      too_long = false;
      ++line_no;
    }
  }
  // serf reads whole lines only: a last line without its newline was cut short.
  if (!line.empty() || too_long) replayer.skip(line_no, "last line has no newline (cut short)");
  return true;
}

}  // namespace

void replay_snapshot(std::string_view text, const std::string& name, bool rejoin_after_leave,
                     SnapshotReplay& out) {
  Replayer replayer(name, rejoin_after_leave, out);
  std::size_t line_no = 1;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos) {
      replayer.skip(line_no, "last line has no newline (cut short)");
      return;
    }
    const std::string_view line = text.substr(0, nl);
    if (line.size() > SnapshotReplay::kMaxLine) {
      replayer.skip(line_no,
                    "line longer than " + std::to_string(SnapshotReplay::kMaxLine) + " bytes");
    } else {
      replayer.line(line, line_no);
    }
    text.remove_prefix(nl + 1);
    ++line_no;
  }
}

bool read_snapshot_file(const std::string& path, bool rejoin_after_leave, SnapshotReplay& out,
                        std::string* err) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return true;
    if (err) *err = "snapshot " + path + ": " + errno_text(errno);
    return false;
  }
  const bool ok = replay_fd(fd, path, rejoin_after_leave, out, err);
  ::close(fd);
  return ok;
}

std::string snapshot_address(const std::string& ip, std::uint16_t port) {
  if (ip.find(':') != std::string::npos) return "[" + ip + "]:" + std::to_string(port);
  return ip + ":" + std::to_string(port);
}

// ---------------------------------------------------------------------------------------
// recorder

SnapshotRecorder::SnapshotRecorder(SnapshotOptions options) : options_(std::move(options)) {}

SnapshotRecorder::~SnapshotRecorder() {
  close();
}

bool SnapshotRecorder::open(SnapshotReplay& replayed, std::string* err) {
  if (thread_.joinable() || fd_ >= 0) {
    if (err) *err = "snapshot " + options_.path + ": already open";
    return false;
  }
  const int fd = ::open(options_.path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (err) *err = "snapshot " + options_.path + ": " + errno_text(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    if (err) *err = "snapshot " + options_.path + ": " + errno_text(errno);
    ::close(fd);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    if (err) *err = "snapshot " + options_.path + ": not a regular file";
    ::close(fd);
    return false;
  }
  replayed = SnapshotReplay{};
  if (!replay_fd(fd, options_.path, options_.rejoin_after_leave, replayed, err)) {
    ::close(fd);
    return false;
  }
  malformed_ = replayed.malformed;
  for (const auto& w : replayed.warnings) log("snapshot: " + w + " (skipped)");
  if (replayed.malformed > replayed.warnings.size()) {
    log("snapshot: " + std::to_string(replayed.malformed - replayed.warnings.size()) +
        " more malformed lines skipped in " + options_.path);
  }
  // The recorder continues from what the file says (serf: the snapshotter's own state).
  fd_ = fd;
  offset_ = static_cast<std::int64_t>(st.st_size);
  alive_ = replayed.alive;
  last_clock_ = replayed.clock;
  last_event_clock_ = replayed.event_clock;
  last_query_clock_ = replayed.query_clock;
  try {
    thread_ = start_thread("haserf-snapshot", [this] { run(); });
  } catch (const std::exception& e) {
    if (err) *err = "snapshot " + options_.path + ": " + e.what();
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  return true;
}

void SnapshotRecorder::push(Record record, bool control) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_ || abandoned_) return;
    if (!control) {
      if (queued_members_ >= options_.max_queued) {
        ++dropped_;
        return;
      }
      ++queued_members_;
    }
    queue_.push_back(std::move(record));
  }
  wake_.notify_one();
}

void SnapshotRecorder::alive(const std::string& name, const std::string& addr) {
  push(Record{Kind::kAlive, name, addr}, false);
}

void SnapshotRecorder::not_alive(const std::string& name) {
  push(Record{Kind::kNotAlive, name, {}}, false);
}

void SnapshotRecorder::clocks(serf::LamportTime clock, serf::LamportTime event_ltime,
                              serf::LamportTime query_ltime) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (clock <= clock_ && event_ltime <= event_clock_ && query_ltime <= query_clock_) return;
    clock_ = std::max(clock_, clock);
    event_clock_ = std::max(event_clock_, event_ltime);
    query_clock_ = std::max(query_clock_, query_ltime);
  }
  wake_.notify_one();
}

void SnapshotRecorder::leave() {
  push(Record{Kind::kLeave, {}, {}}, true);
}

void SnapshotRecorder::reset_alive() {
  push(Record{Kind::kReset, {}, {}}, true);
}

void SnapshotRecorder::compact() {
  push(Record{Kind::kCompact, {}, {}}, true);
}

void SnapshotRecorder::hold() {
  std::lock_guard<std::mutex> lock(mutex_);
  held_ = true;
}

void SnapshotRecorder::resume() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    held_ = false;
  }
  wake_.notify_one();
}

void SnapshotRecorder::abandon() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    abandoned_ = true;
  }
  wake_.notify_one();
}

void SnapshotRecorder::close(std::chrono::milliseconds drain) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closing_) {
      closing_ = true;
      deadline_ = std::chrono::steady_clock::now() + drain;
    }
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) {  // the thread never ran
    ::close(fd_);
    fd_ = -1;
  }
}

SnapshotStats SnapshotRecorder::stats() const {
  SnapshotStats s;
  s.lines = lines_;
  s.dropped = dropped_;
  s.write_errors = write_errors_;
  s.compactions = compactions_;
  s.reopened = reopened_;
  s.malformed = malformed_;
  return s;
}

void SnapshotRecorder::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

// ---- writer thread ----

void SnapshotRecorder::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto clocks_pending = [this] {
    return clock_ > last_clock_ ||
           (!leaving_ && (event_clock_ > last_event_clock_ || query_clock_ > last_query_clock_));
  };
  for (;;) {
    const auto has_work = [&] {
      return abandoned_ || closing_ || (!held_ && (!queue_.empty() || clocks_pending()));
    };
    if (!buffer_.empty() && !held_) {
      wake_.wait_until(lock, buffered_since_ + options_.flush_interval, has_work);
    } else {
      wake_.wait(lock, has_work);
    }
    if (abandoned_ || (closing_ && held_)) {
      // A successor owns the file now (or is about to): write nothing more.
      dropped_ += queue_.size();
      queue_.clear();
      queued_members_ = 0;
      lock.unlock();
      buffer_.clear();
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
      return;
    }
    const bool closing = closing_;
    std::deque<Record> batch;
    if (!held_) {
      if (closing && std::chrono::steady_clock::now() >= deadline_) {
        dropped_ += queued_members_;  // past the drain bound; control records still apply
        std::erase_if(queue_, [](const Record& r) {
          return r.kind == Kind::kAlive || r.kind == Kind::kNotAlive;
        });
        queued_members_ = 0;
      }
      batch.swap(queue_);
      queued_members_ = 0;
    }
    const auto clock = clock_, event_clock = event_clock_, query_clock = query_clock_;
    lock.unlock();

    // Clocks first: a clock recorded before a `leave` is forgotten with it on replay, as in
    // serf; the final clocks, recorded at close, come after it.
    apply_clocks(clock, event_clock, query_clock);
    for (const auto& r : batch) apply(r);
    const auto now = std::chrono::steady_clock::now();
    if (!buffer_.empty() && (closing || buffer_.size() >= kMaxBuffer ||
                             now - buffered_since_ >= options_.flush_interval)) {
      flush(false);
    }
    lock.lock();
    if (closing && queue_.empty()) {
      const auto c = clock_, e = event_clock_, q = query_clock_;
      lock.unlock();
      apply_clocks(c, e, q);
      flush(true);
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
      return;
    }
  }
}

void SnapshotRecorder::apply_clocks(serf::LamportTime clock, serf::LamportTime event_ltime,
                                    serf::LamportTime query_ltime) {
  if (clock > last_clock_) {
    last_clock_ = clock;
    append(std::string(kClock) + std::to_string(clock) + "\n");
  }
  if (leaving_) return;  // serf stops recording events once it leaves
  if (event_ltime > last_event_clock_) {
    last_event_clock_ = event_ltime;
    append(std::string(kEventClock) + std::to_string(event_ltime) + "\n");
  }
  if (query_ltime > last_query_clock_) {
    last_query_clock_ = query_ltime;
    append(std::string(kQueryClock) + std::to_string(query_ltime) + "\n");
  }
}

void SnapshotRecorder::apply(const Record& r) {
  switch (r.kind) {
    case Kind::kAlive: {
      // Our own lines must replay: names that would break a line are never written (SF-6).
      if (leaving_ || r.name.empty() || has_control_char(r.name) || has_control_char(r.addr) ||
          r.addr.find(' ') != std::string::npos) {
        return;
      }
      auto [it, inserted] = alive_.try_emplace(r.name, r.addr);
      if (!inserted) {
        if (it->second == r.addr) return;  // already recorded alive at this address
        it->second = r.addr;
      }
      append(std::string(kAlive) + r.name + " " + r.addr + "\n");
      return;
    }
    case Kind::kNotAlive:
      if (leaving_ || alive_.erase(r.name) == 0) return;
      append(std::string(kNotAlive) + r.name + "\n");
      return;
    case Kind::kLeave:
      if (leaving_) return;
      leaving_ = true;
      // serf keeps the members only if it means to rejoin after a leave.
      if (!options_.rejoin_after_leave) alive_.clear();
      append(std::string(kLeave) + "\n");
      flush(true);
      return;
    case Kind::kReset:
      alive_.clear();
      return;
    case Kind::kCompact:
      compact_file();
      return;
  }
}

void SnapshotRecorder::append(const std::string& line) {
  if (buffer_.empty()) buffered_since_ = std::chrono::steady_clock::now();
  buffer_ += line;
  ++lines_;
  offset_ += static_cast<std::int64_t>(line.size());
  // serf's rule: compact past 2 x 128 bytes per alive member, at least min_compact_size.
  const std::size_t threshold =
      std::max(options_.min_compact_size, alive_.size() * kBytesPerNode * kCompactionThreshold);
  if (offset_ > static_cast<std::int64_t>(threshold)) {
    const auto now = std::chrono::steady_clock::now();
    // After a failed compaction, the next attempt waits (a full disk stays full).
    if (last_recovery_ == std::chrono::steady_clock::time_point{} ||
        now - last_recovery_ >= options_.error_recovery_interval) {
      compact_file();
    }
  }
}

bool SnapshotRecorder::reopen_if_replaced() {
  struct stat ours {};
  struct stat theirs {};
  if (fd_ >= 0 && ::fstat(fd_, &ours) == 0 && ::stat(options_.path.c_str(), &theirs) == 0 &&
      ours.st_ino == theirs.st_ino && ours.st_dev == theirs.st_dev) {
    return true;
  }
  const bool had = fd_ >= 0;
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(options_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    write_failed("cannot reopen: " + errno_text(errno));
    return false;
  }
  struct stat st {};
  offset_ = (::fstat(fd_, &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0) +
            static_cast<std::int64_t>(buffer_.size());
  if (had) {
    ++reopened_;
    log("snapshot " + options_.path + " was replaced or removed by someone else: reopened");
  }
  // Removed (not replaced by a predecessor's compaction): write the whole state again.
  if (st.st_size == 0 && !alive_.empty()) compact_file();
  return fd_ >= 0;
}

bool SnapshotRecorder::flush(bool sync) {
  if (buffer_.empty() && !sync) return true;
  if (!reopen_if_replaced()) {
    buffer_.clear();
    return false;
  }
  std::size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : EIO;
      // What did not reach the file is lost; a compaction (below) writes the whole state.
      buffer_.clear();
      write_failed("write: " + errno_text(e));
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
  if (sync && ::fsync(fd_) != 0) {
    write_failed("fsync: " + errno_text(errno));
    return false;
  }
  return true;
}

void SnapshotRecorder::write_failed(const std::string& what) {
  ++write_errors_;
  ++dropped_;
  const auto now = std::chrono::steady_clock::now();
  if (last_recovery_ != std::chrono::steady_clock::time_point{} &&
      now - last_recovery_ < options_.error_recovery_interval) {
    return;  // logged and tried to recover recently
  }
  last_recovery_ = now;
  log("snapshot " + options_.path + ": " + what + " (" + std::to_string(write_errors_) +
      " errors so far); compacting to recover");
  compact_file();
}

bool SnapshotRecorder::compact_file() {
  const std::string tmp = options_.path + ".compact";
  std::string text;
  for (const auto& [name, addr] : alive_) {
    text += std::string(kAlive) + name + " " + addr + "\n";
  }
  if (!leaving_) text += std::string(kClock) + std::to_string(last_clock_) + "\n";
  text += std::string(kEventClock) + std::to_string(last_event_clock_) + "\n";
  text += std::string(kQueryClock) + std::to_string(last_query_clock_) + "\n";
  // Unlike serf, a compaction after our leave keeps it (serf's would forget it), with the
  // member clock after it: the clock recorded after a leave survives its replay.
  if (leaving_) {
    text += std::string(kLeave) + "\n";
    text += std::string(kClock) + std::to_string(last_clock_) + "\n";
  }

  const auto fail = [&](const std::string& why, int fd) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    ++write_errors_;
    last_recovery_ = std::chrono::steady_clock::now();
    log("snapshot " + options_.path + ": compaction failed: " + why);
    return false;
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail("open " + tmp + ": " + errno_text(errno), -1);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("write " + tmp + ": " + errno_text(n < 0 ? errno : EIO), fd);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync " + tmp + ": " + errno_text(errno), fd);
  ::close(fd);
  if (::rename(tmp.c_str(), options_.path.c_str()) != 0) {
    return fail("rename: " + errno_text(errno), -1);
  }
  // The rename itself survives a crash once the folder is synced.
  const auto slash = options_.path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : options_.path.substr(0, slash + 1);
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  if (fd_ >= 0) ::close(fd_);
  buffer_.clear();  // the new file holds the whole state
  fd_ = ::open(options_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    ++write_errors_;
    log("snapshot " + options_.path + ": cannot reopen after compaction: " + errno_text(errno));
  }
  offset_ = static_cast<std::int64_t>(text.size());
  ++compactions_;
  return true;
}

}  // namespace haserf::net
