// SPDX-License-Identifier: MIT
// core/serf queries (§7.10): acks, filters, internal queries, application responses.
#include "core/wire/msgpack_reader.hpp"
#include "core/wire/msgpack_writer.hpp"
#include "serf_fixture.hpp"

using namespace serf_test;

namespace {

wire::SerfQueryResponse sent_response(const FakeMemberlist::Sent& s) {
  REQUIRE(s.msg.at(0) == 0x05);
  wire::SerfQueryResponse r;
  REQUIRE(wire::decode(wire::ByteSpan(s.msg).subspan(1), r));
  return r;
}

struct KeyResponse {
  bool result = false;
  std::string message;
  std::vector<std::string> keys;
  bool keys_nil = true;
  std::string primary;
};

KeyResponse key_response(const FakeMemberlist::Sent& s) {
  const auto payload = sent_response(s).Payload;
  REQUIRE(payload.has_value());
  REQUIRE(payload->at(0) == 0x08);
  wire::mp::Reader r(wire::ByteSpan(*payload).subspan(1));
  KeyResponse out;
  static constexpr std::string_view kOrder[] = {"Result", "Message", "Keys", "PrimaryKey"};
  REQUIRE(wire::mp::read_struct(r, "nodeKeyResponse", kOrder, [&](std::string_view k) {
    if (k == "Result") return r.read_bool(out.result, k) ? 1 : -1;
    if (k == "Message") return r.read_str(out.message, k) ? 1 : -1;
    if (k == "PrimaryKey") return r.read_str(out.primary, k) ? 1 : -1;
    if (k == "Keys") return r.skip() ? 1 : -1;  // nil or array: read by hand below
    return 0;
  }));
  // Keys again, by hand: nil or an array of strings.
  const std::string text(payload->begin(), payload->end());
  const auto at = text.find("Keys");
  REQUIRE(at != std::string::npos);
  wire::mp::Reader kr(wire::ByteSpan(*payload).subspan(at + 4));
  if ((*payload)[at + 4] != 0xc0) {
    out.keys_nil = false;
    std::uint32_t n = 0;
    REQUIRE(kr.read_array_header(n, "Keys"));
    out.keys.resize(n);
    for (auto& k : out.keys) REQUIRE(kr.read_str(k, "key"));
  }
  return out;
}

// 07 + {Key: bin}
Bytes key_request(const Bytes& key) {
  Bytes out{0x07};
  wire::mp::Writer w(out);
  w.map(1);
  w.str("Key");
  w.bytes(key);
  return out;
}

Bytes key_of(std::uint8_t fill, std::size_t n = 16) {
  return Bytes(n, fill);
}

}  // namespace

