// SPDX-License-Identifier: MIT
// Time for the state machines is injected: they never read a clock or sleep, they ask a
// Scheduler. The net layer runs one on the libuv loop; tests run one with a manual clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <unordered_map>

namespace haserf::swim {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;
using TimerId = std::uint64_t;

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual TimePoint now() const = 0;
  // Runs `fn` once, `delay` from now (on the same thread as every other call). Never runs
  // it inline.
  virtual TimerId schedule(Duration delay, std::function<void()> fn) = 0;
  // Cancelling an unknown or already-run id is a no-op.
  virtual void cancel(TimerId id) = 0;
  virtual std::mt19937_64& rng() = 0;
};

// A Scheduler driven from outside: set_now() then run_due(). The net layer arms one libuv
// timer at next_deadline(); tests advance a fake clock.
class TimerQueue : public Scheduler {
 public:
  explicit TimerQueue(TimePoint start = Clock::now(), std::uint64_t seed = std::random_device{}())
      : now_(start), rng_(seed) {}

  TimePoint now() const override { return now_; }
  TimerId schedule(Duration delay, std::function<void()> fn) override {
    const TimerId id = next_id_++;
    timers_.emplace(std::make_pair(now_ + delay, id), std::move(fn));
    deadline_of_.emplace(id, now_ + delay);
    return id;
  }
  // O(log n): with 1,000 members every probe, suspicion and push/pull cancels timers, and a
  // scan of all of them per cancel was the loop's hot spot.
  void cancel(TimerId id) override {
    const auto d = deadline_of_.find(id);
    if (d == deadline_of_.end()) return;
    timers_.erase(std::make_pair(d->second, id));
    deadline_of_.erase(d);
  }
  std::mt19937_64& rng() override { return rng_; }

  void set_now(TimePoint now) {
    if (now > now_) now_ = now;
  }
  // Runs every timer due at or before now(), in deadline order (timers scheduled while
  // running that are already due run too). Returns how many ran.
  std::size_t run_due() {
    std::size_t ran = 0;
    while (!timers_.empty() && timers_.begin()->first.first <= now_) {
      auto fn = std::move(timers_.begin()->second);
      deadline_of_.erase(timers_.begin()->first.second);
      timers_.erase(timers_.begin());
      fn();
      ++ran;
    }
    return ran;
  }
  // Advances the clock step by step to `until`, running timers at their own deadlines.
  void advance_to(TimePoint until) {
    while (!timers_.empty() && timers_.begin()->first.first <= until) {
      set_now(timers_.begin()->first.first);
      run_due();
    }
    set_now(until);
  }
  bool empty() const { return timers_.empty(); }
  TimePoint next_deadline() const { return timers_.empty() ? TimePoint::max() : timers_.begin()->first.first; }
  std::size_t size() const { return timers_.size(); }

 private:
  TimePoint now_;
  std::mt19937_64 rng_;
  TimerId next_id_ = 1;
  std::map<std::pair<TimePoint, TimerId>, std::function<void()>> timers_;
  std::unordered_map<TimerId, TimePoint> deadline_of_;  // id -> its key in timers_, for cancel()
};

}  // namespace haserf::swim
