// SPDX-License-Identifier: MIT
// core/wire codec: spec §10 vectors byte for byte, and the msgpack rules of §1.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "core/wire/wire.hpp"
#include "tests/unit/wire_test_util.hpp"

using namespace haserf::wire;

namespace {


Bytes str_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

ByteSpan body(const Bytes& msg) {
  return ByteSpan(msg).subspan(1);
}

const Bytes kAddr = {10, 0, 0, 2};

Alive cpp1_alive() {
  Alive a;
  a.Incarnation = 1;
  a.Node = "cpp1";
  a.Addr = kAddr;
  a.Port = 7946;
  a.Meta = encode_tags({{"role", "db"}});
  a.Vsn = kOurVsn;
  return a;
}

}  // namespace

TEST_CASE("wire: ping vector 10.1", "[wire]") {
  const Bytes want = hex(
      "00 85 a4 4e 6f 64 65 a5 73 65 72 66 31 a5 53 65 71 4e 6f 07 aa 53 6f 75 72 63 65 41 64 64 "
      "72 a4 0a 00 00 02 aa 53 6f 75 72 63 65 4e 6f 64 65 a4 63 70 70 31 aa 53 6f 75 72 63 65 50 "
      "6f 72 74 cd 1f 0a");
  Ping p{7, "serf1", kAddr, 7946, "cpp1"};
  CHECK(message(MsgType::kPing, p) == want);
  Ping d;
  REQUIRE(decode(body(want), d));
  CHECK(d.SeqNo == 7);
  CHECK(d.Node == "serf1");
  CHECK(d.SourceAddr == kAddr);
  CHECK(d.SourcePort == 7946);
  CHECK(d.SourceNode == "cpp1");
}

TEST_CASE("wire: ping omits empty Source fields", "[wire]") {
  Ping p{9, "", {}, 0, ""};
  CHECK(encode(p) == hex("82 a4 4e 6f 64 65 a0 a5 53 65 71 4e 6f 09"));
  IndirectPing ip{3, {127, 0, 0, 1}, 17946, "web2", true, {}, 0, ""};
  const Bytes b = encode(ip);
  IndirectPing d;
  REQUIRE(decode(b, d));
  CHECK(d.Target == ip.Target);
  CHECK(d.Port == 17946);
  CHECK(d.Node == "web2");
  CHECK(d.Nack);
  CHECK(b[0] == 0x85);  // Nack, Node, Port, SeqNo, Target
  ip.SourceAddr = kAddr;
  ip.SourcePort = 1;
  ip.SourceNode = "x";
  CHECK(encode(ip)[0] == 0x88);
}

TEST_CASE("wire: alive vector 10.2 and the agent's captured alive", "[wire]") {
  const Bytes want = hex(
      "04 86 a4 41 64 64 72 a4 0a 00 00 02 ab 49 6e 63 61 72 6e 61 74 69 6f 6e 01 a4 4d 65 74 61 "
      "aa ff 81 a4 72 6f 6c 65 a2 64 62 a4 4e 6f 64 65 a4 63 70 70 31 a4 50 6f 72 74 cd 1f 0a a3 "
      "56 73 6e a6 01 05 02 02 05 05");
  CHECK(message(MsgType::kAlive, cpp1_alive()) == want);

  const Bytes agent = hex(
      "04 86 a4 41 64 64 72 a4 7f 00 00 01 ab 49 6e 63 61 72 6e 61 74 69 6f 6e 01 a4 4d 65 74 61 "
      "b0 ff 82 a4 72 6f 6c 65 a3 77 65 62 a2 64 63 a1 78 a4 4e 6f 64 65 a2 73 31 a4 50 6f 72 74 "
      "cd 46 1a a3 56 73 6e a6 01 05 02 02 05 05");
  Alive a;
  REQUIRE(decode(body(agent), a));
  CHECK(a.Node == "s1");
  CHECK(a.Addr == Bytes{127, 0, 0, 1});
  CHECK(a.Port == 17946);
  CHECK(a.Vsn == kOurVsn);
  REQUIRE(a.Meta);
  Tags tags;
  REQUIRE(decode_tags(*a.Meta, tags));
  CHECK(tags == Tags{{"role", "web"}, {"dc", "x"}});
}

