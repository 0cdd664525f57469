// SPDX-License-Identifier: MIT
// core/wire TCP stream reader/writer (§5.1): incremental parsing, compression, encryption frame.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "core/wire/wire.hpp"
#include "tests/unit/wire_test_util.hpp"

using namespace haserf::wire;

namespace {


PushPull sample_push_pull(int nodes) {
  PushPull pp;
  pp.Join = true;
  for (int i = 0; i < nodes; ++i) {
    pp.Nodes.push_back(PushNodeState{"node" + std::to_string(i),
                                     {127, 0, 0, 1},
                                     static_cast<std::uint16_t>(7946 + i),
                                     encode_tags({{"role", "web"}}),
                                     static_cast<std::uint32_t>(i),
                                     NodeState::kAlive,
                                     kOurVsn});
  }
  SerfPushPull s;
  s.LTime = 3;
  s.Events.resize(512);
  pp.UserState = encode_serf_push_pull(s);
  return pp;
}

// Feeds one byte at a time; returns the status after the last byte and checks that the reader
// needed every byte (no early Done, no waiting for EOF).
StreamStatus feed_bytewise(StreamReader& r, const Bytes& wire) {
  for (std::size_t i = 0; i < wire.size(); ++i) {
    REQUIRE(r.feed(std::span<const std::uint8_t>(&wire[i], 1)));
    const StreamStatus s = r.poll();
    if (i + 1 < wire.size() && s != StreamStatus::kNeedMore) return s;
  }
  return r.poll();
}

void check_same(const PushPull& a, const PushPull& b) {
  CHECK(a.Join == b.Join);
  REQUIRE(a.Nodes.size() == b.Nodes.size());
  for (std::size_t i = 0; i < a.Nodes.size(); ++i) {
    CHECK(a.Nodes[i].Name == b.Nodes[i].Name);
    CHECK(a.Nodes[i].Port == b.Nodes[i].Port);
    CHECK(a.Nodes[i].Meta == b.Nodes[i].Meta);
    CHECK(a.Nodes[i].Vsn == b.Nodes[i].Vsn);
  }
  CHECK(a.UserState == b.UserState);
}

}  // namespace

TEST_CASE("wire: stream reader parses a plain push/pull byte by byte", "[wire]") {
  const PushPull pp = sample_push_pull(3);
  const Bytes wire = encode_push_pull(pp);
  StreamReader r;
  REQUIRE(feed_bytewise(r, wire) == StreamStatus::kDone);
  CHECK(r.message().type == MsgType::kPushPull);
  CHECK_FALSE(r.message().was_compressed);
  check_same(r.message().push_pull, pp);
  // Extra bytes after the message do not matter; Done is final.
  REQUIRE(r.feed(Bytes{1, 2, 3}));
  CHECK(r.poll() == StreamStatus::kDone);
}

TEST_CASE("wire: stream reader handles compression and encryption", "[wire]") {
  const Keyring ring{{Bytes(32, 5)}};
  const PushPull pp = sample_push_pull(40);
  const Bytes plain = encode_push_pull(pp);
  for (bool comp : {false, true}) {
    for (const Keyring* kr : {static_cast<const Keyring*>(nullptr), &ring}) {
      const Bytes wire = encode_stream(plain, comp, kr);
      REQUIRE_FALSE(wire.empty());
      CHECK(wire[0] == (kr ? 0x0a : comp ? 0x09 : 0x06));
      StreamReader r(kr);
      REQUIRE(feed_bytewise(r, wire) == StreamStatus::kDone);
      CHECK(r.message().was_compressed == comp);
      CHECK(r.message().was_encrypted == (kr != nullptr));
      check_same(r.message().push_pull, pp);
      // Whole buffer at once as well.
      StreamReader whole(kr);
      REQUIRE(whole.feed(wire));
      CHECK(whole.poll() == StreamStatus::kDone);
    }
  }
  // TCP always compresses when asked, even when larger (§2.5).
  const Bytes ack = hex("02 82 a7 50 61 79 6c 6f 61 64 c0 a5 53 65 71 4e 6f 07");
  CHECK(encode_stream(ack, true, nullptr)[0] == 0x09);
}

