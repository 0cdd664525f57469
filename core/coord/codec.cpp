// SPDX-License-Identifier: MIT
// The coordinate on the wire: msgpack as go-msgpack 0.5.5 writes and reads serf's
// coordinate.Coordinate, and serf's ack payload around it (docs/serf-wire-protocol.md §7.11).
#include <array>
#include <string_view>

#include "core/coord/coordinate.hpp"
#include "core/wire/codec.hpp"
#include "core/wire/msgpack_reader.hpp"
#include "core/wire/msgpack_writer.hpp"

namespace haserf::coord {
namespace {

// Go declaration order, for the positional-array form of the struct.
constexpr std::array<std::string_view, 4> kCoordinateOrder = {"Vec", "Error", "Adjustment",
                                                              "Height"};

void write_coordinate(wire::mp::Writer& w, const Coordinate& c) {
  // go-msgpack sorts struct fields by name when it writes a map.
  w.map(4);
  w.str("Adjustment");
  w.f64(c.adjustment);
  w.str("Error");
  w.f64(c.error);
  w.str("Height");
  w.f64(c.height);
  w.str("Vec");
  w.array(static_cast<std::uint32_t>(c.vec.size()));
  for (const double x : c.vec) w.f64(x);
}

bool read_vec(wire::mp::Reader& r, std::vector<double>& out) {
  std::uint32_t n = 0;
  if (!r.read_array_header(n, "Vec")) return false;  // nil reads as empty, as in Go
  if (n > kMaxDecodedDimensionality) {
    return r.fail("Vec: " + std::to_string(n) + " dimensions, more than " +
                  std::to_string(kMaxDecodedDimensionality));
  }
  out.assign(n, 0.0);
  for (double& x : out) {
    if (!r.read_f64(x, "Vec")) return false;
  }
  return true;
}

}  // namespace

wire::Bytes encode(const Coordinate& c) {
  wire::Bytes out;
  out.reserve(20 + 9 * (3 + c.vec.size()));
  wire::mp::Writer w(out);
  write_coordinate(w, c);
  return out;
}

bool decode(std::span<const std::uint8_t> data, Coordinate& out, std::string* err) {
  // Go decodes into a zero Coordinate: missing fields stay 0, a missing Vec stays empty.
  Coordinate c{{}, 0.0, 0.0, 0.0};
  wire::mp::Reader r(data);
  const bool ok = wire::mp::read_struct(r, "Coordinate", kCoordinateOrder, [&](std::string_view k) {
    bool read = false;
    if (k == "Vec") {
      read = read_vec(r, c.vec);
    } else if (k == "Error") {
      read = r.read_f64(c.error, k);
    } else if (k == "Adjustment") {
      read = r.read_f64(c.adjustment, k);
    } else if (k == "Height") {
      read = r.read_f64(c.height, k);
    } else {
      return 0;  // unknown key: skipped
    }
    return read ? 1 : -1;
  });
  if (!ok) {
    if (err) *err = r.error().empty() ? "undecodable coordinate" : r.error();
    return false;
  }
  out = std::move(c);
  return true;
}

wire::Bytes encode_ack_payload(const Coordinate& c) {
  // One allocation through prefixed() (GCC 14 misreads reserve() + push_back() here as a
  // free of a non-heap pointer, -Wfree-nonheap-object).
  return wire::prefixed(kPingVersion, encode(c));
}

std::optional<Coordinate> decode_ack_payload(std::span<const std::uint8_t> payload,
                                             std::string* err) {
  if (payload.empty()) {
    if (err) *err = "empty payload";
    return std::nullopt;
  }
  if (payload[0] != kPingVersion) {
    if (err) *err = "unsupported ping version " + std::to_string(payload[0]);
    return std::nullopt;
  }
  Coordinate c;
  std::string why;
  if (!decode(payload.subspan(1), c, &why)) {
    if (err) *err = "failed to decode coordinate from ping: " + why;
    return std::nullopt;
  }
  return c;
}

}  // namespace haserf::coord