TEST_CASE("wire: ack vector 10.3 with nil payload", "[wire]") {
  const Bytes want = hex("02 82 a7 50 61 79 6c 6f 61 64 c0 a5 53 65 71 4e 6f 07");
  CHECK(message(MsgType::kAck, Ack{7, std::nullopt}) == want);
  Ack d;
  REQUIRE(decode(body(want), d));
  CHECK(d.SeqNo == 7);
  CHECK_FALSE(d.Payload.has_value());
  // An empty but present payload is a0, not c0 (§1.1).
  CHECK(encode(Ack{7, Bytes{}}) == hex("82 a7 50 61 79 6c 6f 61 64 a0 a5 53 65 71 4e 6f 07"));
}

TEST_CASE("wire: serf join intent vector 10.4", "[wire]") {
  const Bytes want = hex("08 01 82 a5 4c 54 69 6d 65 01 a4 4e 6f 64 65 a4 63 70 70 31");
  CHECK(user_message(serf_message(SerfMsgType::kJoin, SerfJoin{1, "cpp1"})) == want);
  SerfJoin j;
  REQUIRE(decode(ByteSpan(want).subspan(2), j));
  CHECK(j.LTime == 1);
  CHECK(j.Node == "cpp1");
}

TEST_CASE("wire: push/pull join request vector 10.8", "[wire]") {
  const Bytes want = hex(
      "06 83 a4 4a 6f 69 6e c3 a5 4e 6f 64 65 73 01 ac 55 73 65 72 53 74 61 74 65 4c 65 6e 4a "
      "87 a4 41 64 64 72 a4 0a 00 00 02 ab 49 6e 63 61 72 6e 61 74 69 6f 6e 01 a4 4d 65 74 61 aa "
      "ff 81 a4 72 6f 6c 65 a2 64 62 a4 4e 61 6d 65 a4 63 70 70 31 a4 50 6f 72 74 cd 1f 0a a5 53 "
      "74 61 74 65 00 a3 56 73 6e a6 01 05 02 02 05 05 "
      "02 86 aa 45 76 65 6e 74 4c 54 69 6d 65 01 a6 45 76 65 6e 74 73 90 a5 4c 54 69 6d 65 01 ab "
      "4c 65 66 74 4d 65 6d 62 65 72 73 90 aa 51 75 65 72 79 4c 54 69 6d 65 01 ac 53 74 61 74 75 "
      "73 4c 54 69 6d 65 73 81 a4 63 70 70 31 01");
  SerfPushPull spp;
  spp.LTime = 1;
  spp.EventLTime = 1;
  spp.QueryLTime = 1;
  spp.StatusLTimes = {{"cpp1", 1}};
  PushPull pp;
  pp.Join = true;
  pp.Nodes.push_back(
      PushNodeState{"cpp1", kAddr, 7946, *cpp1_alive().Meta, 1, NodeState::kAlive, kOurVsn});
  pp.UserState = encode_serf_push_pull(spp);
  CHECK(pp.UserState.size() == 74);
  CHECK(encode_push_pull(pp) == want);

  PushPull d;
  REQUIRE(decode_push_pull(want, d));
  CHECK(d.Join);
  REQUIRE(d.Nodes.size() == 1);
  CHECK(d.Nodes[0].Name == "cpp1");
  CHECK(d.Nodes[0].State == NodeState::kAlive);
  CHECK(d.Nodes[0].Vsn == kOurVsn);
  SerfPushPull ds;
  REQUIRE(decode_serf_push_pull(d.UserState, ds));
  CHECK(ds.StatusLTimes == spp.StatusLTimes);
  CHECK(ds.Events.empty());
  CHECK(ds.LTime == 1);
}

