// SPDX-License-Identifier: MIT
// Lifeguard suspicion timeouts (§6.3): a suspected node is declared dead after a timeout that
// starts long and shrinks as independent peers confirm the suspicion.
#pragma once

#include <cmath>
#include <set>
#include <string>

#include "core/swim/scheduler.hpp"

namespace haserf::swim {

// SuspicionMult * max(1, log10(max(1, n))) * interval, computed in milliseconds like Go.
inline Duration suspicion_timeout(int mult, std::size_t n, Duration interval) {
  const double node_scale = std::max(1.0, std::log10(std::max(1.0, static_cast<double>(n))));
  const auto scaled = static_cast<std::int64_t>(node_scale * 1000.0);
  return interval * mult * scaled / 1000;
}

// Remaining time after `n` of `k` expected confirmations, `elapsed` since the start.
inline Duration remaining_suspicion_time(int n, int k, Duration elapsed, Duration min,
                                         Duration max) {
  const double frac = std::log(n + 1.0) / std::log(k + 1.0);
  const double max_s = std::chrono::duration<double>(max).count();
  const double min_s = std::chrono::duration<double>(min).count();
  const double raw = max_s - frac * (max_s - min_s);
  Duration timeout = std::chrono::milliseconds(static_cast<std::int64_t>(std::floor(1000.0 * raw)));
  if (timeout < min) timeout = min;
  return timeout - elapsed;
}

struct Suspicion {
  int k = 0;  // confirmations expected
  int n = 0;  // confirmations received
  Duration min{}, max{};
  TimePoint start{};
  std::set<std::string> confirmations;
  TimerId timer = 0;
};

}  // namespace haserf::swim
