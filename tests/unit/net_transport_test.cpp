// SPDX-License-Identifier: MIT
// net::UvTransport's limits on what peers can make it hold: the source allow-list (datagrams and
// connections dropped before decoding), the memory budget of unfinished inbound streams, and
// floods and stalls (eviction at max_connections, deadlines, bounded accepts per loop turn,
// batched datagrams, the kernel's drop count).
// Addresses: 127.0.46.1 (the transport), 127.0.46.1-7 (peers; loopback only).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <vector>

#include "core/net/uv_transport.hpp"

using haserf::net::UvTransport;

namespace {

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);  // close callbacks
    uv_loop_close(&loop);
  }
  // Runs the loop until `done()` or 5 s (a bound, not a timing assertion).
  template <typename F>
  bool run_until(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
      ::usleep(1000);
    }
    return done();
  }
};

sockaddr_in to(std::uint16_t port, const char* ip = "127.0.46.1") {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

// A TCP peer that starts a 10 MB compressed message (memberlist's compress frame: type 9, then
// {"Algo": 0, "Buf": <bin32 of 10,000,000 bytes>}) and sends only the first `n` bytes of it,
// from the address `source`.
int stalled_stream(std::uint16_t port, std::size_t n, const char* source = "127.0.46.1") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const auto from = to(0, source);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) == 0);
  const auto a = to(port);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
  std::vector<std::uint8_t> msg = {9,   0x82, 0xa4, 'A',  'l',  'g',  'o',  0x00, 0xa3,
                                   'B', 'u',  'f',  0xc6, 0x00, 0x98, 0x96, 0x80};
  msg.resize(n, 0x55);
  REQUIRE(::send(fd, msg.data(), msg.size(), 0) == static_cast<ssize_t>(msg.size()));
  return fd;
}

}  // namespace

TEST_CASE("transport: unfinished inbound streams share a memory budget", "[net][transport]") {
  Loop l;
  UvTransport t(&l.loop, nullptr, haserf::wire::Limits{});
  t.max_buffered = 100000;
  t.set_handlers([](const auto&, auto) {},
                 [](const auto&, const auto&) { return haserf::wire::Bytes{}; }, [] {});
  std::string err;
  REQUIRE(t.bind("127.0.46.1", 0, &err));
  const int a = stalled_stream(t.bound_port(), 60000);
  REQUIRE(l.run_until([&] { return t.stats().tcp_accepted == 1; }));
  CHECK(t.stats().streams_over_budget == 0);  // 60 kB of 100 kB: waits for the rest
  const int b = stalled_stream(t.bound_port(), 60000);
  CHECK(l.run_until([&] { return t.stats().streams_over_budget == 1; }));
  // The second one was closed; the budget it used is given back, so a third fits again.
  ::close(b);
  const int c = stalled_stream(t.bound_port(), 30000);
  l.run_until([&] { return t.stats().tcp_accepted == 3; });
  for (int i = 0; i < 50; ++i) uv_run(&l.loop, UV_RUN_NOWAIT);
  CHECK(t.stats().streams_over_budget == 1);
  ::close(a);
  ::close(c);
  t.close();
}