TEST_CASE("wire: serf user event and query captured from the agent", "[wire]") {
  // §7.9 `serf event deploy v1.2`.
  const Bytes ev = hex(
      "08 03 84 a2 43 43 c3 a5 4c 54 69 6d 65 01 a4 4e 61 6d 65 a6 64 65 70 6c 6f 79 a7 50 61 79 "
      "6c 6f 61 64 a4 76 31 2e 32");
  SerfUserEvent e;
  REQUIRE(decode(ByteSpan(ev).subspan(2), e));
  CHECK(e.CC);
  CHECK(e.Name == "deploy");
  CHECK(e.Payload == str_bytes("v1.2"));
  CHECK(user_message(serf_message(SerfMsgType::kUserEvent, e)) == ev);

  // §7.10 `serf query whoami pl`, keys spelled out.
  SerfQuery q;
  q.LTime = 1;
  q.ID = 0x5877cc78;
  q.Addr = {127, 0, 0, 1};
  q.Port = 17946;
  q.SourceNode = "s1";
  q.Flags = 1;
  q.Timeout = 2000000000;
  q.Name = "whoami";
  q.Payload = str_bytes("pl");
  const Bytes want = hex(
      "8b a4 41 64 64 72 a4 7f 00 00 01 a7 46 69 6c 74 65 72 73 c0 a5 46 6c 61 67 73 01 a2 49 44 "
      "ce 58 77 cc 78 a5 4c 54 69 6d 65 01 a4 4e 61 6d 65 a6 77 68 6f 61 6d 69 a7 50 61 79 6c 6f "
      "61 64 a2 70 6c a4 50 6f 72 74 cd 46 1a ab 52 65 6c 61 79 46 61 63 74 6f 72 00 aa 53 6f 75 "
      "72 63 65 4e 6f 64 65 a2 73 31 a7 54 69 6d 65 6f 75 74 ce 77 35 94 00");
  CHECK(encode(q) == want);
  SerfQuery dq;
  REQUIRE(decode(want, dq));
  CHECK(dq.Timeout == 2000000000);
  CHECK(dq.Filters.empty());
  CHECK(dq.Payload == q.Payload);

  SerfQueryResponse r{1, 0x5877cc78, "q1", 0, str_bytes("hello from q1")};
  const Bytes rb = serf_message(SerfMsgType::kQueryResponse, r);
  CHECK(rb == hex("05 85 a5 46 6c 61 67 73 00 a4 46 72 6f 6d a2 71 31 a2 49 44 ce 58 77 cc 78 a5 "
                  "4c 54 69 6d 65 01 a7 50 61 79 6c 6f 61 64 ad 68 65 6c 6c 6f 20 66 72 6f 6d 20 "
                  "71 31"));
  SerfQueryResponse dr;
  REQUIRE(decode(ByteSpan(rb).subspan(1), dr));
  CHECK(dr.From == "q1");
  CHECK(dr.ID == 0x5877cc78);
}

TEST_CASE("wire: serf push/pull with a nil-heavy event ring round trips", "[wire]") {
  SerfPushPull pp;
  pp.LTime = 5;
  pp.EventLTime = 3;
  pp.QueryLTime = 2;
  pp.StatusLTimes = {{"a", 1}, {"b", 4}};
  pp.LeftMembers = {"b"};
  pp.Events.resize(512);
  pp.Events[2] = SerfUserEvents{2, {{"deploy", str_bytes("v2")}, {"x", {}}}};
  const Bytes b = encode_serf_push_pull(pp);
  CHECK(b[0] == 0x02);
  SerfPushPull d;
  REQUIRE(decode_serf_push_pull(b, d));
  CHECK(d.LTime == 5);
  CHECK(d.LeftMembers == pp.LeftMembers);
  CHECK(d.StatusLTimes == pp.StatusLTimes);
  REQUIRE(d.Events.size() == 512);
  CHECK_FALSE(d.Events[0].has_value());
  REQUIRE(d.Events[2].has_value());
  CHECK(d.Events[2]->Events == pp.Events[2]->Events);
  CHECK(encode_serf_push_pull(d) == b);
  std::string err;
  CHECK_FALSE(decode_serf_push_pull(ByteSpan(b).subspan(1), d, &err));
}

