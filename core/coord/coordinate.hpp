// SPDX-License-Identifier: MIT
// Door of core/coord: Vivaldi network coordinates exactly as serf 0.9.4 computes and encodes
// them (serf's coordinate package), so that `serf rtt` works to and from haserf nodes.
//
// A coordinate is a point in an 8-dimensional Euclidean space plus a height (the access link)
// and an adjustment (a per-node offset learnt over a window of samples), all in seconds; the
// estimated round trip time between two nodes is the distance between their coordinates. Each
// node moves its own coordinate a little after every direct probe of another node (rtt
// measured, the other's coordinate read from the ack payload: docs/serf-wire-protocol.md §7.11).
//
// Pure: no clock, no I/O, no threads. A Client is single-threaded (serf runs it on the loop
// thread). Nothing here throws on network input: decoding returns nullopt/false.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/wire/messages.hpp"

namespace haserf::coord {

// Tuning of the algorithm; the defaults are serf's DefaultConfig(), which every serf agent
// uses (nodes with other values would not agree on what a coordinate means).
struct Config {
  std::size_t dimensionality = 8;
  double vivaldi_error_max = 1.5;           // error of a fresh coordinate, and the cap
  double vivaldi_ce = 0.25;                 // how fast the error estimate moves
  double vivaldi_cc = 0.25;                 // how fast the coordinate moves
  std::size_t adjustment_window_size = 20;  // 0: no adjustment term
  double height_min = 10.0e-6;
  std::size_t latency_filter_size = 3;  // rtt samples per node; the median is used
  double gravity_rho = 150.0;           // pull towards the origin against drift
};

// serf's coordinate.Coordinate. Units: seconds (error is dimensionless). Defaults are a fresh
// coordinate for the default Config: at the origin, maximal error.
struct Coordinate {
  std::vector<double> vec = std::vector<double>(8, 0.0);
  double error = 1.5;
  double adjustment = 0.0;
  double height = 10.0e-6;
  bool operator==(const Coordinate&) const = default;
};

// A fresh coordinate for `config` (serf NewCoordinate).
Coordinate new_coordinate(const Config& config = {});
// Every component finite (serf IsValid).
bool is_valid(const Coordinate& c);

// The estimated round trip time between two coordinates (serf's Coordinate.DistanceTo): the
// Euclidean distance plus both heights, plus both adjustments unless that makes it <= 0;
// truncated to whole nanoseconds as Go's time.Duration. nullopt when the dimensions differ or a
// component is not finite (Go would panic or return garbage).
std::optional<std::chrono::nanoseconds> distance_to(const Coordinate& a, const Coordinate& b);

// ---- wire (§7.11) ----

// The version byte in front of the coordinate in an ack payload (serf PingVersion).
inline constexpr std::uint8_t kPingVersion = 1;
// Longest Vec accepted from the network; anything longer is refused while decoding (a real
// peer sends 8, and a Client refuses any other length anyway).
inline constexpr std::size_t kMaxDecodedDimensionality = 64;

// msgpack exactly as go-msgpack 0.5.5 writes a coordinate.Coordinate: a map of 4 keys in
// sorted order (Adjustment, Error, Height, Vec), every float as float64 `cb`.
wire::Bytes encode(const Coordinate& c);
// Reads what Go accepts for a Coordinate: a map (any key order, unknown keys skipped, missing
// ones zero), a positional array in Go declaration order (Vec, Error, Adjustment, Height) or
// nil; floats as ca/cb/integers. Trailing bytes are ignored, as Go's stream decoder does.
// False (and `err`) on anything else; never throws.
bool decode(std::span<const std::uint8_t> data, Coordinate& out, std::string* err = nullptr);

// serf's AckPayload: kPingVersion + encode(c). 130 bytes for a fresh coordinate.
wire::Bytes encode_ack_payload(const Coordinate& c);
// serf's NotifyPingComplete parsing: nullopt (and `err`) when the payload is empty, the version
// byte is not kPingVersion, or the coordinate does not decode. Validity (NaN, dimensions) is the
// Client's business, as in serf.
std::optional<Coordinate> decode_ack_payload(std::span<const std::uint8_t> payload,
                                             std::string* err = nullptr);

// ---- the Vivaldi client ----

struct ClientStats {
  std::uint64_t resets = 0;     // our coordinate became invalid and was reset (serf Resets)
  std::uint64_t zero_rtts = 0;  // updates with an rtt of 0, accepted (serf's zero-rtt counter)
};

// serf's coordinate.Client: our coordinate, moved by each observation of another node.
class Client {
 public:
  // Longest rtt an update accepts (serf's maxRTT).
  static constexpr std::chrono::nanoseconds kMaxRtt = std::chrono::seconds(10);

  // `seed` drives the random direction used when two coordinates coincide (Go uses math/rand).
  // A dimensionality or latency filter size of 0 (Go refuses or would panic) is raised to 1.
  explicit Client(Config config = {}, std::uint64_t seed = std::random_device{}());

  const Coordinate& coordinate() const { return coord_; }
  const Config& config() const { return config_; }
  const ClientStats& stats() const { return stats_; }
  // Forces our coordinate (serf SetCoordinate); false when invalid or of another dimension.
  bool set_coordinate(const Coordinate& c, std::string* err = nullptr);

  // One observation (serf Client.Update): `other` is `node`'s coordinate, `rtt` the time from
  // our ping to its ack. Refused (nullopt, `err`, nothing changes) when `other` has another
  // dimensionality or a non-finite component, or rtt is negative or above kMaxRtt; 0 is
  // accepted as in Go. Otherwise applies the median latency filter for `node`, the Vivaldi
  // step, the adjustment window and gravity, and returns our new coordinate (reset to a fresh
  // one if the arithmetic went non-finite).
  std::optional<Coordinate> update(std::string_view node, const Coordinate& other,
                                   std::chrono::nanoseconds rtt, std::string* err = nullptr);
  // Drops the rtt samples kept for `node` (serf ForgetNode, when it is reaped).
  void forget_node(std::string_view node);
  // Nodes with rtt samples.
  std::size_t tracked_nodes() const { return samples_.size(); }

  // The estimated rtt from us to `other`: distance_to(coordinate(), other).
  std::optional<std::chrono::nanoseconds> distance_to(const Coordinate& other) const;

 private:
  double latency_filter(std::string_view node, double rtt_seconds);
  void update_vivaldi(const Coordinate& other, double rtt_seconds);
  void update_adjustment(const Coordinate& other, double rtt_seconds);
  void update_gravity();
  Coordinate apply_force(const Coordinate& c, double force, const Coordinate& other);
  std::vector<double> unit_vector_at(const std::vector<double>& a, const std::vector<double>& b,
                                     double& mag);

  Config config_;
  Coordinate coord_;
  Coordinate origin_;
  std::vector<double> adjustment_samples_;
  std::size_t adjustment_index_ = 0;
  std::map<std::string, std::vector<double>, std::less<>> samples_;  // oldest first
  std::mt19937_64 rng_;
  ClientStats stats_;
};

}  // namespace haserf::coord
