// SPDX-License-Identifier: MIT
// core/rpc and core/wire/rpc.hpp: serf's RPC protocol, codec and server (docs/serf-rpc.md).
// The server runs for a real Agent on loopback (127.0.64.x); the client is ours.
#include "core/rpc/rpc_server.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "core/net/agent.hpp"
#include "core/rpc/rpc_client.hpp"
#include "core/wire/msgpack_reader.hpp"
#include "core/wire/rpc.hpp"

using namespace haserf;
namespace wr = wire::rpc;

namespace {

struct Fixture {
  table::MembershipTable table;
  std::unique_ptr<net::Agent> agent;
  std::unique_ptr<rpc::Server> server;
  std::string addr;

  explicit Fixture(std::string auth = {}) {
    net::AgentConfig c;
    c.node_name = "rpc1";
    c.bind = "127.0.64.1:0";
    c.profile = "local";
    agent = std::make_unique<net::Agent>(c, table);
    std::string err;
    rpc::ServerConfig sc;
    sc.addr = "127.0.64.1:0";
    sc.auth_key = std::move(auth);
    sc.version = "test";
    server = std::make_unique<rpc::Server>(std::move(sc), *agent, table);
    REQUIRE(server->start(&err));
    // Handlers are set before the agent starts (its loop thread reads them).
    agent->on_user_event([this](const serf::UserEvent& e) { server->user_event(e); });
    REQUIRE(agent->start(&err));
    addr = "127.0.64.1:" + std::to_string(server->port());
  }
  ~Fixture() {
    agent->stop();
    server->stop();
  }
};

// A raw connection, for what our client never sends.
int raw_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.64.1", &a.sin_addr);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

wire::Bytes read_some(int fd) {
  std::uint8_t buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  return n > 0 ? wire::Bytes(buf, buf + n) : wire::Bytes{};
}

}  // namespace