TEST_CASE("serf: key queries change the keyring as memberlist's Keyring does", "[serf]") {
  wire::Keyring ring;
  ring.add(key_of(1));
  std::vector<std::vector<Bytes>> persisted;
  auto c = config();
  c.keyring = &ring;
  c.keyring_changed = [&](const wire::Keyring& k, std::string*) {
    persisted.push_back(k.keys);
    return true;
  };
  Harness h(c);
  std::uint32_t id = 1;
  auto ask = [&](const std::string& name, const Bytes& payload) {
    auto q = query(name, 1, id++, 0);
    q.Payload = payload;
    const auto before = h.ml.sent.size();
    h.serf.notify_msg(query_msg(q));
    REQUIRE(h.ml.sent.size() == before + 1);
    return key_response(h.ml.sent.back());
  };

  auto r = ask("_serf_install-key", key_request(key_of(2)));
  CHECK(r.result);
  CHECK(r.message.empty());
  CHECK(ring.keys == std::vector<Bytes>{key_of(1), key_of(2)});  // primary unchanged
  r = ask("_serf_install-key", key_request(key_of(2)));          // again: fine, nothing new
  CHECK(r.result);
  CHECK(ring.keys.size() == 2);
  r = ask("_serf_install-key", key_request(key_of(3, 7)));
  CHECK_FALSE(r.result);
  CHECK(r.message == "key size must be 16, 24 or 32 bytes");

  r = ask("_serf_list-keys", {});
  CHECK(r.result);
  CHECK(r.keys ==
        std::vector<std::string>{wire::key_to_base64(key_of(1)), wire::key_to_base64(key_of(2))});
  CHECK(r.primary == wire::key_to_base64(key_of(1)));

  r = ask("_serf_use-key", key_request(key_of(9)));
  CHECK_FALSE(r.result);
  CHECK(r.message == "Requested key is not in the keyring");
  r = ask("_serf_use-key", key_request(key_of(2)));
  CHECK(r.result);
  CHECK(ring.keys == std::vector<Bytes>{key_of(2), key_of(1)});

  r = ask("_serf_remove-key", key_request(key_of(2)));
  CHECK_FALSE(r.result);
  CHECK(r.message == "Removing the primary key is not allowed");
  r = ask("_serf_remove-key", key_request(key_of(1)));
  CHECK(r.result);
  CHECK(ring.keys == std::vector<Bytes>{key_of(2)});
  r = ask("_serf_remove-key", key_request(key_of(7)));  // unknown: no-op, success
  CHECK(r.result);

  // Every successful change was persisted (the no-op installs and removals too, like serf).
  CHECK(persisted.size() == 5);
  CHECK(persisted.back() == std::vector<Bytes>{key_of(2)});
  CHECK(h.serf.stats().key_queries_applied == 5);
  CHECK(h.serf.stats().key_queries_failed == 3);
}

TEST_CASE("serf: a keyring that cannot be persisted fails the key query with the reason",
          "[serf]") {
  wire::Keyring ring;
  ring.add(key_of(1));
  auto c = config();
  c.keyring = &ring;
  c.keyring_changed = [](const wire::Keyring&, std::string* err) {
    *err = "keyring file /x: cannot replace it: Read-only file system";
    return false;
  };
  Harness h(c);
  auto q = query("_serf_install-key", 1, 1, 0);
  q.Payload = key_request(key_of(2));
  h.serf.notify_msg(query_msg(q));
  const auto r = key_response(h.ml.sent.back());
  CHECK_FALSE(r.result);
  CHECK(r.message == "keyring file /x: cannot replace it: Read-only file system");
}

TEST_CASE("serf: list-keys is cut to fit the response size limit, saying so", "[serf]") {
  wire::Keyring ring;
  for (std::uint8_t i = 1; i <= 40; ++i) ring.add(key_of(i, 32));
  auto c = config();
  c.keyring = &ring;
  Harness h(c);
  auto q = query("_serf_list-keys", 1, 1, 0);
  h.serf.notify_msg(query_msg(q));
  REQUIRE(h.ml.sent.size() == 1);
  CHECK(h.ml.sent[0].msg.size() <= c.query_response_size_limit);
  const auto r = key_response(h.ml.sent[0]);
  CHECK(r.result);
  CHECK(r.keys.size() < 40);
  CHECK(r.keys.size() > 10);
  CHECK(r.message == "truncated key list response, showing first " + std::to_string(r.keys.size()) +
                         " of 40 keys");
  CHECK(r.primary == wire::key_to_base64(key_of(1, 32)));
}

TEST_CASE("serf: _serf_ping is acked with the exact response shape", "[serf]") {
  Harness h;
  auto q = query("_serf_ping", 1, 0x5877cc78);
  const Bytes raw = query_msg(q);
  h.serf.notify_msg(raw);
  REQUIRE(h.ml.sent.size() == 1);
  CHECK(h.ml.sent[0].to == swim::Address{{127, 0, 0, 1}, 7946});
  // 05 + {Flags 1, From cpp1, ID, LTime 1, Payload nil}
  CHECK(h.ml.sent[0].msg ==
        hex("05 85 a5 46 6c 61 67 73 01 a4 46 72 6f 6d a4 63 70 70 31 a2 49 44 ce 58 77 cc 78 "
            "a5 4c 54 69 6d 65 01 a7 50 61 79 6c 6f 61 64 c0"));
  CHECK(h.queries.empty());  // internal: never reaches the handler
  CHECK(h.serf.query_clock() == 2);
  CHECK(h.drain() == std::vector<Bytes>{raw});  // re-broadcast as received

  h.serf.notify_msg(raw);  // duplicate: no second ack
  CHECK(h.ml.sent.size() == 1);
  CHECK(h.serf.stats().queries_duplicate == 1);
}

