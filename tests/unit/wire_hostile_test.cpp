// SPDX-License-Identifier: MIT
// core/wire on hostile input: truncation, wrong types, huge declared lengths, deep nesting and
// random mutations must fail cleanly, without crashes or large allocations.
#include <catch2/catch.hpp>
#include <random>
#include <sstream>
#include <string>

#include "core/wire/msgpack_reader.hpp"
#include "core/wire/wire.hpp"
#include "tests/unit/wire_test_util.hpp"

using namespace haserf::wire;

namespace {


// Runs every decoder over `b`; the only requirement is that nothing crashes or throws.
void decode_all(ByteSpan b) {
  Ping p;
  IndirectPing ip;
  Ack a;
  Nack n;
  Suspect s;
  Alive al;
  Dead d;
  ErrResp e;
  PushPullHeader h;
  PushNodeState ns;
  UserMsgHeader uh;
  Compress c;
  SerfJoin j;
  SerfLeave l;
  SerfUserEvent ue;
  SerfPushPull spp;
  SerfQuery q;
  SerfQueryResponse r;
  PushPull pp;
  Tags t;
  std::string err;
  decode(b, p, &err);
  decode(b, ip, &err);
  decode(b, a, &err);
  decode(b, n, &err);
  decode(b, s, &err);
  decode(b, al, &err);
  decode(b, d, &err);
  decode(b, e, &err);
  decode(b, h, &err);
  decode(b, ns, &err);
  decode(b, uh, &err);
  decode(b, c, &err);
  decode(b, j, &err);
  decode(b, l, &err);
  decode(b, ue, &err);
  decode(b, spp, &err);
  decode(b, q, &err);
  decode(b, r, &err);
  decode_push_pull(b, pp, &err);
  decode_tags(b, t, &err);
  std::vector<Bytes> msgs;
  unwrap_datagram(b, nullptr, msgs, &err);
  StreamReader sr;
  sr.feed(b);
  sr.poll();
}

}  // namespace

TEST_CASE("wire: huge declared lengths fail without allocating", "[wire]") {
  Alive a;
  SerfPushPull spp;
  SerfUserEvents ev;
  std::string err;
  // str32 / bin32 / array32 / map32 claiming 4 GiB.
  CHECK_FALSE(decode(hex("81 a4 4e 6f 64 65 db ff ff ff ff 61"), a, &err));
  CHECK_FALSE(decode(hex("81 a4 41 64 64 72 c6 ff ff ff ff 61"), a, &err));
  CHECK_FALSE(decode(hex("81 a3 56 73 6e dd ff ff ff ff 01"), a, &err));
  CHECK_FALSE(decode(hex("df ff ff ff ff a1 61"), a, &err));
  CHECK_FALSE(decode(hex("81 a6 45 76 65 6e 74 73 dd ff ff ff ff c0"), spp, &err));
  CHECK_FALSE(decode(hex("81 ac 53 74 61 74 75 73 4c 54 69 6d 65 73 df 7f ff ff ff"), spp, &err));
  CHECK_FALSE(decode(hex("81 ab 4c 65 66 74 4d 65 6d 62 65 72 73 dd 00 10 00 00 c0"), spp, &err));
  // Unknown key whose value is huge: skipped by length, still bounded by the data.
  CHECK_FALSE(decode(hex("81 a1 5a db 7f ff ff ff"), a, &err));
  // push/pull claiming 2^40 nodes.
  PushPull pp;
  CHECK_FALSE(
      decode_push_pull(hex("06 81 a5 4e 6f 64 65 73 cf 00 00 01 00 00 00 00 00"), pp, &err));
  CHECK_FALSE(
      decode_push_pull(hex("06 81 ac 55 73 65 72 53 74 61 74 65 4c 65 6e cd ff ff"), pp, &err));
  CHECK(err.find("user state") != std::string::npos);
}