TEST_CASE("rpc codec: request header and every body field round-trip", "[rpc]") {
  wr::RequestBody b;
  b.name = "deploy";
  b.payload = {0, 1, 2, 0xff};
  b.coalesce = true;
  const auto header = wr::encode_request_header("event", 7);
  wr::RequestHeader h;
  REQUIRE(wr::decode_request_header(header, h, nullptr));
  CHECK(h.command == "event");
  CHECK(h.seq == 7);
  wr::RequestBody got;
  REQUIRE(wr::decode_request_body(wr::encode_request_body("event", b), got, nullptr));
  CHECK(got.name == "deploy");
  CHECK(got.payload == b.payload);
  CHECK(got.coalesce);

  wr::RequestBody q;
  q.filter_nodes = {"a", "b"};
  q.filter_tags = {{"role", "web.*"}};
  q.request_ack = true;
  q.relay_factor = 2;
  q.timeout_ns = 3'000'000'000;
  q.name = "ping";
  wr::RequestBody gq;
  REQUIRE(wr::decode_request_body(wr::encode_request_body("query", q), gq, nullptr));
  CHECK(gq.filter_nodes == q.filter_nodes);
  CHECK(gq.filter_tags == q.filter_tags);
  CHECK(gq.request_ack);
  CHECK(gq.relay_factor == 2);
  CHECK(gq.timeout_ns == 3'000'000'000);
}

TEST_CASE("rpc codec: what the agent writes is go-msgpack's newer format", "[rpc]") {
  // A 40-byte string is str8 (d9) and a payload is bin (c4), as go-msgpack with WriteExt.
  const std::string long_name(40, 'x');
  const auto rec = wr::encode_user_event_record(5, long_name, wire::Bytes{1, 2}, false);
  const std::string text(rec.begin(), rec.end());
  CHECK(text.find(std::string("\xd9\x28") + long_name) != std::string::npos);
  CHECK(text.find(std::string("\xc4\x02\x01\x02", 4)) != std::string::npos);
  wr::RpcMember m;
  m.name = "n1";
  m.addr = {10, 0, 0, 1};
  m.port = 7946;
  m.status = "failed";
  m.vsn[2] = 2;
  std::vector<wr::RpcMember> back;
  REQUIRE(wr::decode_members(wr::encode_members({m}), back, nullptr));
  REQUIRE(back.size() == 1);
  CHECK(back[0].addr == m.addr);
  CHECK(back[0].status == "failed");
  CHECK(back[0].vsn[2] == 2);
}

TEST_CASE("rpc codec: hostile bodies are refused, never trusted", "[rpc]") {
  wr::RequestBody b;
  std::string err;
  const wire::Bytes truncated = {0x81, 0xa4, 'N', 'a', 'm', 'e', 0xdb, 0xff, 0xff, 0xff, 0xff};
  CHECK_FALSE(wr::decode_request_body(truncated, b, &err));
  const wire::Bytes not_a_map = {0x05};
  CHECK_FALSE(wr::decode_request_body(not_a_map, b, &err));
  const wire::Bytes wrong_type = {0x81, 0xa4, 'S', 't', 'o', 'p', 0xa1, 'x'};
  CHECK_FALSE(wr::decode_request_body(wrong_type, b, &err));
  CHECK_FALSE(err.empty());
}

TEST_CASE("rpc event filters as serf's stream takes them", "[rpc]") {
  std::vector<rpc::EventFilter> f;
  REQUIRE(rpc::parse_event_filter("member-join,user:deploy", f));
  CHECK(rpc::filter_matches(f, "member-join", ""));
  CHECK(rpc::filter_matches(f, "user", "deploy"));
  CHECK_FALSE(rpc::filter_matches(f, "user", "other"));
  CHECK_FALSE(rpc::filter_matches(f, "query", "deploy"));
  REQUIRE(rpc::parse_event_filter("*", f));
  CHECK(rpc::filter_matches(f, "query", "x"));
  CHECK_FALSE(rpc::parse_event_filter("member-joined", f));
  REQUIRE(rpc::parse_event_filter("", f));  // serf: an empty filter streams everything
  CHECK(rpc::filter_matches(f, "member-reap", ""));
  CHECK_FALSE(rpc::parse_event_filter("user,", f));
}

TEST_CASE("rpc server: members, stats, event, coordinate through our client", "[rpc]") {
  Fixture fx;
  rpc::Client c;
  std::string err;
  REQUIRE(c.connect(fx.addr, "", std::chrono::seconds(3), &err));
  std::vector<wr::RpcMember> members;
  REQUIRE(c.members(members, &err));
  REQUIRE(members.size() == 1);
  CHECK(members[0].name == "rpc1");
  CHECK(members[0].status == "alive");
  CHECK(members[0].addr == wire::Bytes{127, 0, 64, 1});
  REQUIRE(c.members_filtered({}, "ali.*", "", members, &err));
  CHECK(members.size() == 1);
  REQUIRE(c.members_filtered({}, "ali", "", members, &err));  // anchored: no match
  CHECK(members.empty());
  CHECK_FALSE(c.members_filtered({}, "(", "", members, &err));
  std::map<std::string, wr::StringMap> stats;
  REQUIRE(c.stats(stats, &err));
  CHECK(stats["agent"]["name"] == "rpc1");
  CHECK(stats["runtime"]["version"] == "test");
  CHECK(stats["serf"]["encrypted"] == "false");
  REQUIRE(c.user_event("hello", wire::Bytes{'x'}, false, &err));
  std::int32_t joined = -1;
  CHECK_FALSE(c.join({"127.0.64.9:1"}, false, joined, &err));
  CHECK(joined == 0);
}

TEST_CASE("rpc server: handshake first, auth, unknown commands, garbage", "[rpc]") {
  Fixture fx("secret");
  {
    rpc::Client c;
    std::string err;
    CHECK_FALSE(c.connect(fx.addr, "wrong", std::chrono::seconds(3), &err));
    CHECK(err == "Invalid authentication token");
    REQUIRE(c.connect(fx.addr, "secret", std::chrono::seconds(3), &err));
    std::vector<wr::RpcMember> members;
    CHECK(c.members(members, &err));
  }
  {
    // Without a handshake: "Handshake required", then the connection is closed.
    const int fd = raw_connect(fx.server->port());
    const auto req = wr::encode_request_header("members", 1);
    REQUIRE(::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
    const auto answer = read_some(fd);
    wr::ResponseHeader h;
    REQUIRE(wr::decode_response_header(answer, h, nullptr));
    CHECK(h.error == "Handshake required");
    CHECK(read_some(fd).empty());  // closed
    ::close(fd);
  }
  {
    // Garbage: closed, and the server still serves.
    const int fd = raw_connect(fx.server->port());
    const wire::Bytes junk = {0xc1, 0xc1, 0xc1, 0xc1};
    ::send(fd, junk.data(), junk.size(), 0);
    CHECK(read_some(fd).empty());
    ::close(fd);
    rpc::Client c;
    std::string err;
    REQUIRE(c.connect(fx.addr, "secret", std::chrono::seconds(3), &err));
  }
  CHECK(fx.server->stats().protocol_errors >= 1);
}

TEST_CASE("rpc server: a user event reaches a stream, in serf's record format", "[rpc]") {
  Fixture fx;
  const int fd = raw_connect(fx.server->port());
  wr::RequestBody hs;
  hs.version = 1;
  wr::RequestBody st;
  st.type = "user:deploy";
  wire::Bytes req = wr::encode_request_header("handshake", 0);
  auto b = wr::encode_request_body("handshake", hs);
  req.insert(req.end(), b.begin(), b.end());
  auto h2 = wr::encode_request_header("stream", 1);
  req.insert(req.end(), h2.begin(), h2.end());
  b = wr::encode_request_body("stream", st);
  req.insert(req.end(), b.begin(), b.end());
  REQUIRE(::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
  wire::Bytes in;
  std::vector<wire::Bytes> objects;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  const auto read_until = [&](std::size_t n) {
    while (objects.size() < n && std::chrono::steady_clock::now() < deadline) {
      const auto more = read_some(fd);
      in.insert(in.end(), more.begin(), more.end());
      std::size_t len = 0;
      while (wire::mp::scan_object(in, len) == wire::mp::Scan::kComplete) {
        objects.emplace_back(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(len));
        in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(len));
      }
    }
  };
  // The two answers (handshake, stream) first: the stream exists once it is answered.
  read_until(2);
  REQUIRE(objects.size() == 2);
  std::string err;
  REQUIRE(fx.agent->user_event("other", "", false, &err));
  REQUIRE(fx.agent->user_event("deploy", "v1", false, &err));
  read_until(4);
  ::close(fd);
  REQUIRE(objects.size() == 4);  // handshake header, stream header, record header, record
  wr::ResponseHeader h;
  REQUIRE(wr::decode_response_header(objects[2], h, nullptr));
  CHECK(h.seq == 1);
  const std::string rec(objects[3].begin(), objects[3].end());
  CHECK(rec.find("deploy") != std::string::npos);
  CHECK(rec.find("other") == std::string::npos);
  CHECK(rec.find("LTime") != std::string::npos);
}
