// SPDX-License-Identifier: MIT
// serf's `-snapshot` file (serf 0.9.4 serf/snapshot.go): what a member appends while it runs
// so that a restart after a crash finds the cluster again and never reuses its old Lamport
// times. Same text format as serf, one record per line:
//
//   alive: NAME IP:PORT      a member joined (NAME may hold spaces: the address is the last
//                            word); IPv6 as [IP]:PORT
//   not-alive: NAME          it left or failed
//   clock: N                 the member clock's last value seen (clock - 1)
//   event-clock: N           the LTime of the newest user event delivered
//   query-clock: N           the LTime of the newest query delivered
//   leave                    we left gracefully: a later start does not rejoin (unless
//                            rejoin_after_leave, serf's -rejoin), and starts from clock 0
//   # ...                    a comment
//   coordinate: ...          older serf versions: ignored, as serf 0.9.4 does
//
// Replay (serf Snapshotter.replay): lines in order; a `leave` forgets every alive member and
// the three clocks (with rejoin_after_leave it is ignored). What is left: the members to
// rejoin and the clocks to witness. A line that does not parse is skipped with a warning
// naming FILE:LINE; a last line without its newline (a write cut short) is skipped too. The
// reader never trusts the file: bounded line length, bounded member count, clocks near the
// 64-bit wrap refused (docs/go-traps.md SF-5), names with control characters refused (SF-6).
//
// Recording: SnapshotRecorder takes records from any thread (the gossip loop) without ever
// blocking on the disk; a thread of its own writes them. As serf: lines are buffered and
// written at most `flush_interval` after they were recorded, fsync'ed on leave, close and
// compaction; when the file grows past max(min_compact_size, 2 x 128 bytes x alive members)
// it is rewritten with only the alive members and the clocks (PATH.compact, fsync, rename).
// A write error drops the buffered lines (counted) and a compaction, at most every 30 s,
// rewrites the whole state.
//
// Ownership: the writer thread is started by open() and joined by close() (or the
// destructor); it never outlives the recorder.
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
#include <string_view>
#include <thread>
#include <vector>

#include "core/serf/lamport.hpp"

namespace haserf::net {

// What a snapshot says once replayed.
struct SnapshotReplay {
  std::map<std::string, std::string> alive;  // name -> "IP:PORT": the members to rejoin
  serf::LamportTime clock = 0;               // witness these at start (serf Create)
  serf::LamportTime event_clock = 0;
  serf::LamportTime query_clock = 0;
  // A `leave` record was applied (not ignored) and no member was recorded alive after it:
  // the previous run left gracefully.
  bool left = false;
  bool leave_ignored = false;         // rejoin_after_leave: a `leave` record was seen and ignored
  std::size_t records = 0;            // lines applied (comments included)
  std::size_t malformed = 0;          // lines skipped
  std::vector<std::string> warnings;  // "FILE:LINE: why", the first kMaxWarnings of them

  static constexpr std::size_t kMaxWarnings = 20;
  static constexpr std::size_t kMaxLine = 16 * 1024;   // longer lines are skipped
  static constexpr std::size_t kMaxAlive = 10000;      // serf::Config::max_members
  static constexpr std::size_t kMaxBytes = 64u << 20;  // the rest of a bigger file is ignored
};

// Replays snapshot text; `name` names it in warnings. Never throws on content.
void replay_snapshot(std::string_view text, const std::string& name, bool rejoin_after_leave,
                     SnapshotReplay& out);
// Replays a file, reading it in bounded chunks. A missing file is an empty snapshot (true);
// false with "snapshot PATH: why" when it cannot be read.
bool read_snapshot_file(const std::string& path, bool rejoin_after_leave, SnapshotReplay& out,
                        std::string* err);

// "IP:PORT" as Go's net.TCPAddr prints it (serf's alive lines): "[IP]:PORT" for IPv6.
std::string snapshot_address(const std::string& ip, std::uint16_t port);

struct SnapshotOptions {
  std::string path;
  bool rejoin_after_leave = false;            // serf's -rejoin: replay ignores `leave` records
  std::size_t min_compact_size = 128 * 1024;  // serf snapshotSizeLimit
  std::chrono::milliseconds flush_interval{500};
  std::chrono::milliseconds error_recovery_interval{30000};  // compaction after a write error
  // Member records waiting for the writer; more are dropped and counted.
  std::size_t max_queued = 16384;
  // Warnings and errors (replay warnings, write errors), from open()'s caller or the writer
  // thread. Must be thread-safe and quick.
  std::function<void(const std::string& line)> log;
};

struct SnapshotStats {
  std::uint64_t lines = 0;         // lines written (compactions excluded)
  std::uint64_t dropped = 0;       // records dropped: queue full, held, write errors
  std::uint64_t write_errors = 0;  // failed writes, fsyncs, compactions
  std::uint64_t compactions = 0;
  std::uint64_t reopened = 0;  // the file was replaced by someone else (a predecessor's compaction)
  std::uint64_t malformed = 0;  // lines skipped by the replay at open()
};

class SnapshotRecorder {
 public:
  explicit SnapshotRecorder(SnapshotOptions options);
  ~SnapshotRecorder();  // close()
  SnapshotRecorder(const SnapshotRecorder&) = delete;
  SnapshotRecorder& operator=(const SnapshotRecorder&) = delete;