TEST_CASE("wire: deep msgpack nesting is bounded", "[wire]") {
  Bytes deep = hex("81 a1 5a");  // {"Z": [[[[...]]]]}
  for (int i = 0; i < 100000; ++i) deep.push_back(0x91);
  deep.push_back(0xc0);
  Alive a;
  std::string err;
  CHECK_FALSE(decode(deep, a, &err));
  CHECK(err.find("deep") != std::string::npos);
  std::size_t len = 0;
  CHECK(mp::scan_object(ByteSpan(deep).subspan(3), len) == mp::Scan::kError);
  // A large but shallow object scans fine and reports its length.
  Bytes flat = hex("dc 03 e8");
  flat.insert(flat.end(), 1000, 0xc0);
  CHECK(mp::scan_object(flat, len) == mp::Scan::kComplete);
  CHECK(len == flat.size());
  CHECK(mp::scan_object(ByteSpan(flat).first(500), len) == mp::Scan::kIncomplete);
  CHECK(mp::scan_object(hex("c1"), len) == mp::Scan::kError);
}

TEST_CASE("wire: every prefix of valid messages fails cleanly", "[wire]") {
  Alive al{7, "web1", {127, 0, 0, 1}, 17946, encode_tags({{"role", "backend"}}), kOurVsn};
  const Bytes body = encode(al);
  for (std::size_t n = 0; n < body.size(); ++n) {
    Alive out;
    std::string err;
    CHECK_FALSE(decode(ByteSpan(body).first(n), out, &err));
    CHECK_FALSE(err.empty());
  }
  PushPull pp;
  pp.Nodes.push_back(PushNodeState{"web1", {127, 0, 0, 1}, 1, {}, 1, NodeState::kAlive, kOurVsn});
  pp.UserState = Bytes(20, 0xc0);
  const Bytes full = encode_push_pull(pp);
  for (std::size_t n = 0; n < full.size(); ++n) {
    PushPull out;
    CHECK_FALSE(decode_push_pull(ByteSpan(full).first(n), out));
    StreamReader r;
    r.feed(ByteSpan(full).first(n));
    CHECK(r.poll() == StreamStatus::kNeedMore);
  }
}

TEST_CASE("wire: random mutations never crash any decoder", "[wire]") {
  const Keyring ring{{Bytes(16, 3)}};
  std::vector<Bytes> seeds;
  Alive al{7, "web1", {127, 0, 0, 1}, 17946, encode_tags({{"role", "backend"}}), kOurVsn};
  seeds.push_back(encode(al));
  seeds.push_back(encode(Ping{1, "web1", {127, 0, 0, 1}, 17946, "web2"}));
  SerfPushPull spp;
  spp.Events.resize(8);
  spp.Events[3] = SerfUserEvents{3, {{"deploy", {1, 2}}}};
  spp.StatusLTimes = {{"web1", 1}};
  seeds.push_back(encode(spp));
  SerfQuery q;
  q.Filters = {{0, 0x91, 0xa1, 0x61}};
  seeds.push_back(encode(q));
  PushPull pp;
  pp.Nodes.push_back(PushNodeState{"web1", {127, 0, 0, 1}, 1, {}, 1, NodeState::kAlive, kOurVsn});
  pp.UserState = encode_serf_push_pull(spp);
  seeds.push_back(encode_push_pull(pp));
  seeds.push_back(compress_message(encode_push_pull(pp)));
  seeds.push_back(
      wrap_datagram({message(MsgType::kAlive, al), seeds[1]}, WrapOptions{true, true, nullptr}));
  std::mt19937 rng(7);
  for (const auto& seed : seeds) {
    for (int i = 0; i < 1500; ++i) {
      Bytes m = seed;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < edits && !m.empty(); ++k) {
        const std::size_t at = rng() % m.size();
        switch (rng() % 3) {
          case 0:
            m[at] = static_cast<std::uint8_t>(rng());
            break;
          case 1:
            m.erase(m.begin() + static_cast<std::ptrdiff_t>(at));
            break;
          default:
            m.insert(m.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::uint8_t>(rng()));
        }
      }
      decode_all(m);
      StreamReader enc(&ring);
      enc.feed(m);
      enc.poll();
    }
  }
  // Pure noise as well.
  for (int i = 0; i < 3000; ++i) {
    Bytes m(rng() % 200);
    for (auto& b : m) b = static_cast<std::uint8_t>(rng());
    decode_all(m);
  }
  SUCCEED();
}