TEST_CASE("serf: captured application query is acked, delivered and answered once", "[serf]") {
  Harness h;
  // `serf query whoami pl` from s1 (§7.10).
  const Bytes raw = hex(
      "04 8b a4 41 64 64 72 a4 7f 00 00 01 a7 46 69 6c 74 65 72 73 c0 a5 46 6c 61 67 73 01 a2 49 "
      "44 ce 58 77 cc 78 a5 4c 54 69 6d 65 01 a4 4e 61 6d 65 a6 77 68 6f 61 6d 69 a7 50 61 79 "
      "6c 6f 61 64 a2 70 6c a4 50 6f 72 74 cd 46 1a ab 52 65 6c 61 79 46 61 63 74 6f 72 00 aa "
      "53 6f 75 72 63 65 4e 6f 64 65 a2 73 31 a7 54 69 6d 65 6f 75 74 ce 77 35 94 00");
  h.serf.notify_msg(raw);
  REQUIRE(h.queries.size() == 1);
  const auto& q = h.queries[0];
  CHECK(q.name == "whoami");
  CHECK(q.payload == bytes("pl"));
  CHECK(q.source_node == "s1");
  CHECK(q.reply_to == swim::Address{{127, 0, 0, 1}, 17946});
  CHECK(q.deadline == h.timers.now() + 2s);
  REQUIRE(h.ml.sent.size() == 1);  // the ack
  CHECK(sent_response(h.ml.sent[0]).Flags == 1);

  std::string err;
  REQUIRE(h.serf.respond(q, bytes("hello from cpp1"), &err));
  REQUIRE(h.ml.sent.size() == 2);
  const auto r = sent_response(h.ml.sent[1]);
  CHECK(r.Flags == 0);
  CHECK(r.From == "cpp1");
  CHECK(r.ID == 0x5877cc78);
  CHECK(r.LTime == 1);
  CHECK(r.Payload == bytes("hello from cpp1"));
  CHECK_FALSE(h.serf.respond(q, bytes("again"), &err));
  CHECK(err == "response already sent");
}

TEST_CASE("serf: responses respect the deadline and the size limit", "[serf]") {
  Harness h;
  h.serf.notify_msg(query_msg(query("a", 1, 1, 0)));
  h.serf.notify_msg(query_msg(query("b", 1, 2, 0)));
  REQUIRE(h.queries.size() == 2);
  CHECK(h.ml.sent.empty());  // no ack flag
  std::string err;
  CHECK_FALSE(h.serf.respond(h.queries[0], Bytes(1024, 'x'), &err));
  CHECK(err.find("1024") != std::string::npos);
  h.advance(3s);
  CHECK_FALSE(h.serf.respond(h.queries[1], bytes("late"), &err));
  CHECK(err == "response is past the deadline");
  CHECK(h.ml.sent.empty());
}