  // Opens (creating) the file, replays it into `replayed` (the recorder continues from that
  // state, as serf does) and starts the writer thread. False with "snapshot PATH: why".
  bool open(SnapshotReplay& replayed, std::string* err);

  // ---- records: any thread, never blocking on the disk ----
  void alive(const std::string& name, const std::string& addr);
  void not_alive(const std::string& name);
  // The latest clock values (kept as registers, never dropped; written when they grew):
  // `clock` is the member clock's last value seen (serf: clock.Time() - 1).
  void clocks(serf::LamportTime clock, serf::LamportTime event_ltime,
              serf::LamportTime query_ltime);
  // We leave gracefully: `leave` is written, flushed and fsync'ed; member and event records
  // that follow are ignored (clocks are still written), as serf does.
  void leave();
  // Forget every alive member (a successor took over from a predecessor: the members it
  // imported follow as alive records), then compact once they are written: compact().
  void reset_alive();
  void compact();
  // Handover (predecessor side): hold() stops touching the file (records wait, bounded);
  // resume() continues; abandon() drops everything and writes nothing more.
  void hold();
  void resume();
  void abandon();

  // Writes what is queued for at most `drain` (serf: 250 ms), the clocks, flush, fsync; joins
  // the writer thread. Idempotent.
  void close(std::chrono::milliseconds drain = std::chrono::milliseconds(250));

  SnapshotStats stats() const;
  const std::string& path() const { return options_.path; }

 private:
  enum class Kind : std::uint8_t { kAlive, kNotAlive, kLeave, kReset, kCompact };
  struct Record {
    Kind kind;
    std::string name;
    std::string addr;
  };
  void push(Record record, bool control);
  void run();
  // Writer thread only.
  void apply(const Record& r);
  void apply_clocks(serf::LamportTime clock, serf::LamportTime event_ltime,
                    serf::LamportTime query_ltime);
  void append(const std::string& line);
  bool flush(bool sync);
  bool compact_file();
  bool reopen_if_replaced();
  void write_failed(const std::string& what);
  void log(const std::string& line) const;

  SnapshotOptions options_;
  int fd_ = -1;  // writer thread (open() before it starts)

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Record> queue_;        // guarded by mutex_
  std::size_t queued_members_ = 0;  // guarded by mutex_: alive/not-alive in queue_
  serf::LamportTime clock_ = 0, event_clock_ = 0, query_clock_ = 0;  // guarded: registers
  bool held_ = false;                                                // guarded by mutex_
  bool abandoned_ = false;                                           // guarded by mutex_
  bool closing_ = false;                                             // guarded by mutex_
  std::chrono::steady_clock::time_point deadline_{};  // guarded by mutex_: drain until then

  // Writer thread only (set up by open() before the thread starts).
  std::map<std::string, std::string> alive_;
  serf::LamportTime last_clock_ = 0, last_event_clock_ = 0, last_query_clock_ = 0;
  bool leaving_ = false;
  std::string buffer_;  // lines not written yet
  std::chrono::steady_clock::time_point buffered_since_{};
  std::int64_t offset_ = 0;  // file size, buffered lines included
  std::chrono::steady_clock::time_point last_recovery_{};

  std::atomic<std::uint64_t> lines_{0}, dropped_{0}, write_errors_{0}, compactions_{0},
      reopened_{0}, malformed_{0};
  std::thread thread_;
};

}  // namespace haserf::net