TEST_CASE("wire: leave, suspect, dead, nack, errResp round trip", "[wire]") {
  SerfLeave l{2, "lb1", false};
  CHECK(encode(l) ==
        hex("83 a5 4c 54 69 6d 65 02 a4 4e 6f 64 65 a3 6c 62 31 a5 50 72 75 6e 65 c2"));
  SerfLeave dl;
  REQUIRE(decode(encode(l), dl));
  CHECK(dl.Node == "lb1");
  Suspect s{4, "web2", "web1"};
  Suspect ds;
  REQUIRE(decode(encode(s), ds));
  CHECK(ds.From == "web1");
  CHECK(ds.Incarnation == 4);
  Dead dd;
  REQUIRE(decode(encode(Dead{3, "lb1", "lb1"}), dd));
  CHECK(dd.From == dd.Node);
  Nack n;
  REQUIRE(decode(encode(Nack{77}), n));
  CHECK(n.SeqNo == 77);
  ErrResp er;
  REQUIRE(decode(encode(ErrResp{"boom"}), er));
  CHECK(er.Error == "boom");
}

TEST_CASE("wire: tags in Meta (7.5)", "[wire]") {
  CHECK(encode_tags({}) == hex("ff 80"));
  Tags t;
  REQUIRE(decode_tags(str_bytes("web"), t));
  CHECK(t == Tags{{"role", "web"}});
  REQUIRE(decode_tags({}, t));
  CHECK(t == Tags{{"role", ""}});
  REQUIRE(decode_tags(hex("ff 82 a4 72 6f 6c 65 a3 77 65 62 a2 64 63 a1 78"), t));
  CHECK(t.at("dc") == "x");
  std::string err;
  CHECK_FALSE(decode_tags(hex("ff 81 a4 72 6f 6c 65"), t, &err));  // value missing
  CHECK(t.empty());
  CHECK_FALSE(err.empty());
  CHECK_FALSE(decode_tags(hex("ff 81 c4 01 61 a1 62"), t, &err));  // bin key, as in Go
  CHECK_FALSE(decode_tags(hex("ff 05"), t, &err));
}

TEST_CASE("wire: decoder accepts what Go accepts (1.2)", "[wire]") {
  Alive a;
  std::string err;
  // Node as str8, Addr/Meta/Vsn as bin8, keys unsorted, an unknown key, Incarnation as ce.
  const Bytes variant = hex(
      "87 a3 56 73 6e c4 06 01 05 02 02 05 05 a4 4e 6f 64 65 d9 02 73 31 a5 45 78 74 72 61 92 01 "
      "c0 a4 41 64 64 72 c4 04 7f 00 00 01 ab 49 6e 63 61 72 6e 61 74 69 6f 6e ce 00 00 00 07 a4 "
      "4d 65 74 61 c4 02 ff 80 a4 50 6f 72 74 cd 46 1a");
  REQUIRE(decode(variant, a, &err));
  CHECK(a.Node == "s1");
  CHECK(a.Incarnation == 7);
  CHECK(a.Addr == Bytes{127, 0, 0, 1});
  CHECK(a.Meta == hex("ff 80"));
  CHECK(a.Vsn == kOurVsn);
  CHECK(a.Port == 17946);

  // Vsn as an array of ints.
  REQUIRE(decode(hex("81 a3 56 73 6e 96 01 05 02 02 05 05"), a));
  CHECK(a.Vsn == kOurVsn);

  // Positional array in Go declaration order: [Inc, Node, Addr, Port, Meta, Vsn, extra].
  REQUIRE(decode(hex("97 03 a2 73 31 a4 7f 00 00 01 cd 46 1a c0 a6 01 05 02 02 05 05 2a"), a));
  CHECK(a.Incarnation == 3);
  CHECK(a.Node == "s1");
  CHECK(a.Port == 17946);
  CHECK_FALSE(a.Meta.has_value());
  CHECK(a.Vsn == kOurVsn);

  // Positional with fewer fields: the rest stay zero.
  Ping p;
  REQUIRE(decode(hex("92 05 a2 73 31"), p));
  CHECK(p.SeqNo == 5);
  CHECK(p.Node == "s1");
  CHECK(p.SourcePort == 0);

  // nil struct gives a zero struct; nil string gives "".
  REQUIRE(decode(hex("c0"), p));
  CHECK(p.SeqNo == 0);
  REQUIRE(decode(hex("81 a4 4e 6f 64 65 c0"), p));
  CHECK(p.Node.empty());

  // Bool as fixint 0/1, ints in any width, negative into a signed field.
  IndirectPing ip;
  REQUIRE(decode(hex("82 a4 4e 61 63 6b 01 a5 53 65 71 4e 6f d0 05"), ip));
  CHECK(ip.Nack);
  CHECK(ip.SeqNo == 5);
  SerfQuery q;
  REQUIRE(decode(hex("81 a7 54 69 6d 65 6f 75 74 ff"), q));
  CHECK(q.Timeout == -1);

  // Trailing bytes after the object are ignored, as Go does.
  Nack n;
  REQUIRE(decode(hex("81 a5 53 65 71 4e 6f 07 ff ff"), n));
  CHECK(n.SeqNo == 7);
}

