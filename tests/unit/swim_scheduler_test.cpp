// SPDX-License-Identifier: MIT
// swim::TimerQueue: deadline order, cancellation (indexed, not a scan) and run_due/advance_to.
#include <catch2/catch.hpp>
#include <vector>

#include "core/swim/scheduler.hpp"

using haserf::swim::TimerId;
using haserf::swim::TimerQueue;
using namespace std::chrono_literals;

TEST_CASE("scheduler: timers run in deadline order, cancelled ones never", "[swim][scheduler]") {
  TimerQueue q;
  std::vector<int> ran;
  q.schedule(30ms, [&] { ran.push_back(3); });
  const TimerId two = q.schedule(20ms, [&] { ran.push_back(2); });
  q.schedule(10ms, [&] { ran.push_back(1); });
  q.cancel(two);
  q.cancel(two);    // twice: a no-op
  q.cancel(12345);  // unknown: a no-op
  CHECK(q.size() == 2);
  q.advance_to(q.now() + 1s);
  CHECK(ran == std::vector<int>{1, 3});
  CHECK(q.empty());
}

TEST_CASE("scheduler: cancelling an id that already ran is a no-op", "[swim][scheduler]") {
  TimerQueue q;
  int runs = 0;
  const TimerId id = q.schedule(0ms, [&] { ++runs; });
  q.run_due();
  q.schedule(5ms, [&] { ++runs; });
  q.cancel(id);  // already ran: must not touch the other timer
  q.advance_to(q.now() + 10ms);
  CHECK(runs == 2);
}

TEST_CASE("scheduler: many timers, half cancelled, the rest run once", "[swim][scheduler]") {
  TimerQueue q;
  constexpr int kTimers = 20000;
  std::vector<TimerId> ids;
  std::vector<int> count(kTimers, 0);
  for (int i = 0; i < kTimers; ++i) {
    // Equal deadlines too: the id breaks ties, cancel must find the exact one.
    ids.push_back(q.schedule(std::chrono::milliseconds(i % 100), [&count, i] { ++count[i]; }));
  }
  for (int i = 0; i < kTimers; i += 2) q.cancel(ids[i]);
  CHECK(q.size() == kTimers / 2);
  // A timer scheduled while running (a probe re-arming itself) is cancellable too.
  TimerId inner = 0;
  bool inner_ran = false;
  q.schedule(50ms, [&] { inner = q.schedule(1ms, [&] { inner_ran = true; }); });
  q.advance_to(q.now() + 50ms);
  q.cancel(inner);
  q.advance_to(q.now() + 1s);
  CHECK_FALSE(inner_ran);
  for (int i = 0; i < kTimers; ++i) CHECK(count[i] == (i % 2 == 0 ? 0 : 1));
  CHECK(q.empty());
}