TEST_CASE("serf: no-broadcast flag and filters", "[serf]") {
  Harness h(config("cpp1", {{"role", "web-frontend"}, {"dc", "eu1"}}));
  // Flag 2: handled but not re-broadcast.
  h.serf.notify_msg(query_msg(query("q", 1, 1, 3)));
  CHECK(h.queries.size() == 1);
  CHECK(h.drain().empty());

  auto named = [&](std::uint32_t id, std::vector<Bytes> filters) {
    auto q = query("q", 2, id);
    q.Filters = std::move(filters);
    const std::size_t before = h.queries.size();
    h.serf.notify_msg(query_msg(q));
    return h.queries.size() > before;
  };
  CHECK(named(10, {serf::encode_node_filter({"s1", "cpp1"})}));
  CHECK_FALSE(named(11, {serf::encode_node_filter({"s1", "s2"})}));
  // Go regexp.MatchString: unanchored.
  CHECK(named(12, {serf::encode_tag_filter("role", "web")}));
  CHECK(named(13, {serf::encode_tag_filter("role", "^web-.*d$")}));
  CHECK_FALSE(named(14, {serf::encode_tag_filter("role", "^db")}));
  CHECK_FALSE(named(15, {serf::encode_tag_filter("missing", "x")}));
  CHECK(named(16, {serf::encode_tag_filter("missing", "^$")}));
  // All filters must match.
  CHECK_FALSE(named(17, {serf::encode_node_filter({"cpp1"}), serf::encode_tag_filter("dc", "us")}));
  CHECK(named(18, {serf::encode_node_filter({"cpp1"}), serf::encode_tag_filter("dc", "eu")}));
  // Bad regexps exclude us without throwing (Go: no match, no panic).
  CHECK_FALSE(named(19, {serf::encode_tag_filter("role", "(unclosed")}));
  CHECK_FALSE(named(20, {serf::encode_tag_filter("role", "(a)\\1")}));
  CHECK_FALSE(named(21, {serf::encode_tag_filter("role", "((a{999}){999}){999}")}));
  CHECK_FALSE(named(22, {serf::encode_tag_filter("role", std::string(300, 'w'))}));
  // Unknown filter types, garbage and the empty filter (which panics Go at filter[0]) make the
  // whole query unsafe: dropped, neither processed nor re-broadcast.
  CHECK_FALSE(named(23, {hex("05 90")}));
  CHECK_FALSE(named(24, {Bytes{}}));
  CHECK_FALSE(named(25, {hex("00 92 a1")}));
  CHECK(h.serf.stats().unsafe_dropped == 3);
  CHECK(h.serf.stats().bad_filters == 4);
  CHECK(h.serf.stats().queries_filtered == 8);
  // Filtered queries are still re-broadcast (§7.10 step 2) and were acked only when matched.
  CHECK(h.serf.queued_queries() == 13);
  CHECK(h.ml.sent.size() == 6);
}

TEST_CASE("serf: _serf_conflict answers with the member or nil", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3, {{"role", "db"}}));
  auto q = query("_serf_conflict", 1, 7, 0);
  q.Payload = bytes("s1");
  h.serf.notify_msg(query_msg(q));
  REQUIRE(h.ml.sent.size() == 1);
  auto r = sent_response(h.ml.sent[0]);
  REQUIRE(r.Payload.has_value());
  CHECK(*r.Payload ==
        hex("06 8b a4 41 64 64 72 a4 0a 00 00 03 ab 44 65 6c 65 67 61 74 65 43 75 72 05 ab 44 65 "
            "6c 65 67 61 74 65 4d 61 78 05 ab 44 65 6c 65 67 61 74 65 4d 69 6e 02 a4 4e 61 6d 65 "
            "a2 73 31 a4 50 6f 72 74 cd 1f 0a ab 50 72 6f 74 6f 63 6f 6c 43 75 72 02 ab 50 72 6f "
            "74 6f 63 6f 6c 4d 61 78 05 ab 50 72 6f 74 6f 63 6f 6c 4d 69 6e 01 a6 53 74 61 74 75 "
            "73 01 a4 54 61 67 73 81 a4 72 6f 6c 65 a2 64 62"));

  q.ID = 8;
  q.Payload = bytes("nobody");
  h.serf.notify_msg(query_msg(q));
  REQUIRE(h.ml.sent.size() == 2);
  CHECK(sent_response(h.ml.sent[1]).Payload == hex("06 c0"));

  q.ID = 9;
  q.Payload = bytes("cpp1");  // about us: no answer
  h.serf.notify_msg(query_msg(q));
  CHECK(h.ml.sent.size() == 2);
}

