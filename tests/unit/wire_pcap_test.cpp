// SPDX-License-Identifier: MIT
// core/wire against real traffic: tests/data/serf-0.9.4-lan.pcap, captured from the Debian serf
// 0.9.4 agent (see serf-0.9.4-lan.README.md). Every UDP datagram and TCP stream must decode, and
// the cluster story told by the README must be visible in the decoded messages.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/wire/wire.hpp"

using namespace haserf::wire;

namespace {

// ---- minimal libpcap reader: global header, record headers, Ethernet, IPv4, UDP/TCP ----

struct Packet {
  bool udp = false;
  std::uint32_t src_ip = 0, dst_ip = 0;
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint32_t seq = 0;
  bool syn = false;
  Bytes payload;
};

std::uint32_t be(const std::uint8_t* p, int n) {
  std::uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

std::vector<Packet> read_pcap(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const Bytes d((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  REQUIRE(d.size() >= 24);
  const std::uint32_t magic = d[0] | (d[1] << 8) | (d[2] << 16) | (std::uint32_t{d[3]} << 24);
  // a1b2c3d4 (usec) or a1b23c4d (nsec), in either byte order.
  const bool le = magic == 0xa1b2c3d4 || magic == 0xa1b23c4d;
  REQUIRE((le || magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1));
  auto u32 = [&](std::size_t off) {
    return le ? (d[off] | (d[off + 1] << 8) | (d[off + 2] << 16) |
                 (std::uint32_t{d[off + 3]} << 24))
              : be(&d[off], 4);
  };
  REQUIRE(u32(20) == 1);  // DLT_EN10MB
  std::vector<Packet> out;
  std::size_t off = 24;
  while (off + 16 <= d.size()) {
    const std::uint32_t caplen = u32(off + 8);
    off += 16;
    REQUIRE(off + caplen <= d.size());
    const std::uint8_t* fr = &d[off];
    off += caplen;
    if (caplen < 14 + 20 || be(fr + 12, 2) != 0x0800) continue;  // IPv4 only
    const std::uint8_t* ip = fr + 14;
    const std::size_t ihl = (ip[0] & 0x0f) * 4u;
    const std::size_t ip_len = be(ip + 2, 2);
    REQUIRE(14 + ip_len <= caplen);
    Packet p;
    p.src_ip = be(ip + 12, 4);
    p.dst_ip = be(ip + 16, 4);
    const std::uint8_t* l4 = ip + ihl;
    if (ip[9] == 17) {
      p.udp = true;
      p.src_port = static_cast<std::uint16_t>(be(l4, 2));
      p.dst_port = static_cast<std::uint16_t>(be(l4 + 2, 2));
      p.payload.assign(l4 + 8, ip + ip_len);
    } else if (ip[9] == 6) {
      p.src_port = static_cast<std::uint16_t>(be(l4, 2));
      p.dst_port = static_cast<std::uint16_t>(be(l4 + 2, 2));
      p.seq = be(l4 + 4, 4);
      p.syn = (l4[13] & 0x02) != 0;
      const std::size_t doff = (l4[12] >> 4) * 4u;
      p.payload.assign(l4 + doff, ip + ip_len);
    } else {
      continue;
    }
    out.push_back(std::move(p));
  }
  return out;
}

using FlowKey = std::tuple<std::uint32_t, std::uint16_t, std::uint32_t, std::uint16_t>;

struct Flow {
  std::uint32_t isn = 0;
  bool have_syn = false;
  std::map<std::uint32_t, Bytes> segments;  // relative sequence -> payload
  std::uint16_t server_port = 0;
};

// Reassembles each direction of each TCP connection in sequence order (retransmissions and
// overlaps are trimmed).
std::vector<std::pair<FlowKey, Bytes>> tcp_streams(const std::vector<Packet>& pkts) {
  std::map<FlowKey, Flow> flows;
  std::vector<FlowKey> order;
  for (const auto& p : pkts) {
    if (p.udp) continue;
    const FlowKey k{p.src_ip, p.src_port, p.dst_ip, p.dst_port};
    auto [it, fresh] = flows.try_emplace(k);
    if (fresh) order.push_back(k);
    Flow& fl = it->second;
    if (p.syn) {
      fl.isn = p.seq + 1;
      fl.have_syn = true;
    }
    if (!p.payload.empty()) {
      REQUIRE(fl.have_syn);
      fl.segments.emplace(p.seq - fl.isn, p.payload);
    }
  }
  std::vector<std::pair<FlowKey, Bytes>> out;
  for (const auto& k : order) {
    const Flow& fl = flows[k];
    if (fl.segments.empty()) continue;
    Bytes s;
    for (const auto& [rel, data] : fl.segments) {
      REQUIRE(rel <= s.size());  // no holes in the capture
      if (rel + data.size() > s.size())
        s.insert(s.end(), data.begin() + (s.size() - rel), data.end());
    }
    out.emplace_back(k, std::move(s));
  }
  return out;
}

// ---- what the capture says ----

struct Seen {
  std::vector<std::string> errors;
  std::vector<Alive> alives;
  std::vector<Bytes> alive_raw;
  std::vector<Suspect> suspects;
  std::vector<Dead> deads;
  std::vector<SerfUserEvent> events;
  std::vector<SerfQuery> queries;
  std::vector<SerfLeave> leaves;
  std::vector<SerfJoin> joins;
  std::vector<PushPull> push_pulls;
  std::vector<SerfPushPull> serf_states;
  std::map<int, int> types;
  int pings = 0, acks = 0, datagrams = 0, streams = 0, compressed_streams = 0;
  int lzw_checked = 0, lzw_identical = 0;
};

template <typename T>
bool take(Seen& seen, ByteSpan body, T& out, const char* what) {
  std::string err;
  if (decode(body, out, &err)) return true;
  seen.errors.push_back(std::string(what) + ": " + err);
  return false;
}

void on_serf(Seen& seen, ByteSpan m) {
  if (m.empty()) {
    seen.errors.push_back("empty user message");
    return;
  }
  const ByteSpan body = m.subspan(1);
  switch (static_cast<SerfMsgType>(m[0])) {
    case SerfMsgType::kLeave: {
      SerfLeave l;
      if (take(seen, body, l, "serf leave")) seen.leaves.push_back(l);
      break;
    }
    case SerfMsgType::kJoin: {
      SerfJoin j;
      if (take(seen, body, j, "serf join")) seen.joins.push_back(j);
      break;
    }
    case SerfMsgType::kUserEvent: {
      SerfUserEvent e;
      if (take(seen, body, e, "serf event")) seen.events.push_back(e);
      break;
    }
    case SerfMsgType::kQuery: {
      SerfQuery q;
      if (take(seen, body, q, "serf query")) seen.queries.push_back(q);
      break;
    }
    case SerfMsgType::kQueryResponse: {
      SerfQueryResponse r;
      take(seen, body, r, "serf response");
      break;
    }
    default:
      seen.errors.push_back("unexpected serf type " + std::to_string(m[0]));
  }
}

void on_message(Seen& seen, const Bytes& m) {
  const ByteSpan body = ByteSpan(m).subspan(1);
  ++seen.types[m[0]];
  switch (static_cast<MsgType>(m[0])) {
    case MsgType::kPing: {
      Ping p;
      if (take(seen, body, p, "ping")) ++seen.pings;
      break;
    }
    case MsgType::kIndirectPing: {
      IndirectPing p;
      take(seen, body, p, "indirectPing");
      break;
    }
    case MsgType::kAck: {
      Ack a;
      if (take(seen, body, a, "ack")) ++seen.acks;
      break;
    }
    case MsgType::kNack: {
      Nack n;
      take(seen, body, n, "nack");
      break;
    }
    case MsgType::kSuspect: {
      Suspect s;
      if (take(seen, body, s, "suspect")) seen.suspects.push_back(s);
      break;
    }
    case MsgType::kAlive: {
      Alive a;
      if (take(seen, body, a, "alive")) {
        seen.alives.push_back(a);
        seen.alive_raw.push_back(m);
      }
      break;
    }
    case MsgType::kDead: {
      Dead d;
      if (take(seen, body, d, "dead")) seen.deads.push_back(d);
      break;
    }
    case MsgType::kUser:
      on_serf(seen, body);
      break;
    default:
      seen.errors.push_back("unexpected message type " + std::to_string(m[0]));
  }
}

// Our LZW encoder must reproduce Go's compressed bytes exactly (§2.5).
void check_lzw_identity(Seen& seen, ByteSpan compress_msg) {
  Compress c;
  Bytes plain;
  if (!decode(compress_msg.subspan(1), c) || !lzw_decompress(c.Buf, plain, 1 << 24)) return;
  ++seen.lzw_checked;
  if (lzw_compress(plain) == c.Buf) ++seen.lzw_identical;
}

void on_datagram(Seen& seen, const Bytes& dgram, const Keyring* ring) {
  ++seen.datagrams;
  std::vector<Bytes> msgs;
  std::string err;
  if (!unwrap_datagram(dgram, ring, msgs, &err)) seen.errors.push_back("datagram: " + err);
  if (msgs.empty()) seen.errors.push_back("datagram without messages");
  if (!ring) {
    ByteSpan top(dgram);
    if (!top.empty() && top[0] == 0x0c) top = top.subspan(5);
    if (!top.empty() && top[0] == 0x09) check_lzw_identity(seen, top);
  }
  for (const auto& m : msgs) on_message(seen, m);
}

void on_stream(Seen& seen, const Bytes& s, const Keyring* ring) {
  ++seen.streams;
  StreamReader r(ring);
  r.feed(s);
  if (r.poll() != StreamStatus::kDone) {
    seen.errors.push_back("stream: " + r.error());
    return;
  }
  if (r.message().was_compressed) ++seen.compressed_streams;
  if (!ring && s[0] == 0x09) check_lzw_identity(seen, s);
  const StreamMessage& m = r.message();
  if (m.type == MsgType::kPushPull) {
    seen.push_pulls.push_back(m.push_pull);
    SerfPushPull spp;
    std::string err;
    if (decode_serf_push_pull(m.push_pull.UserState, spp, &err)) {
      seen.serf_states.push_back(spp);
    } else {
      seen.errors.push_back(err);
    }
  } else if (m.type == MsgType::kPing) {
    ++seen.pings;
  } else if (m.type == MsgType::kAck) {
    ++seen.acks;
  } else {
    seen.errors.push_back("unexpected stream type " + std::to_string(static_cast<int>(m.type)));
  }
}

Seen decode_capture(std::uint16_t lo, std::uint16_t hi, const Keyring* ring) {
  const auto pkts = read_pcap(std::string(HASERF_TEST_DATA) + "/serf-0.9.4-lan.pcap");
  auto ours = [&](std::uint16_t a, std::uint16_t b) {
    return (a >= lo && a <= hi) || (b >= lo && b <= hi);
  };
  Seen seen;
  for (const auto& p : pkts) {
    if (p.udp && ours(p.src_port, p.dst_port)) on_datagram(seen, p.payload, ring);
  }
  for (const auto& [k, s] : tcp_streams(pkts)) {
    if (ours(std::get<1>(k), std::get<3>(k))) on_stream(seen, s, ring);
  }
  return seen;
}

Tags tags_of(const Alive& a) {
  Tags t;
  if (a.Meta) REQUIRE(decode_tags(*a.Meta, t));
  return t;
}

const Alive* last_alive(const Seen& s, const std::string& node) {
  const Alive* found = nullptr;
  for (const auto& a : s.alives) {
    if (a.Node == node && (!found || a.Incarnation >= found->Incarnation)) found = &a;
  }
  return found;
}

const Alive* first_alive(const Seen& s, const std::string& node) {
  for (const auto& a : s.alives) {
    if (a.Node == node) return &a;
  }
  return nullptr;
}

std::string bytes_str(const Bytes& b) {
  return std::string(b.begin(), b.end());
}

}  // namespace

TEST_CASE("wire: pcap plain cluster decodes completely", "[wire]") {
  const Seen s = decode_capture(17946, 17948, nullptr);
  for (const auto& e : s.errors) UNSCOPED_INFO(e);
  CHECK(s.errors.empty());
  CHECK(s.datagrams > 50);
  CHECK(s.pings > 0);
  CHECK(s.acks > 0);

  const Alive* web1 = first_alive(s, "web1");
  const Alive* web2 = first_alive(s, "web2");
  const Alive* lb1 = first_alive(s, "lb1");
  REQUIRE(web1);
  REQUIRE(web2);
  REQUIRE(lb1);
  CHECK(tags_of(*web1) == Tags{{"role", "backend"}, {"port", "3000"}});
  CHECK(tags_of(*web2) == Tags{{"role", "backend"}, {"port", "3001"}, {"zone", "eu-1"}});
  CHECK(tags_of(*lb1) == Tags{{"role", "balancer"}});
  CHECK(web1->Vsn == kOurVsn);
  CHECK(web1->Addr == Bytes{127, 0, 0, 1});
  CHECK(web1->Port == 17946);

  // web2's tag update: a later alive with weight=50 and a higher incarnation.
  const Alive* web2b = last_alive(s, "web2");
  REQUIRE(web2b);
  CHECK(web2b->Incarnation > web2->Incarnation);
  CHECK(tags_of(*web2b).count("weight") == 1);
  CHECK(tags_of(*web2b).at("weight") == "50");

  // User event and query.
  const auto ev = std::find_if(s.events.begin(), s.events.end(),
                               [](const SerfUserEvent& e) { return e.Name == "deploy"; });
  REQUIRE(ev != s.events.end());
  CHECK(bytes_str(ev->Payload) == "v2.1");
  CHECK(ev->CC);
  const auto q = std::find_if(s.queries.begin(), s.queries.end(),
                              [](const SerfQuery& x) { return x.Name == "uptime"; });
  REQUIRE(q != s.queries.end());
  CHECK(q->Timeout == 1000000000);

  // lb1 leaves gracefully: leave intent, then dead with From == Node.
  CHECK(std::any_of(s.leaves.begin(), s.leaves.end(),
                    [](const SerfLeave& l) { return l.Node == "lb1"; }));
  CHECK(std::any_of(s.deads.begin(), s.deads.end(),
                    [](const Dead& d) { return d.Node == "lb1" && d.From == "lb1"; }));
  // web2 is killed: suspect, then dead by someone else.
  CHECK(std::any_of(s.suspects.begin(), s.suspects.end(),
                    [](const Suspect& x) { return x.Node == "web2" && x.From != "web2"; }));
  CHECK(std::any_of(s.deads.begin(), s.deads.end(),
                    [](const Dead& d) { return d.Node == "web2" && d.From != "web2"; }));
  CHECK(std::any_of(s.joins.begin(), s.joins.end(),
                    [](const SerfJoin& j) { return j.Node == "web2"; }));

  // Push/pull streams: compressed, decoding to node lists with serf state.
  CHECK(s.streams >= 4);
  CHECK(s.compressed_streams == s.streams);
  REQUIRE_FALSE(s.push_pulls.empty());
  bool saw_web1_state = false;
  for (const auto& pp : s.push_pulls) {
    CHECK_FALSE(pp.Nodes.empty());
    for (const auto& n : pp.Nodes) {
      CHECK(n.Vsn == kOurVsn);
      if (n.Name == "web1") saw_web1_state = true;
    }
  }
  CHECK(saw_web1_state);
  REQUIRE(s.serf_states.size() == s.push_pulls.size());
  CHECK(s.serf_states.front().Events.size() == 512);  // serf's ring (§7.3)

  // Our LZW encoder reproduces every Go-compressed buffer in the capture.
  CHECK(s.lzw_checked > 0);
  CHECK(s.lzw_identical == s.lzw_checked);
}

TEST_CASE("wire: pcap alive messages re-encode to Go's bytes", "[wire]") {
  const Seen s = decode_capture(17946, 17948, nullptr);
  REQUIRE_FALSE(s.alive_raw.empty());
  int sorted_tags = 0;
  for (std::size_t i = 0; i < s.alive_raw.size(); ++i) {
    const Alive& a = s.alives[i];
    // Meta is opaque bytes here, so the whole message must come back byte for byte.
    CHECK(message(MsgType::kAlive, a) == s.alive_raw[i]);
    // Rebuilding Meta from the tags: Go writes the map in random order, so it matches exactly
    // only when Go happened to use sorted order; otherwise compare structurally.
    Alive rebuilt = a;
    rebuilt.Meta = encode_tags(tags_of(a));
    const Bytes again = message(MsgType::kAlive, rebuilt);
    if (again == s.alive_raw[i]) {
      ++sorted_tags;
      continue;
    }
    Alive b;
    REQUIRE(decode(ByteSpan(again).subspan(1), b));
    CHECK(again.size() == s.alive_raw[i].size());
    CHECK(tags_of(b) == tags_of(a));
  }
  CHECK(sorted_tags > 0);  // at least lb1's single tag
}

TEST_CASE("wire: pcap encrypted cluster decrypts with the README key", "[wire]") {
  Keyring ring;
  Bytes key;
  REQUIRE(parse_key_base64("cYyrjdSx7vBdLnU5WM2mgu6KRumBKEDdbZjYCGBws9I=", key));
  ring.keys.push_back(key);
  const Seen s = decode_capture(27946, 27947, &ring);
  for (const auto& e : s.errors) UNSCOPED_INFO(e);
  CHECK(s.errors.empty());
  CHECK(s.datagrams > 5);
  CHECK(s.streams >= 2);
  const Alive* sec1 = first_alive(s, "sec1");
  const Alive* sec2 = first_alive(s, "sec2");
  if (sec1) CHECK(tags_of(*sec1) == Tags{{"role", "backend"}});
  REQUIRE(sec2);
  CHECK(tags_of(*sec2) == Tags{{"role", "backend"}});
  // sec1 may appear only in push/pull states (it was there first).
  bool sec1_state = sec1 != nullptr;
  for (const auto& pp : s.push_pulls) {
    for (const auto& n : pp.Nodes) {
      if (n.Name == "sec1") {
        sec1_state = true;
        Tags t;
        REQUIRE(decode_tags(n.Meta, t));
        CHECK(t == Tags{{"role", "backend"}});
      }
    }
  }
  CHECK(sec1_state);
  const auto ev = std::find_if(s.events.begin(), s.events.end(),
                               [](const SerfUserEvent& e) { return e.Name == "secret-event"; });
  REQUIRE(ev != s.events.end());
  CHECK(bytes_str(ev->Payload) == "hello");

  // Without the key nothing decrypts.
  const Keyring wrong{{Bytes(32, 0)}};
  const Seen bad = decode_capture(27946, 27947, &wrong);
  CHECK(bad.alives.empty());
  CHECK_FALSE(bad.errors.empty());
}