TEST_CASE("wire: decoder rejects what Go rejects, with a clear message", "[wire]") {
  Alive a;
  std::string err;
  // Node (a string) as bin8.
  CHECK_FALSE(decode(hex("81 a4 4e 6f 64 65 c4 02 73 31"), a, &err));
  CHECK(err.find("Node") != std::string::npos);
  CHECK(err.find("c4") != std::string::npos);
  // Port overflow.
  CHECK_FALSE(decode(hex("81 a4 50 6f 72 74 ce 00 01 00 00"), a, &err));
  CHECK(err.find("Port") != std::string::npos);
  // Negative into an unsigned field.
  CHECK_FALSE(decode(hex("81 ab 49 6e 63 61 72 6e 61 74 69 6f 6e ff"), a, &err));
  // bin map key.
  CHECK_FALSE(decode(hex("81 c4 04 4e 6f 64 65 a2 73 31"), a, &err));
  // Not a struct.
  CHECK_FALSE(decode(hex("a2 73 31"), a, &err));
  CHECK(err.find("struct") != std::string::npos);
  // Wrong type for a bool.
  IndirectPing ip;
  CHECK_FALSE(decode(hex("81 a4 4e 61 63 6b 05"), ip, &err));
  // Empty input.
  CHECK_FALSE(decode(Bytes{}, a, &err));
  // Failure leaves a zero struct behind.
  CHECK(a.Node.empty());
}

TEST_CASE("wire: encoder writes the old raw family and minimal unsigned ints (1.1)", "[wire]") {
  // 40-byte string: da 00 28, never d9; bytes never bin.
  const std::string forty(40, 'x');
  Bytes b = encode(ErrResp{forty});
  CHECK(b[7] == 0xda);
  CHECK(b[8] == 0x00);
  CHECK(b[9] == 0x28);
  const Bytes payload(130, 1);
  b = encode(Ack{1, payload});
  CHECK(Bytes(b.begin() + 9, b.begin() + 12) == hex("da 00 82"));
  // Positive values of signed Go types use the unsigned forms.
  PushPullHeader h{200, 70000, false};
  CHECK(encode(h) == hex("83 a4 4a 6f 69 6e c2 a5 4e 6f 64 65 73 cc c8 ac 55 73 65 72 53 74 61 74 "
                         "65 4c 65 6e ce 00 01 11 70"));
  SerfQuery q;
  q.Timeout = 0x100000000LL;
  const Bytes qb = encode(q);
  const Bytes tail(qb.end() - 9, qb.end());
  CHECK(tail == hex("cf 00 00 00 01 00 00 00 00"));
  // Large strings switch to db.
  const std::string big(70000, 'y');
  b = encode(ErrResp{big});
  CHECK(b[7] == 0xdb);
  ErrResp e;
  REQUIRE(decode(b, e));
  CHECK(e.Error == big);
}