TEST_CASE("wire: stream reader decodes the 10.7 TCP frame and the small messages", "[wire]") {
  Bytes key(16);
  for (int i = 0; i < 16; ++i) key[i] = static_cast<std::uint8_t>(i);
  const Keyring ring{{key}};
  const Bytes tcp = hex(
      "0a 00 00 00 2f 01 00 01 02 03 04 05 06 07 08 09 0a 0b 91 ee 00 9e 07 62 9b 3b 2a b6 a1 2f "
      "65 c6 01 46 dc 21 6d bd 73 f3 00 a2 c3 cf ee ca 1a 71 02 4b 70 57");
  StreamReader r(&ring);
  REQUIRE(feed_bytewise(r, tcp) == StreamStatus::kDone);
  CHECK(r.message().type == MsgType::kAck);
  CHECK(r.message().ack.SeqNo == 7);

  StreamReader p;
  REQUIRE(feed_bytewise(p, message(MsgType::kPing, Ping{9, "web1", {}, 0, ""})) ==
          StreamStatus::kDone);
  CHECK(p.message().ping.SeqNo == 9);
  CHECK(p.message().ping.Node == "web1");

  StreamReader e;
  REQUIRE(feed_bytewise(e, encode_stream(message(MsgType::kErr, ErrResp{"nope"}), true, nullptr)) ==
          StreamStatus::kDone);
  CHECK(e.message().type == MsgType::kErr);
  CHECK(e.message().err.Error == "nope");

  // User stream: 08 + userMsgHeader + raw bytes.
  Bytes user = message(MsgType::kUser, UserMsgHeader{3});
  user.insert(user.end(), {0x01, 0x80, 0x00});
  StreamReader u;
  REQUIRE(feed_bytewise(u, user) == StreamStatus::kDone);
  CHECK(u.message().user_msg == Bytes{0x01, 0x80, 0x00});
}

TEST_CASE("wire: stream reader errors", "[wire]") {
  const Keyring ring{{Bytes(16, 1)}};
  const Bytes ping = message(MsgType::kPing, Ping{1, "", {}, 0, ""});
  {
    StreamReader r;  // encrypted stream, no keyring
    REQUIRE(r.feed(encode_stream(ping, false, &ring)));
    CHECK(r.poll() == StreamStatus::kError);
    CHECK(r.error() == "Remote state is encrypted and encryption is not configured");
  }
  {
    StreamReader r(&ring);  // plaintext stream, keyring set
    REQUIRE(r.feed(ping));
    CHECK(r.poll() == StreamStatus::kError);
    CHECK(r.error() == "Encryption is configured but remote state is not encrypted");
  }
  {
    const Keyring other{{Bytes(16, 2)}};
    StreamReader r(&other);
    REQUIRE(r.feed(encode_stream(ping, true, &ring)));
    CHECK(r.poll() == StreamStatus::kError);
    CHECK(r.error() == "No installed keys could decrypt the message");
  }
  {
    StreamReader r;
    REQUIRE(r.feed(hex("04 80")));  // alive is not a stream message
    CHECK(r.poll() == StreamStatus::kError);
    CHECK(r.error().find("unsupported stream message type 4") != std::string::npos);
  }
  {
    StreamReader r;  // declared 2^31 nodes
    REQUIRE(r.feed(message(MsgType::kPushPull, PushPullHeader{1LL << 31, 0, false})));
    CHECK(r.poll() == StreamStatus::kError);
  }
  {
    StreamReader r;  // negative user state length
    REQUIRE(r.feed(message(MsgType::kPushPull, PushPullHeader{0, -1, false})));
    CHECK(r.poll() == StreamStatus::kError);
  }
  {
    StreamReader r(&ring);  // frame length over 20 MiB
    REQUIRE(r.feed(hex("0a 7f ff ff ff")));
    CHECK(r.poll() == StreamStatus::kError);
  }
  {
    StreamReader r;  // compressed but truncated inner message
    REQUIRE(r.feed(encode_stream(Bytes(ping.begin(), ping.end() - 2), true, nullptr)));
    CHECK(r.poll() == StreamStatus::kError);
    CHECK(r.error() == "truncated stream message");
  }
  {
    Limits small;
    small.max_stream = 64;
    StreamReader r(nullptr, small);
    CHECK_FALSE(r.feed(Bytes(100, 6)));
    CHECK(r.poll() == StreamStatus::kError);
  }
  {
    StreamReader r;  // 0a nested inside a compressed stream is not accepted
    REQUIRE(r.feed(compress_message(hex("0a 00 00 00 00"))));
    CHECK(r.poll() == StreamStatus::kError);
  }
  {
    StreamReader r;  // an incomplete plaintext message just waits
    REQUIRE(r.feed(Bytes(ping.begin(), ping.end() - 1)));
    CHECK(r.poll() == StreamStatus::kNeedMore);
  }
}
