// SPDX-License-Identifier: MIT
// Coordinate arithmetic and the Vivaldi client (serf 0.9.4 coordinate/coordinate.go and
// client.go). The order of floating-point operations follows Go's, so that our coordinates come
// out bit for bit as a serf agent's would from the same observations.
#include "core/coord/coordinate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace haserf::coord {
namespace {

// Below this, two points coincide (serf zeroThreshold), and an rtt is raised to it.
constexpr double kZeroThreshold = 1.0e-6;
constexpr double kNanosPerSecond = 1.0e9;

double magnitude(const std::vector<double>& v) {
  double sum = 0.0;
  for (const double x : v) sum += x * x;
  return std::sqrt(sum);
}

std::vector<double> diff(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> out(a.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = a[i] - b[i];
  return out;
}

bool compatible(const Coordinate& a, const Coordinate& b) {
  return a.vec.size() == b.vec.size();
}

// serf rawDistanceTo: Euclidean distance plus both heights, in seconds.
double raw_distance(const Coordinate& a, const Coordinate& b) {
  return magnitude(diff(a.vec, b.vec)) + a.height + b.height;
}

// serf DistanceTo before the conversion to a Duration, in seconds.
double distance_seconds(const Coordinate& a, const Coordinate& b) {
  const double dist = raw_distance(a, b);
  const double adjusted = dist + a.adjustment + b.adjustment;
  return adjusted > 0.0 ? adjusted : dist;
}

// time.Duration(seconds * 1e9) as compiled for amd64 (Debian's serf): truncation toward zero,
// and CVTTSD2SQ's 0x8000000000000000 for NaN or out of range. Only hostile coordinates get
// there; the Vivaldi step must still see what serf sees.
std::int64_t go_duration_ns(double seconds) {
  const double ns = seconds * kNanosPerSecond;
  // 2^63 is exactly representable; anything at or above it (or NaN) does not fit an int64.
  constexpr double kTwo63 = 9223372036854775808.0;
  if (!(ns < kTwo63 && ns >= -kTwo63)) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(ns);
}

// Go's Duration.Seconds(): whole seconds and the nanosecond remainder converted separately.
double go_seconds(std::int64_t ns) {
  const std::int64_t sec = ns / 1000000000;
  const std::int64_t nsec = ns % 1000000000;
  return static_cast<double>(sec) + static_cast<double>(nsec) / 1e9;
}

// serf's c.DistanceTo(other).Seconds(), round trip through a Duration included.
double go_distance(const Coordinate& a, const Coordinate& b) {
  return go_seconds(go_duration_ns(distance_seconds(a, b)));
}

}  // namespace

Coordinate new_coordinate(const Config& config) {
  Coordinate c;
  c.vec.assign(config.dimensionality, 0.0);
  c.error = config.vivaldi_error_max;
  c.adjustment = 0.0;
  c.height = config.height_min;
  return c;
}

bool is_valid(const Coordinate& c) {
  return std::all_of(c.vec.begin(), c.vec.end(), [](double x) { return std::isfinite(x); }) &&
         std::isfinite(c.error) && std::isfinite(c.adjustment) && std::isfinite(c.height);
}

std::optional<std::chrono::nanoseconds> distance_to(const Coordinate& a, const Coordinate& b) {
  if (!compatible(a, b) || !is_valid(a) || !is_valid(b)) return std::nullopt;
  const double ns = distance_seconds(a, b) * kNanosPerSecond;
  // A distance no Duration can hold is no estimate (Go would give a nonsense negative value).
  constexpr double kTwo63 = 9223372036854775808.0;
  if (!(ns < kTwo63 && ns >= -kTwo63)) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
}

// ---- Client ----

Client::Client(Config config, std::uint64_t seed) : config_(config), rng_(seed) {
  // Go refuses dimensionality 0 and would index an empty sample list with a filter size of 0;
  // our configs are code, not input, so raise them rather than fail.
  config_.dimensionality = std::max<std::size_t>(config_.dimensionality, 1);
  config_.latency_filter_size = std::max<std::size_t>(config_.latency_filter_size, 1);
  coord_ = new_coordinate(config_);
  origin_ = new_coordinate(config_);
  adjustment_samples_.assign(config_.adjustment_window_size, 0.0);
}

bool Client::set_coordinate(const Coordinate& c, std::string* err) {
  if (!compatible(coord_, c)) {
    if (err) *err = "dimensions aren't compatible";
    return false;
  }
  if (!is_valid(c)) {
    if (err) *err = "coordinate is invalid";
    return false;
  }
  coord_ = c;
  return true;
}

std::optional<Coordinate> Client::update(std::string_view node, const Coordinate& other,
                                         std::chrono::nanoseconds rtt, std::string* err) {
  // serf checkCoordinate, then the rtt range; the texts are serf's.
  if (!compatible(coord_, other)) {
    if (err) *err = "dimensions aren't compatible";
    return std::nullopt;
  }
  if (!is_valid(other)) {
    if (err) *err = "coordinate is invalid";
    return std::nullopt;
  }
  if (rtt < std::chrono::nanoseconds::zero() || rtt > kMaxRtt) {
    if (err) {
      *err = "round trip time not in valid range, duration " + std::to_string(rtt.count()) +
             "ns is not a positive value less than 10s";
    }
    return std::nullopt;
  }
  // Coarse monotonic clocks do give 0 (hashicorp/consul#3789); serf accepts it and counts.
  if (rtt == std::chrono::nanoseconds::zero()) ++stats_.zero_rtts;

  const double rtt_seconds = latency_filter(node, go_seconds(rtt.count()));
  update_vivaldi(other, rtt_seconds);
  update_adjustment(other, rtt_seconds);
  update_gravity();
  if (!is_valid(coord_)) {
    ++stats_.resets;
    coord_ = new_coordinate(config_);
  }
  return coord_;
}

void Client::forget_node(std::string_view node) {
  if (const auto it = samples_.find(node); it != samples_.end()) samples_.erase(it);
}

std::optional<std::chrono::nanoseconds> Client::distance_to(const Coordinate& other) const {
  return coord::distance_to(coord_, other);
}

// serf latencyFilter: the median of the last latency_filter_size samples for `node`, damping
// the odd slow ack.
double Client::latency_filter(std::string_view node, double rtt_seconds) {
  auto it = samples_.find(node);
  if (it == samples_.end()) it = samples_.emplace(std::string(node), std::vector<double>{}).first;
  auto& samples = it->second;
  samples.push_back(rtt_seconds);
  if (samples.size() > config_.latency_filter_size) samples.erase(samples.begin());
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  return sorted[sorted.size() / 2];
}

// serf updateVivaldi: move along the line to `other` by how wrong our distance estimate was,
// weighted by how sure we are compared with it.
void Client::update_vivaldi(const Coordinate& other, double rtt_seconds) {
  const double dist = go_distance(coord_, other);
  if (rtt_seconds < kZeroThreshold) rtt_seconds = kZeroThreshold;
  const double wrongness = std::abs(dist - rtt_seconds) / rtt_seconds;

  double total_error = coord_.error + other.error;
  if (total_error < kZeroThreshold) total_error = kZeroThreshold;
  const double weight = coord_.error / total_error;

  coord_.error =
      config_.vivaldi_ce * weight * wrongness + coord_.error * (1.0 - config_.vivaldi_ce * weight);
  if (coord_.error > config_.vivaldi_error_max) coord_.error = config_.vivaldi_error_max;

  const double delta = config_.vivaldi_cc * weight;
  const double force = delta * (rtt_seconds - dist);
  coord_ = apply_force(coord_, force, other);
}

// serf updateAdjustment: half the mean error of the raw distance over the last window of
// samples, which absorbs what the Euclidean model cannot express.
void Client::update_adjustment(const Coordinate& other, double rtt_seconds) {
  if (config_.adjustment_window_size == 0) return;
  const double dist = raw_distance(coord_, other);
  adjustment_samples_[adjustment_index_] = rtt_seconds - dist;
  adjustment_index_ = (adjustment_index_ + 1) % config_.adjustment_window_size;
  double sum = 0.0;
  for (const double s : adjustment_samples_) sum += s;
  coord_.adjustment = sum / (2.0 * static_cast<double>(config_.adjustment_window_size));
}

// serf updateGravity: a small pull towards the origin, so that the whole cluster's coordinates
// do not drift away together.
void Client::update_gravity() {
  const double dist = go_distance(origin_, coord_);
  const double ratio = dist / config_.gravity_rho;
  const double force = -1.0 * (ratio * ratio);  // Go's math.Pow(x, 2) is exactly x * x
  coord_ = apply_force(coord_, force, origin_);
}

// serf ApplyForce: `force` seconds along the unit vector from `other` to `c`; the height grows
// or shrinks in proportion, never below height_min.
Coordinate Client::apply_force(const Coordinate& c, double force, const Coordinate& other) {
  Coordinate ret = c;
  double mag = 0.0;
  const std::vector<double> unit = unit_vector_at(c.vec, other.vec, mag);
  for (std::size_t i = 0; i < ret.vec.size(); ++i) ret.vec[i] = ret.vec[i] + unit[i] * force;
  if (mag > kZeroThreshold) {
    ret.height = (ret.height + other.height) * force / mag + ret.height;
    ret.height = std::max(ret.height, config_.height_min);
  }
  return ret;
}

// serf unitVectorAt: the unit vector from `b` to `a` and the distance between them; when they
// coincide, a random direction (distance 0), so that nodes starting together can separate.
std::vector<double> Client::unit_vector_at(const std::vector<double>& a,
                                           const std::vector<double>& b, double& mag) {
  std::vector<double> ret = diff(a, b);
  mag = magnitude(ret);
  if (mag > kZeroThreshold) {
    const double inv = 1.0 / mag;  // Go multiplies by the reciprocal
    for (double& x : ret) x *= inv;
    return ret;
  }
  mag = 0.0;
  // Go: rand.Float64() - 0.5 per component; a uniform double in [0, 1) from 53 random bits.
  for (double& x : ret) x = static_cast<double>(rng_() >> 11) * 0x1.0p-53 - 0.5;
  if (const double m = magnitude(ret); m > kZeroThreshold) {
    const double inv = 1.0 / m;
    for (double& x : ret) x *= inv;
    return ret;
  }
  // Practically never: a unit vector along the first axis.
  ret.assign(ret.size(), 0.0);
  if (!ret.empty()) ret[0] = 1.0;
  return ret;
}

}  // namespace haserf::coord