TEST_CASE("transport: sources outside the allow-list are dropped before decoding",
          "[net][transport]") {
  Loop l;
  UvTransport t(&l.loop, nullptr, haserf::wire::Limits{});
  int packets = 0;
  t.set_handlers([&](const auto&, auto) { ++packets; },
                 [](const auto&, const auto&) { return haserf::wire::Bytes{}; }, [] {});
  std::string err;
  REQUIRE(t.allow_sources.parse({"10.0.0.0/8"}, &err));
  REQUIRE(t.bind("127.0.46.1", 0, &err));
  const int u = ::socket(AF_INET, SOCK_DGRAM, 0);
  const auto a = to(t.bound_port());
  const std::uint8_t garbage[] = {0xde, 0xad};
  REQUIRE(::sendto(u, garbage, sizeof garbage, 0, reinterpret_cast<const sockaddr*>(&a),
                   sizeof a) == 2);
  CHECK(l.run_until([&] { return t.stats().sources_refused == 1; }));
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(::connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
  CHECK(l.run_until([&] { return t.stats().sources_refused == 2; }));
  CHECK(t.stats().tcp_accepted == 0);
  CHECK(packets == 0);
  // Allowed again: the same datagram reaches the handler.
  REQUIRE(t.allow_sources.parse({"127.0.0.0/8"}, &err));
  REQUIRE(::sendto(u, garbage, sizeof garbage, 0, reinterpret_cast<const sockaddr*>(&a),
                   sizeof a) == 2);
  CHECK(l.run_until([&] { return packets == 1; }));
  ::close(u);
  ::close(s);
  t.close();
}

namespace {

// True once the peer closed `fd` (EOF or reset), within 5 s of running the loop.
bool closed_by_transport(Loop& l, int fd) {
  return l.run_until([&] {
    char b;
    const ssize_t n = ::recv(fd, &b, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  });
}

UvTransport::StreamHandler no_reply() {
  return [](const auto&, const auto&) { return haserf::wire::Bytes{}; };
}

}  // namespace

namespace {

// A transport with three inbound slots; open() connects a peer that stalls mid-message and
// waits until the transport accepted it.
struct ThreeSlots {
  Loop l;
  UvTransport t{&l.loop, nullptr, haserf::wire::Limits{}};
  std::vector<int> fds;
  ThreeSlots() {
    t.max_connections = 3;
    t.set_handlers([](const auto&, auto) {}, no_reply(), [] {});
    std::string err;
    REQUIRE(t.bind("127.0.46.1", 0, &err));
  }
  ~ThreeSlots() {
    close_peers();
    t.close();
  }
  int open(const char* source = "127.0.46.1") {
    const auto accepted = t.stats().tcp_accepted;
    fds.push_back(stalled_stream(t.bound_port(), 100, source));
    REQUIRE(l.run_until([&] { return t.stats().tcp_accepted == accepted + 1; }));
    return fds.back();
  }
  void close_peers() {
    for (int fd : fds) ::close(fd);
    fds.clear();
  }
};

bool still_open(int fd) {
  char b;
  return ::recv(fd, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

}  // namespace

TEST_CASE("transport: at max_connections a newcomer evicts the oldest stalled stream",
          "[net][transport]") {
  ThreeSlots s;
  const int first = s.open();
  const int second = s.open();
  s.open();
  CHECK(s.t.open_inbound() == 3);
  s.open();  // the fourth: the first one goes
  CHECK(s.t.stats().streams_evicted == 1);
  CHECK(s.t.stats().tcp_refused == 0);
  CHECK(s.t.open_inbound() == 3);
  CHECK(closed_by_transport(s.l, first));
  CHECK(still_open(second));
}

TEST_CASE("transport: at max_connections the busiest source loses its oldest stream first",
          "[net][transport]") {
  ThreeSlots s;
  // A peer (127.0.46.2) mid push/pull, then a flooding source (127.0.46.3) with three.
  const int peer = s.open("127.0.46.2");
  const int flood1 = s.open("127.0.46.3");
  const int flood2 = s.open("127.0.46.3");
  s.open("127.0.46.3");  // evicts the flooder's oldest, not the peer's older one
  CHECK(s.t.stats().streams_evicted == 1);
  CHECK(closed_by_transport(s.l, flood1));
  CHECK(still_open(peer));
  CHECK(still_open(flood2));
  // One each from four sources: the oldest goes, as with a single source.
  s.close_peers();
  REQUIRE(s.l.run_until([&] { return s.t.open_inbound() == 0; }));
  const int oldest = s.open("127.0.46.4");
  const int next = s.open("127.0.46.5");
  s.open("127.0.46.6");
  s.open("127.0.46.7");
  CHECK(s.t.stats().streams_evicted == 2);
  CHECK(closed_by_transport(s.l, oldest));
  CHECK(still_open(next));
}

TEST_CASE("transport: an inbound stream past its deadline is closed and counted",
          "[net][transport]") {
  Loop l;
  UvTransport t(&l.loop, nullptr, haserf::wire::Limits{});
  t.inbound_timeout = std::chrono::milliseconds(100);
  t.set_handlers([](const auto&, auto) {}, no_reply(), [] {});
  std::string err;
  REQUIRE(t.bind("127.0.46.1", 0, &err));
  const int fd = stalled_stream(t.bound_port(), 10);
  CHECK(l.run_until([&] { return t.stats().streams_timed_out == 1; }));
  CHECK(closed_by_transport(l, fd));
  CHECK(t.open_inbound() == 0);
  ::close(fd);
  t.close();
}

TEST_CASE("transport: a connect burst is accepted a bounded number per loop turn",
          "[net][transport]") {
  Loop l;
  UvTransport t(&l.loop, nullptr, haserf::wire::Limits{});
  t.max_connections = 1000;
  t.set_handlers([](const auto&, auto) {}, no_reply(), [] {});
  std::string err;
  REQUIRE(t.bind("127.0.46.1", 0, &err));
  const auto a = to(t.bound_port());
  std::vector<int> fds;
  for (int i = 0; i < 200; ++i) {  // all in the kernel's backlog before the loop runs
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    fds.push_back(fd);
  }
  uv_run(&l.loop, UV_RUN_NOWAIT);
  CHECK(t.stats().tcp_accepted > 0);
  CHECK(t.stats().tcp_accepted <= static_cast<unsigned>(UvTransport::kAcceptsPerTurn) + 1);
  CHECK(l.run_until([&] { return t.stats().tcp_accepted == 200; }));
  CHECK(t.stats().tcp_refused == 0);
  for (int fd : fds) ::close(fd);
  t.close();
}

TEST_CASE("transport: datagrams arrive in batches with their senders; kernel drops are counted",
          "[net][transport]") {
  Loop l;
  UvTransport t(&l.loop, nullptr, haserf::wire::Limits{});
  std::vector<std::pair<std::uint16_t, std::size_t>> got;  // sender port, size
  t.set_handlers([&](const haserf::swim::Address& from,
                     std::span<const std::uint8_t> d) { got.emplace_back(from.port, d.size()); },
                 no_reply(), [] {});
  std::string err;
  REQUIRE(t.bind("127.0.46.1", 0, &err));
  const int u = ::socket(AF_INET, SOCK_DGRAM, 0);
  const auto a = to(t.bound_port());
  std::vector<std::uint8_t> d(1400, 0xab);
  for (std::size_t i = 1; i <= 40; ++i) {
    REQUIRE(::sendto(u, d.data(), i, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a) ==
            static_cast<ssize_t>(i));
  }
  REQUIRE(l.run_until([&] { return got.size() == 40; }));
  sockaddr_in self{};
  socklen_t len = sizeof self;
  ::getsockname(u, reinterpret_cast<sockaddr*>(&self), &len);
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].first == ntohs(self.sin_port));
    CHECK(got[i].second == i + 1);  // in order, each its own size
  }
  CHECK(t.stats().udp_receive_drops == 0);
  // More than the receive buffer holds while the loop does not read: the kernel drops some.
  for (int i = 0; i < 20000; ++i) {
    ::sendto(u, d.data(), d.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  }
  CHECK(t.stats().udp_receive_drops > 0);
  ::close(u);
  t.close();
}
