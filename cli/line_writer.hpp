// SPDX-License-Identifier: MIT
// Lines for a file descriptor (haserf agent's stdout), written by a thread of their own: the
// gossip loop only queues, so a slow or stalled reader can never stall the member (the cluster
// would mark it failed). The queue is bounded; lines past the bound are dropped and counted.
//
// Ownership: the writer thread is started by the constructor and joined by close() (or the
// destructor); it never outlives the object. Writes never block it indefinitely: it waits for
// the descriptor with poll() and writes at most PIPE_BUF bytes when poll says there is room,
// so close() returns within its bound even if nobody reads — for pipes (systemd, shells,
// supervisors) and files. A blocking socket or a tty stopped with XOFF can still block one
// write(); the gossip loop never waits for it, but close() then waits for that write.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace haserf::cli {

class LineWriter {
 public:
  // max_bytes: queued bytes beyond which new lines are dropped.
  explicit LineWriter(int fd, std::size_t max_bytes = 16u << 20);
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // Any thread; never blocks on the descriptor. A newline is appended. False: dropped.
  bool write_line(std::string line);
  // Writes what is queued for at most `drain`, then stops the thread (the rest is dropped
  // and counted). Idempotent.
  void close(std::chrono::milliseconds drain = std::chrono::seconds(2));

  std::uint64_t dropped() const;
  std::uint64_t written() const;

 private:
  void run();

  int fd_;
  std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;  // guarded by mutex_
  std::size_t queued_bytes_ = 0;   // guarded by mutex_
  std::uint64_t dropped_ = 0;      // guarded by mutex_
  std::uint64_t written_ = 0;      // guarded by mutex_
  bool closing_ = false;           // guarded by mutex_: no new lines; drain until deadline
  std::chrono::steady_clock::time_point deadline_{};  // guarded by mutex_
  bool broken_ = false;  // writer thread only: the descriptor failed (EPIPE...), drop all
  std::thread thread_;
};

}  // namespace haserf::cli
