// SPDX-License-Identifier: MIT
#include "core/wire/lzw.hpp"

#include <array>
#include <vector>

namespace haserf::wire {
namespace {

constexpr std::uint32_t kClear = 256;
constexpr std::uint32_t kEoi = 257;
constexpr std::uint32_t kMaxCode = 4095;  // 12-bit codes
constexpr unsigned kMinWidth = 9;
constexpr unsigned kMaxWidth = 12;

// Appends codes LSB-first: the first code occupies the low bits of the first byte.
class BitWriter {
 public:
  explicit BitWriter(Bytes& out) : out_(out) {}
  void put(std::uint32_t code, unsigned width) {
    bits_ |= code << nbits_;
    nbits_ += width;
    while (nbits_ >= 8) {
      out_.push_back(static_cast<std::uint8_t>(bits_));
      bits_ >>= 8;
      nbits_ -= 8;
    }
  }
  void flush() {
    if (nbits_ > 0) out_.push_back(static_cast<std::uint8_t>(bits_));
    bits_ = 0;
    nbits_ = 0;
  }

 private:
  Bytes& out_;
  std::uint32_t bits_ = 0;
  unsigned nbits_ = 0;
};

// Dictionary of the encoder: (prefix code, next byte) -> code, open addressing. Any exact map
// gives Go's output, since greedy LZW output depends only on the dictionary's contents.
class Dict {
 public:
  Dict() : slots_(kSize, 0) {}
  void clear() { std::fill(slots_.begin(), slots_.end(), 0u); }
  // Returns the code for `key` or 0 if absent (0 is never a dictionary code).
  std::uint32_t find(std::uint32_t key) const {
    for (std::uint32_t h = hash(key);; h = (h + 1) & kMask) {
      const std::uint32_t s = slots_[h];
      if (s == 0) return 0;
      if ((s >> 12) == key) return s & kMaxCode;
    }
  }
  void insert(std::uint32_t key, std::uint32_t code) {
    std::uint32_t h = hash(key);
    while (slots_[h] != 0) h = (h + 1) & kMask;
    slots_[h] = (key << 12) | code;
  }

 private:
  static constexpr std::uint32_t kSize = 1 << 14;  // 4x the 4096 codes: short probe chains
  static constexpr std::uint32_t kMask = kSize - 1;
  static std::uint32_t hash(std::uint32_t key) { return ((key >> 12) ^ key) & kMask; }
  std::vector<std::uint32_t> slots_;
};

}  // namespace

Bytes lzw_compress(std::span<const std::uint8_t> in) {
  Bytes out;
  out.reserve(in.size() / 2 + 8);
  BitWriter bw(out);
  Dict dict;
  unsigned width = kMinWidth;
  std::uint32_t hi = kEoi;  // last assigned code
  std::uint32_t overflow = 1u << kMinWidth;

  // After emitting a code, the next code is implicitly assigned; at 4095 the table is reset
  // with a clear code written at the current width (Go's incHi). Returns false on reset.
  auto inc_hi = [&]() {
    ++hi;
    if (hi == overflow) {
      ++width;
      overflow <<= 1;
    }
    if (hi == kMaxCode) {
      bw.put(kClear, width);
      width = kMinWidth;
      hi = kEoi;
      overflow = 1u << kMinWidth;
      dict.clear();
      return false;
    }
    return true;
  };

  bw.put(kClear, width);
  if (!in.empty()) {
    std::uint32_t code = in[0];
    for (std::size_t i = 1; i < in.size(); ++i) {
      const std::uint32_t key = (code << 8) | in[i];
      if (const std::uint32_t hit = dict.find(key); hit != 0) {
        code = hit;
        continue;
      }
      bw.put(code, width);
      code = in[i];
      if (inc_hi()) dict.insert(key, hi);
    }
    bw.put(code, width);
    inc_hi();
  }
  bw.put(kEoi, width);
  bw.flush();
  return out;
}

bool lzw_decompress(std::span<const std::uint8_t> in, Bytes& out, std::size_t max_out,
                    std::string* err) {
  out.clear();
  auto fail = [&](const char* msg) {
    if (err) *err = std::string("lzw: ") + msg;
    out.clear();
    return false;
  };
  constexpr std::uint32_t kNone = 0xffff;
  std::array<std::uint16_t, kMaxCode + 1> prefix{};
  std::array<std::uint8_t, kMaxCode + 1> suffix{};
  std::array<std::uint8_t, kMaxCode + 1> stack{};

  unsigned width = kMinWidth;
  std::uint32_t hi = kEoi;  // next code to assign
  std::uint32_t overflow = 1u << kMinWidth;
  std::uint32_t last = kNone;
  std::uint32_t bits = 0;
  unsigned nbits = 0;
  std::size_t pos = 0;

  while (true) {
    while (nbits < width) {
      if (pos >= in.size()) return fail("unexpected end of data (no end-of-information code)");
      bits |= static_cast<std::uint32_t>(in[pos++]) << nbits;
      nbits += 8;
    }
    const std::uint32_t code = bits & ((1u << width) - 1);
    bits >>= width;
    nbits -= width;

    if (code == kClear) {
      width = kMinWidth;
      hi = kEoi;
      overflow = 1u << kMinWidth;
      last = kNone;
      continue;
    }
    if (code == kEoi) return true;
    // code == hi with no previous code only happens once the table is full, when entry 4095 is
    // already defined; it is then an ordinary code, as in Go.
    if (code > hi) return fail("invalid code");

    // Expand `code` into stack[top..] (built backwards), handling KwKwK (code == hi).
    std::size_t top = stack.size();
    std::uint32_t c = code;
    if (code == hi && last != kNone) {
      std::uint32_t head = last;
      while (head >= kClear) head = prefix[head];
      stack[--top] = static_cast<std::uint8_t>(head);
      c = last;
    }
    while (c >= kClear) {
      if (top == 0) return fail("invalid code chain");
      stack[--top] = suffix[c];
      c = prefix[c];
    }
    if (top == 0) return fail("invalid code chain");
    stack[--top] = static_cast<std::uint8_t>(c);
    const std::size_t n = stack.size() - top;
    if (n > max_out - out.size()) return fail("decompressed data exceeds the size limit");
    out.insert(out.end(), stack.begin() + static_cast<std::ptrdiff_t>(top), stack.end());

    if (last != kNone) {
      suffix[hi] = static_cast<std::uint8_t>(c);  // first byte of this expansion
      prefix[hi] = static_cast<std::uint16_t>(last);
    }
    last = code;
    ++hi;
    if (hi >= overflow) {
      if (width == kMaxWidth) {
        // Table full: keep decoding with the existing entries (Go undoes the increment).
        last = kNone;
        --hi;
      } else {
        ++width;
        overflow <<= 1;
      }
    }
  }
}

}  // namespace haserf::wire
