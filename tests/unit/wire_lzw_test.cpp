// SPDX-License-Identifier: MIT
// core/wire LZW: the §10.6 vector, round trips that force table resets, hostile input.
#include <catch2/catch.hpp>
#include <random>
#include <sstream>
#include <string>

#include "core/wire/wire.hpp"
#include "tests/unit/wire_test_util.hpp"

using namespace haserf::wire;

namespace {


// Packs 9-bit codes LSB-first, for hand-made streams.
Bytes pack9(const std::vector<std::uint32_t>& codes) {
  Bytes out;
  std::uint32_t bits = 0;
  unsigned n = 0;
  for (auto c : codes) {
    bits |= c << n;
    n += 9;
    while (n >= 8) {
      out.push_back(static_cast<std::uint8_t>(bits));
      bits >>= 8;
      n -= 8;
    }
  }
  if (n) out.push_back(static_cast<std::uint8_t>(bits));
  return out;
}

void round_trip(const Bytes& in) {
  const Bytes c = lzw_compress(in);
  Bytes out;
  std::string err;
  REQUIRE(lzw_decompress(c, out, in.size(), &err));
  CHECK(out == in);
}

}  // namespace

TEST_CASE("wire: lzw vector 10.6 and compress wrapper", "[wire]") {
  const Bytes ack = hex("02 82 a7 50 61 79 6c 6f 61 64 c0 a5 53 65 71 4e 6f 07");
  const Bytes lzw = hex("00 05 08 3a 05 25 4c 1e 36 6f c2 90 01 56 6a 4a 99 38 4e de 1c 08 08");
  CHECK(lzw_compress(ack) == lzw);
  Bytes out;
  REQUIRE(lzw_decompress(lzw, out, 1000));
  CHECK(out == ack);
  Bytes wrapped = hex("09 82 a4 41 6c 67 6f 00 a3 42 75 66 b7");
  wrapped.insert(wrapped.end(), lzw.begin(), lzw.end());
  CHECK(compress_message(ack) == wrapped);
  REQUIRE(decompress_message(wrapped, out, 1000));
  CHECK(out == ack);
}

TEST_CASE("wire: lzw edge cases", "[wire]") {
  // Empty input: clear + EOI, like Go's Close without Write.
  const Bytes empty = lzw_compress({});
  CHECK(empty == pack9({256, 257}));
  Bytes out{1, 2, 3};
  REQUIRE(lzw_decompress(empty, out, 10));
  CHECK(out.empty());
  round_trip(Bytes{42});
  round_trip(Bytes{1, 1});
  round_trip(Bytes(3, 7));  // KwKwK on the second code
  // Without the leading clear code (Go before 1.17).
  REQUIRE(lzw_decompress(pack9({'a', 'b', 258, 257}), out, 10));
  CHECK(out == Bytes{'a', 'b', 'a', 'b'});
  // KwKwK by hand: a, 258 (= "aa"), EOI.
  REQUIRE(lzw_decompress(pack9({'a', 258, 257}), out, 10));
  CHECK(out == Bytes{'a', 'a', 'a'});
  // Bytes after EOI are ignored.
  Bytes trailing = pack9({256, 'x', 257});
  trailing.push_back(0xff);
  REQUIRE(lzw_decompress(trailing, out, 10));
  CHECK(out == Bytes{'x'});
}

TEST_CASE("wire: lzw round trips on 100 KB inputs with many table resets", "[wire]") {
  std::mt19937 rng(1234);
  Bytes random(100 * 1024);
  for (auto& b : random) b = static_cast<std::uint8_t>(rng());
  round_trip(random);
  // Random data fills the 4096-code table every ~3800 codes: dozens of resets.
  CHECK(lzw_compress(random).size() > random.size());

  Bytes text;
  const std::string words[] = {"alive ", "suspect ", "dead ", "web1 ", "web2 ", "\x00\xc0 "};
  while (text.size() < 100 * 1024) {
    const auto& w = words[rng() % 6];
    text.insert(text.end(), w.begin(), w.end());
  }
  round_trip(text);
  CHECK(lzw_compress(text).size() < text.size() / 2);

  round_trip(Bytes(100 * 1024, 0xc0));  // serf's nil-filled ring, at the extreme
  Bytes small_alpha(100 * 1024);
  for (auto& b : small_alpha) b = static_cast<std::uint8_t>(rng() % 4);
  round_trip(small_alpha);
}

TEST_CASE("wire: lzw rejects bad input without crashing", "[wire]") {
  Bytes out;
  std::string err;
  CHECK_FALSE(lzw_decompress({}, out, 100, &err));
  CHECK(err.find("end-of-information") != std::string::npos);
  // Missing EOI.
  Bytes c = lzw_compress(Bytes(50, 'z'));
  c.pop_back();
  c.pop_back();
  CHECK_FALSE(lzw_decompress(c, out, 1000, &err));
  // A code beyond the next free one.
  CHECK_FALSE(lzw_decompress(pack9({256, 'a', 300, 257}), out, 100, &err));
  CHECK(err.find("invalid code") != std::string::npos);
  // Right after a clear, 258 is not yet defined.
  CHECK_FALSE(lzw_decompress(pack9({256, 258, 257}), out, 100, &err));
  // Output bound.
  const Bytes bomb = lzw_compress(Bytes(1 << 20, 0));
  CHECK(bomb.size() < 10000);
  CHECK_FALSE(lzw_decompress(bomb, out, 4096, &err));
  CHECK(err.find("limit") != std::string::npos);
  CHECK(out.empty());
  // Garbage never crashes.
  std::mt19937 rng(99);
  for (int i = 0; i < 2000; ++i) {
    Bytes g(rng() % 300);
    for (auto& b : g) b = static_cast<std::uint8_t>(rng());
    lzw_decompress(g, out, 1 << 16);
    CHECK(out.size() <= (1u << 16));
  }
}
