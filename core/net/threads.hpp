// SPDX-License-Identifier: MIT
// Threads haserf starts inside a host process (HAProxy, a Lua interpreter, a C program).
//
// Rule: every thread haserf creates is started through start_thread(), owned by exactly one
// object (a std::thread member, never detached) and joined by that object's stop path before
// the code it runs can go away. The host's signals are its own business: our threads start
// with every signal blocked, so a SIGUSR1 meant for HAProxy's soft-stop can never be
// delivered to (and run HAProxy's handler on) a thread HAProxy does not know.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

namespace haserf::net {

// NAME (at most 15 characters, e.g. "haserf-loop") is the thread's name in /proc/PID/task/*/comm,
// top -H and gdb: an operator (and tests/haproxy/resources.sh) can tell haserf's threads in a
// HAProxy worker from HAProxy's own.
template <typename F>
std::thread start_thread(const char* name, F&& fn) {
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  struct Restore {
    sigset_t* mask;
    ~Restore() { pthread_sigmask(SIG_SETMASK, mask, nullptr); }
  } restore{&previous};
  try {
    // Inherits the all-blocked mask; names itself first (a thread can always name itself).
    return std::thread([name, fn = std::forward<F>(fn)]() mutable {
      ::pthread_setname_np(::pthread_self(), name);
      fn();
    });
  } catch (const std::system_error& e) {
    // HAProxy sets RLIMIT_NPROC to 0 unless `insecure-fork-wanted`: harmless for root, but a
    // worker that dropped to a user (`user haproxy`, a container's USER) can start no thread.
    rlimit nproc{};
    if (e.code().value() == EAGAIN && ::getrlimit(RLIMIT_NPROC, &nproc) == 0 &&
        nproc.rlim_cur == 0) {
      throw std::system_error(e.code(),
                              "cannot start a thread: RLIMIT_NPROC is 0 (HAProxy allows a "
                              "non-root worker no new thread or process unless its global "
                              "section has insecure-fork-wanted)");
    }
    throw;
  }
}

// One owned background thread that runs posted jobs in order (a member's janitor work, the
// render/reload jobs). It starts on the first post() and is joined by stop() (or the
// destructor) after the queued jobs ran; jobs posted after stop() are dropped.
class JobThread {
 public:
  explicit JobThread(const char* name) : name_(name) {}
  ~JobThread() { stop(); }
  JobThread(const JobThread&) = delete;
  JobThread& operator=(const JobThread&) = delete;

  void post(std::function<void()> job) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    jobs_.push_back(std::move(job));
    if (!thread_.joinable()) thread_ = start_thread(name_, [this] { run(); });
    wake_.notify_one();
  }

  // Runs what is queued, then joins. Must not be called from a job.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      wake_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
  }

  bool busy() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return running_ || !jobs_.empty();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, nothing left
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      running_ = true;
      lock.unlock();
      try {
        job();
      } catch (...) {  // a job's failure is its own; the thread keeps serving
      }
      lock.lock();
      running_ = false;
    }
  }

  const char* name_;  // the thread's name (start_thread)
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  bool running_ = false;
  std::thread thread_;
};

}  // namespace haserf::net
