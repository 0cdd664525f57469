// SPDX-License-Identifier: MIT
// msgpack writer producing exactly what go-msgpack 0.5.5 writes (§1.1, §1.3): strings and
// []byte both in the old raw-str family (a0-bf, da, db; never d9 or bin), non-negative integers
// in the smallest unsigned form, nil as c0. Internal to core/wire.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <msgpack/pack.hpp>
#include <span>
#include <string_view>

#include "core/wire/messages.hpp"

namespace haserf::wire::mp {

// Stream adapter for msgpack::packer that appends to a byte vector.
struct ByteSink {
  Bytes* out;
  // resize + memcpy rather than a range insert: GCC 12-14 at -O3 inline the insert into a
  // freshly reserved vector and warn about a write past a 1-byte allocation that cannot happen
  // (-Wstringop-overflow / -Warray-bounds false positives, fatal under -Werror).
  void write(const char* p, std::size_t n) {
    if (n == 0) return;
    const std::size_t old = out->size();
    out->resize(old + n);
    std::memcpy(out->data() + old, p, n);
  }
};

class Writer {
 public:
  explicit Writer(Bytes& out) : sink_{&out}, pk_(sink_) {}

  void map(std::uint32_t n) { pk_.pack_map(n); }
  void array(std::uint32_t n) { pk_.pack_array(n); }
  void nil() { pk_.pack_nil(); }
  void boolean(bool v) { v ? pk_.pack_true() : pk_.pack_false(); }
  // msgpack-cxx picks the smallest of fixint/cc/cd/ce/cf, as Go does for any value >= 0.
  void uint(std::uint64_t v) { pk_.pack_uint64(v); }
  void int64(std::int64_t v) {
    if (v >= 0) {
      pk_.pack_uint64(static_cast<std::uint64_t>(v));
    } else {
      pk_.pack_int64(v);
    }
  }
  // A float64, always `cb` + 8 big-endian bytes as Go writes it (msgpack-cxx's pack_double would
  // shorten an integral value such as 0.0 to an integer).
  void f64(double v) {
    const auto bits = std::bit_cast<std::uint64_t>(v);
    char buf[9];
    buf[0] = static_cast<char>(0xcb);
    for (int i = 0; i < 8; ++i) buf[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
    sink_.write(buf, sizeof buf);
  }
  void str(std::string_view s) { raw(s.data(), s.size()); }
  void bytes(std::span<const std::uint8_t> b) {
    raw(reinterpret_cast<const char*>(b.data()), b.size());
  }
  void opt_bytes(const std::optional<Bytes>& b) {
    if (b) {
      bytes(*b);
    } else {
      nil();
    }
  }

 protected:  // NewSpecWriter (codec_rpc.cpp) writes strings and bytes its own way
  void raw(const char* p, std::size_t n) {
    pk_.pack_v4raw(static_cast<std::uint32_t>(n));
    pk_.pack_v4raw_body(p, static_cast<std::uint32_t>(n));
  }

  ByteSink sink_;
  msgpack::packer<ByteSink> pk_;
};

}  // namespace haserf::wire::mp
