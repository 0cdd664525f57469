// SPDX-License-Identifier: MIT
// core/wire packet layers: CRC, compound, compress, and the datagram pipelines (§2).
#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "core/wire/wire.hpp"
#include "tests/unit/wire_test_util.hpp"

using namespace haserf::wire;

namespace {

Bytes cpp1_alive() {
  Alive a{1, "cpp1", {10, 0, 0, 2}, 7946, encode_tags({{"role", "db"}}), kOurVsn};
  return message(MsgType::kAlive, a);
}

Bytes cpp1_join() {
  return user_message(serf_message(SerfMsgType::kJoin, SerfJoin{1, "cpp1"}));
}

const Bytes kAck = hex("02 82 a7 50 61 79 6c 6f 61 64 c0 a5 53 65 71 4e 6f 07");

}  // namespace

TEST_CASE("wire: compound with CRC vector 10.5", "[wire]") {
  const Bytes alive = cpp1_alive(), join = cpp1_join();
  REQUIRE(alive.size() == 70);
  REQUIRE(join.size() == 20);
  Bytes compound;
  REQUIRE(encode_compound({alive, join}, compound));
  CHECK(Bytes(compound.begin(), compound.begin() + 6) == hex("07 02 00 46 00 14"));
  const Bytes pkt = add_crc(compound);
  CHECK(pkt.size() == 101);
  CHECK(Bytes(pkt.begin(), pkt.begin() + 5) == hex("0c 78 b1 9a 6b"));
  CHECK(crc32_ieee(compound) == 0x78b19a6bu);
  CHECK(wrap_datagram({alive, join}, WrapOptions{true, false, nullptr}) == pkt);

  std::vector<Bytes> msgs;
  std::string err;
  REQUIRE(unwrap_datagram(pkt, nullptr, msgs, &err));
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[0] == alive);
  CHECK(msgs[1] == join);

  Bytes bad = pkt;
  bad[3] ^= 1;
  msgs.clear();
  CHECK_FALSE(unwrap_datagram(bad, nullptr, msgs, &err));
  CHECK(msgs.empty());
  CHECK(err.find("CRC") != std::string::npos);
  CHECK_FALSE(unwrap_datagram(hex("0c 00 00"), nullptr, msgs, &err));
}

TEST_CASE("wire: compound never emits empty parts and tolerates a truncated tail", "[wire]") {
  Bytes c;
  REQUIRE(encode_compound({kAck, {}, kAck}, c));
  CHECK(c[1] == 2);
  CHECK(c.size() == 2 + 4 + 2 * kAck.size());
  std::string err;
  CHECK_FALSE(encode_compound({{}, {}}, c, &err));
  // memberlist 0.2.2 reads the count as a uint8 times 2: 128 parts or more crash it.
  CHECK_FALSE(encode_compound(std::vector<Bytes>(128, kAck), c, &err));
  REQUIRE(encode_compound(std::vector<Bytes>(127, kAck), c));
  CHECK_FALSE(encode_compound({Bytes(70000, 1)}, c, &err));
  Bytes out;
  CHECK_FALSE(wrap_datagram({{}, {}}, WrapOptions{}, out, &err));
  CHECK(wrap_datagram({{}, kAck}, WrapOptions{}) == kAck);  // one real message: no compound

  // Truncated tail: the complete first part survives.
  REQUIRE(encode_compound({kAck, kAck}, c));
  c.resize(c.size() - 3);
  std::vector<std::span<const std::uint8_t>> parts;
  std::size_t trunc = 0;
  REQUIRE(decode_compound(c, parts, &trunc));
  CHECK(parts.size() == 1);
  CHECK(trunc == 1);
  std::vector<Bytes> msgs;
  CHECK(unwrap_datagram(c, nullptr, msgs));
  CHECK(msgs == std::vector<Bytes>{kAck});

  // A zero-length part (which crashes memberlist 0.2.2) is dropped on receive.
  msgs.clear();
  CHECK(unwrap_datagram(hex("07 01 00 00"), nullptr, msgs));
  CHECK(msgs.empty());
  CHECK_FALSE(decode_compound(hex("07 03 00 01"), parts, nullptr, &err));
  CHECK_FALSE(decode_compound(hex("07"), parts, nullptr, &err));
}

TEST_CASE("wire: datagram pipeline round trips through every layer", "[wire]") {
  const Keyring ring{{Bytes(32, 7), Bytes(16, 9)}};
  const std::vector<Bytes> in = {cpp1_alive(), cpp1_join(), kAck};
  for (bool crc : {false, true}) {
    for (bool comp : {false, true}) {
      for (const Keyring* kr : {static_cast<const Keyring*>(nullptr), &ring}) {
        Bytes pkt;
        std::string err;
        REQUIRE(wrap_datagram(in, WrapOptions{crc, comp, kr}, pkt, &err));
        std::vector<Bytes> out;
        REQUIRE(unwrap_datagram(pkt, kr, out, &err));
        CHECK(out == in);
        if (kr) {
          CHECK(pkt[0] == 1);
          out.clear();
          // Without a key the ciphertext reads as one message of type 1 (§9.4 row 2).
          unwrap_datagram(pkt, nullptr, out, &err);
          CHECK(out.size() == 1);
          out.clear();
          const Keyring other{{Bytes(16, 1)}};
          CHECK_FALSE(unwrap_datagram(pkt, &other, out, &err));
        }
      }
    }
  }
  // Compression kept only when smaller: a lone ack stays plain (§10.6).
  CHECK(wrap_datagram({kAck}, WrapOptions{false, true, nullptr}) == kAck);
  std::vector<Bytes> big(20, cpp1_alive());
  CHECK(wrap_datagram(big, WrapOptions{false, true, nullptr})[0] == 0x09);
}

TEST_CASE("wire: unwrap bounds nesting, size and decompressed output", "[wire]") {
  std::string err;
  std::vector<Bytes> out;
  // compress(compress(compress(compress(compress(ack))))) is 5 layers.
  Bytes m = kAck;
  for (int i = 0; i < 5; ++i) m = compress_message(m);
  CHECK_FALSE(unwrap_datagram(m, nullptr, out, &err));
  CHECK(err.find("nesting") != std::string::npos);
  Limits deep;
  deep.max_nesting = 5;
  out.clear();
  REQUIRE(unwrap_datagram(m, nullptr, out, &err, deep));
  CHECK(out == std::vector<Bytes>{kAck});

  // A compound with one bad compress part still yields the good part.
  Bytes c;
  REQUIRE(encode_compound({kAck, hex("09 82 a4 41 6c 67 6f 01 a3 42 75 66 a0")}, c));
  out.clear();
  CHECK_FALSE(unwrap_datagram(c, nullptr, out, &err));
  CHECK(out == std::vector<Bytes>{kAck});
  CHECK(err.find("unknown algorithm") != std::string::npos);

  // Decompression bomb.
  Bytes bomb = compress_message(Bytes(4 << 20, 0x04));
  CHECK(bomb.size() < 65507);
  out.clear();
  CHECK_FALSE(unwrap_datagram(bomb, nullptr, out, &err));
  CHECK(out.empty());
  // Oversized datagram.
  CHECK_FALSE(unwrap_datagram(Bytes(65508, 0), nullptr, out, &err));
  // hasCrc is only recognised at the top: inside a compound it is an ordinary message.
  Bytes inner = add_crc(kAck);
  REQUIRE(encode_compound({inner}, c));
  out.clear();
  REQUIRE(unwrap_datagram(c, nullptr, out, &err));
  CHECK(out == std::vector<Bytes>{inner});
}
