// SPDX-License-Identifier: MIT
// core/wire crypto: §10.7 vectors byte for byte, keyring behaviour, base64 keys.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "core/wire/wire.hpp"
#include "tests/unit/wire_test_util.hpp"

using namespace haserf::wire;

namespace {

Bytes seq(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i);
  return b;
}

const Bytes kAck = hex("02 82 a7 50 61 79 6c 6f 61 64 c0 a5 53 65 71 4e 6f 07");

}  // namespace

TEST_CASE("wire: encryption vectors 10.7", "[wire]") {
  const Bytes key = seq(16), nonce = seq(12);
  const Bytes v1 = hex(
      "01 00 01 02 03 04 05 06 07 08 09 0a 0b 91 ee 00 9e 07 62 9b 3b 2a b6 a1 2f 65 c6 01 46 dc "
      "21 d4 dd 67 60 c7 2e c8 d7 65 7d ed dc 05 67 fc 6d");
  const Bytes v0 = hex(
      "00 00 01 02 03 04 05 06 07 08 09 0a 0b 91 ee 00 9e 07 62 9b 3b 2a b6 a1 2f 65 c6 01 46 dc "
      "21 14 e8 5d e3 f3 f8 e8 2f ff 23 1a 4a ac 62 cd d6 49 4a d3 70 7e 12 38 56 58 54 25 f3 8f "
      "74");
  const Bytes tcp = hex(
      "0a 00 00 00 2f 01 00 01 02 03 04 05 06 07 08 09 0a 0b 91 ee 00 9e 07 62 9b 3b 2a b6 a1 2f "
      "65 c6 01 46 dc 21 6d bd 73 f3 00 a2 c3 cf ee ca 1a 71 02 4b 70 57");
  Bytes out;
  REQUIRE(encrypt(1, key, nonce, kAck, {}, out));
  CHECK(out == v1);
  REQUIRE(encrypt(0, key, nonce, kAck, {}, out));
  CHECK(out == v0);
  const Bytes ad = hex("0a 00 00 00 2f");
  REQUIRE(encrypt(1, key, nonce, kAck, ad, out));
  Bytes framed = ad;
  framed.insert(framed.end(), out.begin(), out.end());
  CHECK(framed == tcp);

  Bytes plain;
  REQUIRE(decrypt(key, v1, {}, plain));
  CHECK(plain == kAck);
  REQUIRE(decrypt(key, v0, {}, plain));
  CHECK(plain == kAck);
  REQUIRE(decrypt(key, ByteSpan(tcp).subspan(5), ad, plain));
  CHECK(plain == kAck);
  std::string err;
  // The TCP frame without its header as additional data fails (§9.4 last row).
  CHECK_FALSE(decrypt(key, ByteSpan(tcp).subspan(5), {}, plain, &err));
  CHECK(err == "No installed keys could decrypt the message");
}

TEST_CASE("wire: keyring tries every key: sizes and versions are checked", "[wire]") {
  const Bytes k1(32, 1), k2(24, 2), k3(16, 3);
  Bytes ct;
  REQUIRE(encrypt(k3, kAck, {}, ct));
  CHECK(ct.size() == kAck.size() + 29);
  CHECK(ct[0] == 1);
  Keyring ring{{k1, k2, k3}};
  Bytes plain;
  REQUIRE(decrypt(ring, ct, {}, plain));
  CHECK(plain == kAck);
  std::string err;
  CHECK_FALSE(decrypt(Keyring{{k1, k2}}, ct, {}, plain, &err));
  CHECK(err == "No installed keys could decrypt the message");
  // Two random nonces differ.
  Bytes ct2;
  REQUIRE(encrypt(k3, kAck, {}, ct2));
  CHECK(ct2 != ct);

  Bytes bad = ct;
  bad[0] = 2;
  CHECK_FALSE(decrypt(ring, bad, {}, plain, &err));
  CHECK(err == "Unsupported encryption version 2");
  CHECK_FALSE(decrypt(ring, Bytes(28, 1), {}, plain, &err));
  CHECK(err.find("too small") != std::string::npos);
  CHECK_FALSE(decrypt(ring, Bytes(44, 0), {}, plain, &err));  // version 0 needs 45
  CHECK_FALSE(decrypt(ring, Bytes{}, {}, plain, &err));
  bad = ct;
  bad.back() ^= 1;  // tag
  CHECK_FALSE(decrypt(ring, bad, {}, plain, &err));
  CHECK_FALSE(encrypt(Bytes(15, 0), kAck, {}, ct, &err));
  CHECK_FALSE(encrypt(2, k3, seq(12), kAck, {}, ct, &err));
  CHECK_FALSE(encrypt(1, k3, seq(11), kAck, {}, ct, &err));
  // Version 0 pads an exact multiple of 16 with a full block.
  REQUIRE(encrypt(0, k3, seq(12), Bytes(16, 9), {}, ct));
  CHECK(ct.size() == 1 + 12 + 32 + 16);
  REQUIRE(decrypt(k3, ct, {}, plain));
  CHECK(plain == Bytes(16, 9));
}