TEST_CASE("serf: key queries without a keyring answer Result=false", "[serf]") {
  Harness h;
  auto install = query("_serf_install-key", 1, 1, 0);
  install.Payload = hex("07 81 a3 4b 65 79 a2 41 42");  // 07 + {Key: "AB"}
  h.serf.notify_msg(query_msg(install));
  auto list = query("_serf_list-keys", 1, 2, 0);
  h.serf.notify_msg(query_msg(list));
  REQUIRE(h.ml.sent.size() == 2);
  const std::string no_keyring = "No keyring to modify (encryption not enabled)";
  // 08 + {Keys nil, Message, PrimaryKey "", Result false}; Go writes a 45-byte string as da.
  Bytes expect{0x08, 0x84};
  auto raw = [&](std::string_view s) {
    if (s.size() < 32) {
      expect.push_back(static_cast<std::uint8_t>(0xa0 | s.size()));
    } else {
      expect.insert(expect.end(), {0xda, 0x00, static_cast<std::uint8_t>(s.size())});
    }
    expect.insert(expect.end(), s.begin(), s.end());
  };
  raw("Keys");
  expect.push_back(0xc0);
  raw("Message");
  raw(no_keyring);
  raw("PrimaryKey");
  raw("");
  raw("Result");
  expect.push_back(0xc2);
  CHECK(sent_response(h.ml.sent[0]).Payload == expect);
  const auto listed = sent_response(h.ml.sent[1]).Payload;
  REQUIRE(listed.has_value());
  const std::string text(listed->begin(), listed->end());
  CHECK(text.find("Keyring is empty (encryption not enabled)") != std::string::npos);
  CHECK(listed->back() == 0xc2);
}

TEST_CASE("serf: queries outside the window or duplicated are dropped", "[serf]") {
  auto c = config();
  c.query_buffer = 4;
  c.max_queries_per_slot = 2;
  Harness h(c);
  h.serf.notify_msg(query_msg(query("q", 10, 1, 0)));  // clock 11
  h.serf.notify_msg(query_msg(query("q", 6, 2, 0)));   // 6 < 11 - 4
  CHECK(h.serf.stats().queries_too_old == 1);
  h.serf.notify_msg(query_msg(query("q", 10, 2, 0)));
  h.serf.notify_msg(query_msg(query("q", 10, 3, 0)));  // slot full
  CHECK(h.serf.stats().queries_dropped == 1);
  CHECK(h.queries.size() == 2);
}

