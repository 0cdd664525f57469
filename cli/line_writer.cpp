// SPDX-License-Identifier: MIT
#include "cli/line_writer.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace haserf::cli {

LineWriter::LineWriter(int fd, std::size_t max_bytes)
    : fd_(fd), max_bytes_(max_bytes), thread_([this] { run(); }) {}

LineWriter::~LineWriter() {
  close();
}

bool LineWriter::write_line(std::string line) {
  line.push_back('\n');
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_ || queued_bytes_ + line.size() > max_bytes_) {
      ++dropped_;
      return false;
    }
    queued_bytes_ += line.size();
    queue_.push_back(std::move(line));
  }
  wake_.notify_one();
  return true;
}

void LineWriter::close(std::chrono::milliseconds drain) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closing_) {
      closing_ = true;
      deadline_ = std::chrono::steady_clock::now() + drain;
    }
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t LineWriter::dropped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dropped_;
}

std::uint64_t LineWriter::written() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return written_;
}

void LineWriter::run() {
  std::string line;
  std::size_t done = 0;  // bytes of `line` already written
  for (;;) {
    if (done == line.size()) {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!line.empty()) ++written_;
      line.clear();
      done = 0;
      wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing and drained
      if (closing_ && std::chrono::steady_clock::now() >= deadline_) {
        dropped_ += queue_.size();
        queue_.clear();
        queued_bytes_ = 0;
        return;
      }
      line = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= line.size();
      if (broken_) {
        ++dropped_;
        line.clear();
        continue;
      }
    }
    // Wait for room in short steps, so that close() is noticed even if nobody reads.
    pollfd p{fd_, POLLOUT, 0};
    const int ready = ::poll(&p, 1, 100);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closing_ && std::chrono::steady_clock::now() >= deadline_) {
        dropped_ += queue_.size() + 1;
        queue_.clear();
        queued_bytes_ = 0;
        return;
      }
      continue;
    }
    if (ready < 0 || (p.revents & (POLLERR | POLLNVAL)) != 0) {
      broken_ = true;
    } else {
      // At most PIPE_BUF: a pipe that reported room takes it without blocking.
      const std::size_t chunk = std::min<std::size_t>(line.size() - done, PIPE_BUF);
      const ssize_t n = ::write(fd_, line.data() + done, chunk);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      broken_ = true;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    ++dropped_;
    line.clear();
    done = 0;
  }
}

}  // namespace haserf::cli