TEST_CASE("wire: base64 keys as given to serf agent -encrypt", "[wire]") {
  Bytes key;
  std::string err;
  REQUIRE(parse_key_base64("cYyrjdSx7vBdLnU5WM2mgu6KRumBKEDdbZjYCGBws9I=", key, &err));
  CHECK(key.size() == 32);
  CHECK(key[0] == 0x71);
  CHECK(key_to_base64(key) == "cYyrjdSx7vBdLnU5WM2mgu6KRumBKEDdbZjYCGBws9I=");
  REQUIRE(parse_key_base64(key_to_base64(seq(16)), key));
  CHECK(key == seq(16));
  REQUIRE(parse_key_base64(key_to_base64(seq(24)), key));
  CHECK(key == seq(24));
  CHECK(key_to_base64(seq(16)) == "AAECAwQFBgcICQoLDA0ODw==");
  CHECK_FALSE(parse_key_base64("AAECAwQFBgcICQoLDA0ODw", key, &err));    // no padding
  CHECK_FALSE(parse_key_base64("AAECAwQFBgcICQoLDA0O", key, &err));      // 15 bytes
  CHECK_FALSE(parse_key_base64("AAECAwQFBgcICQoLDA0OD!==", key, &err));  // bad char
  CHECK_FALSE(parse_key_base64("AA==AwQFBgcICQoLDA0ODw==", key, &err));  // inner padding
  CHECK_FALSE(parse_key_base64("", key, &err));
  CHECK(key.empty());
}

TEST_CASE("wire: keyring add/use/remove behave as memberlist's Keyring", "[wire]") {
  const Bytes a(16, 1), b(24, 2), c(32, 3);
  Keyring ring;
  CHECK(ring.primary() == nullptr);
  std::string err;
  CHECK_FALSE(ring.add(Bytes(15, 9), &err));
  CHECK(err == "key size must be 16, 24 or 32 bytes");
  REQUIRE(ring.add(a));
  REQUIRE(ring.add(b));
  REQUIRE(ring.add(c));
  REQUIRE(ring.add(b));  // installed already: no-op
  CHECK(ring.keys == std::vector<Bytes>{a, b, c});
  CHECK(*ring.primary() == a);
  CHECK_FALSE(ring.use(Bytes(16, 7), &err));
  CHECK(err == "Requested key is not in the keyring");
  REQUIRE(ring.use(c));
  CHECK(ring.keys == std::vector<Bytes>{c, a, b});  // the others keep their order
  CHECK_FALSE(ring.remove(c, &err));
  CHECK(err == "Removing the primary key is not allowed");
  REQUIRE(ring.remove(a));
  REQUIRE(ring.remove(Bytes(16, 7)));  // unknown: no-op
  CHECK(ring.keys == std::vector<Bytes>{c, b});
  CHECK(ring.contains(b));
  CHECK_FALSE(ring.contains(a));
}
