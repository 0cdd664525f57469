// SPDX-License-Identifier: MIT
// Tolerant, allocation-bounded msgpack reader following the go-msgpack 0.5.5 decode rules (§1.2).
// Internal to core/wire: codecs use it to read message bodies field by field. It never throws
// and never trusts a declared length beyond the bytes actually present.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/wire/messages.hpp"

namespace haserf::wire::mp {

// Result of scanning for one complete msgpack object at the front of a buffer.
enum class Scan { kComplete, kIncomplete, kError };

// Finds the encoded length of the first object in `data` without decoding it. Cost is linear in
// the number of tokens, not bytes (str/bin bodies are skipped by length), so streams can call it
// again after every read.
Scan scan_object(std::span<const std::uint8_t> data, std::size_t& len, int max_depth = 32);

// Human-readable name of a msgpack type byte, for error messages ("bin8 (c4)").
std::string describe(std::uint8_t b);

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> data, int max_depth = 32)
      : data_(data), max_depth_(max_depth) {}

  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }
  const std::string& error() const { return error_; }

  // Records the first error and returns false, so callers can `return r.fail(...)`.
  bool fail(std::string msg);

  // True and consumes the byte when the next value is nil (c0).
  bool take_nil();

  // Strings: fixstr, str8 (d9), str16 (da), str32 (db); nil gives "". bin is rejected as Go does.
  bool read_str(std::string& out, std::string_view field);
  // Map keys: like read_str but zero-copy into the buffer.
  bool read_key(std::string_view& out);
  // []byte: str family, bin family, nil (empty), or an array of small ints.
  bool read_bytes(Bytes& out, std::string_view field);
  // []byte where nil is meaningful (Meta, Payload): nil gives nullopt.
  bool read_opt_bytes(std::optional<Bytes>& out, std::string_view field);
  bool read_bool(bool& out, std::string_view field);
  bool read_u64(std::uint64_t& out, std::string_view field);
  bool read_i64(std::int64_t& out, std::string_view field);
  // float64 as Go decodes it: float32 (ca), float64 (cb), any integer, nil as 0.
  bool read_f64(double& out, std::string_view field);

  // Unsigned read with an overflow check against T (§1.2 "overflow check against the target").
  template <typename T>
  bool read_uint(T& out, std::string_view field) {
    std::uint64_t v = 0;
    if (!read_u64(v, field)) return false;
    if (v > std::numeric_limits<T>::max()) {
      return fail(std::string(field) + ": value " + std::to_string(v) + " overflows the field");
    }
    out = static_cast<T>(v);
    return true;
  }

  // Container headers. nil gives 0 entries. The count is checked against the bytes left (every
  // element needs at least one byte), so a caller may reserve `n` safely.
  bool read_map_header(std::uint32_t& n, std::string_view field);
  bool read_array_header(std::uint32_t& n, std::string_view field);
  bool read_container_header(bool want_map, std::uint32_t& n, std::string_view field);
  // A struct is a map or a positional array (§1.2); nil is a zero struct (n = 0, map).
  bool read_struct_header(bool& is_array, std::uint32_t& n, std::string_view field);

  // Skips one complete value of any type.
  bool skip();

 private:
  bool need(std::size_t n);
  bool read_be(std::size_t width, std::uint64_t& out);
  bool read_raw_len(std::uint8_t b, bool allow_bin, std::uint32_t& len, bool& ok_type);
  bool skip_depth(int depth);

  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
  int max_depth_;
  std::string error_;
};

// Reads a struct encoded as a map (keys in any order, unknown keys skipped) or as a positional
// array in Go declaration order `order` (extra elements skipped). `field(name)` returns 1 when it
// consumed the value, 0 for an unknown key (skipped here) and -1 on error.
template <typename F>
bool read_struct(Reader& r, std::string_view what, std::span<const std::string_view> order,
                 F&& field) {
  bool is_array = false;
  std::uint32_t n = 0;
  if (!r.read_struct_header(is_array, n, what)) return false;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string_view name;
    if (is_array) {
      if (i >= order.size()) {
        if (!r.skip()) return false;
        continue;
      }
      name = order[i];
    } else if (!r.read_key(name)) {
      return false;
    }
    const int res = field(name);
    if (res < 0) return false;
    if (res == 0 && !r.skip()) return false;
  }
  return true;
}

}  // namespace haserf::wire::mp