TEST_CASE("serf: a query we originate is handled locally, gossiped, and collects answers",
          "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  std::vector<std::string> acks, answers;
  int done_acks = -1, done_answers = -1;
  serf::QueryCallbacks cb;
  cb.ack = [&](const std::string& from) { acks.push_back(from); };
  cb.response = [&](const std::string& from, const Bytes& p) {
    answers.push_back(from + ":" + std::string(p.begin(), p.end()));
  };
  cb.done = [&](int a, int r) {
    done_acks = a;
    done_answers = r;
  };
  serf::QueryParams params;
  params.request_ack = true;
  params.timeout = 2s;
  REQUIRE(h.serf.query("whoami", bytes("ping"), params, cb));
  // Our own handler saw it first, and our ack went to our own address.
  REQUIRE(h.queries.size() == 1);
  CHECK(h.queries[0].name == "whoami");
  REQUIRE(h.ml.sent.size() == 2);
  CHECK(h.ml.sent[0].to == swim::Address{{10, 0, 0, 2}, 7946});
  // A direct copy of the query to the other alive member.
  CHECK(h.ml.sent[1].to == swim::Address{{10, 0, 0, 3}, 7946});
  CHECK(h.ml.sent[1].msg.at(0) == static_cast<std::uint8_t>(wire::SerfMsgType::kQuery));
  const auto gossiped = h.drain();
  REQUIRE(gossiped.size() == 1);
  wire::SerfQuery q;
  REQUIRE(wire::decode(wire::ByteSpan(gossiped[0]).subspan(1), q));
  CHECK(q.SourceNode == "cpp1");
  CHECK(q.Flags == 1);
  CHECK(q.Timeout == 2'000'000'000);
  CHECK(q.ID <= 0x7fffffffu);
  // Answers: acks and responses once per node; wrong IDs and late ones are ignored.
  auto answer = [&](const std::string& from, std::uint32_t id, std::uint32_t flags,
                    const std::string& payload) {
    const wire::SerfQueryResponse r{
        q.LTime, id, from, flags,
        flags ? std::optional<Bytes>() : std::optional<Bytes>(bytes(payload))};
    h.serf.notify_msg(wire::serf_message(wire::SerfMsgType::kQueryResponse, r));
  };
  h.serf.notify_msg(h.ml.sent[0].msg);  // our own ack comes back
  answer("s1", q.ID, 1, "");
  answer("s1", q.ID, 1, "");
  answer("s1", q.ID, 0, "pong");
  answer("s1", q.ID, 0, "again");
  answer("s2", q.ID + 1, 0, "wrong id");
  CHECK(acks == std::vector<std::string>{"cpp1", "s1"});
  CHECK(answers == std::vector<std::string>{"s1:pong"});
  CHECK(done_acks == -1);
  h.advance(2s);
  CHECK(done_acks == 2);
  CHECK(done_answers == 1);
  answer("s3", q.ID, 0, "late");
  CHECK(answers.size() == 1);
  CHECK(h.serf.stats().query_responses_ignored == 2);
}

TEST_CASE("serf: queries we could not send safely or that are too large are refused", "[serf]") {
  Harness h;
  std::string err;
  CHECK_FALSE(h.serf.query("_serf_install-key", {}, {}, {}, &err));
  CHECK(err.starts_with("refused: "));
  CHECK_FALSE(h.serf.query("big", Bytes(2000, 'x'), {}, {}, &err));
  CHECK(err == "query exceeds limit of 1024 bytes");
  CHECK(h.serf.default_query_timeout() == 3200ms);  // 200 ms x 16 x ceil(log10(1 + 1))
}

TEST_CASE("serf: a name conflict about us runs _serf_conflict: the minority stands down",
          "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 3));
  h.serf.notify_join(node("s2", 4));
  std::string lost;
  h.serf.set_conflict_lost_handler([&](const std::string& why) { lost = why; });
  swim::NodeInfo other = h.ml.self;
  other.addr = {10, 0, 0, 99};
  h.serf.notify_conflict(h.ml.self, other);
  h.serf.notify_conflict(h.ml.self, other);  // one resolution at a time
  const auto gossiped = h.drain();
  REQUIRE(gossiped.size() == 1);
  wire::SerfQuery q;
  REQUIRE(wire::decode(wire::ByteSpan(gossiped[0]).subspan(1), q));
  CHECK(q.Name == "_serf_conflict");
  CHECK(q.Payload == bytes("cpp1"));
  // Both peers know "cpp1" at 10.0.0.99: we are the impostor.
  auto member_at = [](std::uint8_t last) {
    Bytes p{0x06};
    wire::mp::Writer w(p);
    w.map(3);
    w.str("Addr");
    w.bytes(Bytes{10, 0, 0, last});
    w.str("Name");
    w.str("cpp1");
    w.str("Port");
    w.uint(7946);
    return p;
  };
  for (const char* from : {"s1", "s2"}) {
    const wire::SerfQueryResponse r{q.LTime, q.ID, from, 0, member_at(99)};
    h.serf.notify_msg(wire::serf_message(wire::SerfMsgType::kQueryResponse, r));
  }
  h.advance(10s);
  CHECK(lost.find("name conflict: 10.0.0.99:7946 also claims the name 'cpp1'") == 0);
  CHECK(lost.find("0 of 2 answers") != std::string::npos);
  CHECK(h.serf.stats().name_conflicts == 2);
  CHECK(h.serf.stats().conflict_resolutions == 1);

  // The majority knows our address: nothing happens.
  Harness k;
  k.serf.notify_join(node("s1", 3));
  bool k_lost = false;
  k.serf.set_conflict_lost_handler([&](const std::string&) { k_lost = true; });
  k.serf.notify_conflict(k.ml.self, other);
  wire::SerfQuery kq;
  REQUIRE(wire::decode(wire::ByteSpan(k.drain().at(0)).subspan(1), kq));
  const wire::SerfQueryResponse r{kq.LTime, kq.ID, "s1", 0, member_at(2)};
  k.serf.notify_msg(wire::serf_message(wire::SerfMsgType::kQueryResponse, r));
  k.advance(10s);
  CHECK_FALSE(k_lost);
  // Someone else's conflict is only counted.
  swim::NodeInfo s1 = node("s1", 3), s1_elsewhere = node("s1", 77);
  k.serf.notify_conflict(s1, s1_elsewhere);
  CHECK(k.serf.stats().name_conflicts_others == 1);
}

TEST_CASE("serf: RelayFactor sends copies of our ack and response through other members",
          "[serf]") {
  Harness h;
  for (std::uint8_t i = 3; i <= 6; ++i) h.serf.notify_join(node("n" + std::to_string(i), i));
  h.serf.notify_join(node("s1", 1));
  auto q = query("whoami", 1, 77);
  q.Addr = {10, 0, 0, 1};  // s1, the origin
  q.RelayFactor = 2;
  h.serf.notify_msg(query_msg(q));
  REQUIRE(h.queries.size() == 1);
  // The ack: once directly, twice through relays (never through us).
  REQUIRE(h.ml.sent.size() == 3);
  CHECK(h.ml.sent[0].to == swim::Address{{10, 0, 0, 1}, 7946});
  for (int i = 1; i <= 2; ++i) {
    const auto& s = h.ml.sent[i];
    REQUIRE(s.msg.at(0) == 0x09);
    CHECK(s.to.ip != (Bytes{10, 0, 0, 2}));
    wire::SerfRelayHeader header;
    wire::ByteSpan inner;
    REQUIRE(wire::decode_relay_message(wire::ByteSpan(s.msg).subspan(1), header, inner));
    CHECK(header.DestName == "s1");
    CHECK(header.DestIP == (Bytes{10, 0, 0, 1}));
    CHECK(header.DestPort == 7946);
    CHECK(Bytes(inner.begin(), inner.end()) == h.ml.sent[0].msg);
  }
  std::string err;
  REQUIRE(h.serf.respond(h.queries[0], bytes("me"), &err));
  CHECK(h.ml.sent.size() == 6);
  CHECK(h.serf.stats().responses_relayed == 4);
}

TEST_CASE("serf: a relay is forwarded only to the member it names, at its address", "[serf]") {
  Harness h;
  h.serf.notify_join(node("s1", 1));
  const wire::SerfQueryResponse resp{5, 9, "n3", 0, bytes("ok")};
  const auto inner = wire::serf_message(wire::SerfMsgType::kQueryResponse, resp);
  // To s1 at s1's address: forwarded, re-encoded from what was decoded.
  h.serf.notify_msg(wire::encode_relay_message({{10, 0, 0, 1}, 7946, "", "s1"}, inner));
  REQUIRE(h.ml.sent.size() == 1);
  CHECK(h.ml.sent[0].to == swim::Address{{10, 0, 0, 1}, 7946});
  CHECK(h.ml.sent[0].msg == inner);
  CHECK(h.serf.stats().relays_forwarded == 1);
  // Another address for s1, an unknown node, or something that is not a query response:
  // refused (we are no reflector).
  h.serf.notify_msg(wire::encode_relay_message({{192, 0, 2, 1}, 53, "", "s1"}, inner));
  h.serf.notify_msg(wire::encode_relay_message({{10, 0, 0, 9}, 7946, "", "nobody"}, inner));
  h.serf.notify_msg(wire::encode_relay_message({{10, 0, 0, 1}, 7946, "", "s1"},
                                               join_msg("evil", 1)));
  h.serf.notify_msg(Bytes{0x09, 0xc1});
  CHECK(h.ml.sent.size() == 1);
  CHECK(h.serf.stats().relays_ignored == 4);
}
