// SPDX-License-Identifier: MIT
#include "core/net/uv_transport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/net/uv_owned.hpp"

namespace haserf::net {

bool sockaddr_to_address(const sockaddr* sa, swim::Address& out) {
  if (!sa) return false;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    const auto* b = reinterpret_cast<const std::uint8_t*>(&in->sin_addr);
    out.ip.assign(b, b + 4);
    out.port = ntohs(in->sin_port);
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    const auto* b = reinterpret_cast<const std::uint8_t*>(&in6->sin6_addr);
    out.ip.assign(b, b + 16);
    out.port = ntohs(in6->sin6_port);
    return true;
  }
  return false;
}

bool address_to_sockaddr(const swim::Address& a, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  if (a.ip.size() == 4) {
    auto* in = reinterpret_cast<sockaddr_in*>(&out);
    in->sin_family = AF_INET;
    in->sin_port = htons(a.port);
    std::memcpy(&in->sin_addr, a.ip.data(), 4);
    return true;
  }
  if (a.ip.size() == 16) {
    static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a.ip.data(), mapped, 12) == 0) {  // IPv4-mapped: talk IPv4
      auto* in = reinterpret_cast<sockaddr_in*>(&out);
      in->sin_family = AF_INET;
      in->sin_port = htons(a.port);
      std::memcpy(&in->sin_addr, a.ip.data() + 12, 4);
      return true;
    }
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a.port);
    std::memcpy(&in6->sin6_addr, a.ip.data(), 16);
    return true;
  }
  return false;
}

// One TCP connection, inbound (server side) or outbound (an exchange we started). It owns a
// socket and a deadline timer; it is deleted when both are closed.
struct UvTransport::Conn {
  UvTransport* owner = nullptr;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  uv_connect_t connect_req{};
  bool inbound = false;
  bool want_reply = false;
  bool finished = false;
  bool replying = false;  // inbound: the request is complete (not evictable)
  std::uint64_t seq = 0;  // inbound: accept order
  int open_handles = 0;
  std::size_t buffered = 0;  // inbound bytes read and not yet a complete message (the budget)
  swim::Address peer;
  // inbound: peer.ip as 16 bytes (IPv4 mapped), the key eviction groups connections by. Fixed
  // size: GCC's -O3 flagged the variable-length comparison of two ip vectors (a false
  // stringop-overread that -Werror turned into a failed Release build).
  std::array<std::uint8_t, 16> source{};
  wire::Bytes request;
  wire::StreamReader reader;
  StreamDone done;
  wire::Bytes write_buffer;
  uv_write_t write_req{};
  Conn(UvTransport* o, const wire::Keyring* k, const wire::Limits& l) : owner(o), reader(k, l) {}
};

namespace {

void close_conn(UvTransport::Conn* c) {
  close_owned_handles<UvTransport::Conn>(
      {reinterpret_cast<uv_handle_t*>(&c->tcp), reinterpret_cast<uv_handle_t*>(&c->timer)});
}

}  // namespace

// Reads on any connection, inbound or outbound.
void UvTransport::on_conn_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* conn = static_cast<Conn*>(s->data);
  if (n > 0) {
    conn->owner->on_read(conn,
                         std::span<const std::uint8_t>(reinterpret_cast<std::uint8_t*>(buf->base),
                                                       static_cast<std::size_t>(n)));
  } else if (n < 0) {
    const char* why = n != UV_EOF     ? uv_strerror(static_cast<int>(n))
                      : conn->inbound ? "connection closed"
                                      : "connection closed before reply";
    conn->owner->finish(conn, false, why);
  }
  delete[] buf->base;
  conn->owner->after();
}

namespace {
constexpr std::size_t kUdpSlot = 64 * 1024;  // libuv's slot per datagram with recvmmsg
}

UvTransport::UvTransport(uv_loop_t* loop, const wire::Keyring* keyring, wire::Limits limits)
    : loop_(loop),
      keyring_(keyring),
      limits_(limits),
      udp_buffer_(new char[kUdpBatch * kUdpSlot]) {}

UvTransport::~UvTransport() = default;

void UvTransport::set_handlers(PacketHandler packets, StreamHandler streams, AfterCallback after) {
  on_packet_ = std::move(packets);
  on_stream_ = std::move(streams);
  after_ = std::move(after);
}

void UvTransport::init_handles() {
  // Fresh handles every time: the previous ones may still be closing (after a handover).
  tcp_ = new uv_tcp_t{};
  uv_tcp_init(loop_, tcp_);
  tcp_->data = this;
  udp_ = new uv_udp_t{};
  // recvmmsg: a flood costs one system call per kUdpBatch datagrams, not one each.
  uv_udp_init_ex(loop_, udp_, AF_UNSPEC | UV_UDP_RECVMMSG);
  udp_->data = this;
  turn_end_ = new uv_check_t{};
  uv_check_init(loop_, turn_end_);
  turn_end_->data = this;
  accepts_this_turn_ = 0;
  accept_deferred_ = false;
  open_ = true;
}

bool UvTransport::start_serving(std::string* err) {
  int rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp_), kListenBacklog, on_connection);
  if (rc != 0) {
    if (err) *err = std::string("cannot listen on TCP: ") + uv_strerror(rc);
    return false;
  }
  uv_check_start(turn_end_, on_turn_end);
  // The check handle must not keep a loop alive on its own (the loop's owner decides).
  uv_unref(reinterpret_cast<uv_handle_t*>(turn_end_));
  // Bursts of gossip must not be dropped by a small default socket buffer.
  int size = 4 << 20;
  uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(udp_), &size);
  rc = uv_udp_recv_start(udp_, on_udp_alloc, on_udp_recv);
  if (rc != 0) {
    if (err) *err = std::string("cannot receive UDP: ") + uv_strerror(rc);
    return false;
  }
  return true;
}

bool UvTransport::bind(const std::string& ip, std::uint16_t port, std::string* err) {
  swim::Address a;
  std::string perr;
  if (!swim::parse_address(ip, port, a, &perr)) {
    if (err) *err = "bind address: " + perr;
    return false;
  }
  a.port = port;
  sockaddr_storage ss;
  address_to_sockaddr(a, ss);
  auto fail = [&](const char* what, int rc) {
    if (err) *err = std::string(what) + " " + swim::to_string(a) + ": " + uv_strerror(rc);
    return false;
  };
  init_handles();
  // TCP first: with port 0 it picks the port, and UDP then binds the same one.
  int rc = uv_tcp_bind(tcp_, reinterpret_cast<const sockaddr*>(&ss), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp_), kListenBacklog, on_connection);
  if (rc != 0) return fail("cannot listen on TCP", rc);
  sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(tcp_, reinterpret_cast<sockaddr*>(&bound), &len);
  swim::Address actual;
  sockaddr_to_address(reinterpret_cast<sockaddr*>(&bound), actual);
  port_ = actual.port;
  a.port = port_;
  address_to_sockaddr(a, ss);
  rc = uv_udp_bind(udp_, reinterpret_cast<const sockaddr*>(&ss), 0);
  if (rc != 0) return fail("cannot bind UDP", rc);
  return start_serving(err);
}

bool UvTransport::adopt(int udp_fd, int tcp_fd, std::string* err) {
  if (open_) {
    if (udp_fd >= 0) ::close(udp_fd);
    if (tcp_fd >= 0) ::close(tcp_fd);
    if (err) *err = "the transport already serves sockets";
    return false;
  }
  init_handles();
  int rc = uv_udp_open(udp_, udp_fd);
  if (rc != 0) ::close(udp_fd);
  const int rc2 = uv_tcp_open(tcp_, tcp_fd);
  if (rc2 != 0) ::close(tcp_fd);
  if (rc == 0) rc = rc2;
  if (rc != 0) {
    if (err) *err = std::string("cannot adopt the sockets: ") + uv_strerror(rc);
    return false;
  }
  sockaddr_storage bound;
  int len = sizeof bound;
  swim::Address actual;
  if (uv_tcp_getsockname(tcp_, reinterpret_cast<sockaddr*>(&bound), &len) == 0 &&
      sockaddr_to_address(reinterpret_cast<sockaddr*>(&bound), actual)) {
    port_ = actual.port;
  }
  suspended_ = false;
  return start_serving(err);
}

void UvTransport::close_handles() {
  open_ = false;
  uv_udp_recv_stop(udp_);
  // Each handle is freed in its close callback (libuv's rule): nothing of ours is touched there.
  uv_close(reinterpret_cast<uv_handle_t*>(udp_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_udp_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(tcp_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(turn_end_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
  udp_ = nullptr;
  tcp_ = nullptr;
  turn_end_ = nullptr;
  accept_deferred_ = false;  // a deferred connection is closed with the TCP handle
  auto conns = conns_;
  for (Conn* c : conns) finish(c, false, "shutting down");
}

bool UvTransport::suspend(int& udp_dup, int& tcp_dup, std::string* err) {
  udp_dup = tcp_dup = -1;
  if (!open_ || suspended_) {
    if (err) *err = "not serving";
    return false;
  }
  uv_os_fd_t ufd = -1, tfd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(udp_), &ufd) != 0 ||
      uv_fileno(reinterpret_cast<uv_handle_t*>(tcp_), &tfd) != 0) {
    if (err) *err = "no socket to hand over";
    return false;
  }
  udp_dup = ::fcntl(ufd, F_DUPFD_CLOEXEC, 3);
  tcp_dup = ::fcntl(tfd, F_DUPFD_CLOEXEC, 3);
  if (udp_dup < 0 || tcp_dup < 0) {
    if (err) *err = std::string("dup: ") + std::strerror(errno);
    if (udp_dup >= 0) ::close(udp_dup);
    if (tcp_dup >= 0) ::close(tcp_dup);
    udp_dup = tcp_dup = -1;
    return false;
  }
  suspended_ = true;
  close_handles();
  return true;
}

bool UvTransport::resume(int udp_dup, int tcp_dup, std::string* err) {
  if (!suspended_) return true;
  const int u = ::fcntl(udp_dup, F_DUPFD_CLOEXEC, 3);
  const int t = ::fcntl(tcp_dup, F_DUPFD_CLOEXEC, 3);
  if (u < 0 || t < 0) {
    if (u >= 0) ::close(u);
    if (t >= 0) ::close(t);
    if (err) *err = std::string("dup: ") + std::strerror(errno);
    return false;
  }
  return adopt(u, t, err);
}

void UvTransport::close() {
  on_packet_ = nullptr;
  on_stream_ = nullptr;
  if (open_) close_handles();
}

TransportStats UvTransport::stats() const {
  TransportStats s = stats_;
  uv_os_fd_t fd = -1;
  std::uint32_t info[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof info;
  if (udp_ && uv_fileno(reinterpret_cast<const uv_handle_t*>(udp_), &fd) == 0 &&
      ::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &len) == 0 &&
      len >= (SK_MEMINFO_DROPS + 1) * sizeof(std::uint32_t)) {
    s.udp_receive_drops = info[SK_MEMINFO_DROPS];
  }
  return s;
}

void UvTransport::on_udp_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<UvTransport*>(h->data);
  // One buffer for a whole recvmmsg() batch: libuv cuts it into 64 KiB slots. Datagrams are
  // handled inside the receive callback, so the buffer is free again when the next call comes.
  buf->base = self->udp_buffer_.get();
  buf->len = kUdpBatch * kUdpSlot;
}

void UvTransport::on_udp_recv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from,
                              unsigned flags) {
  auto* self = static_cast<UvTransport*>(h->data);
  // n == 0 with no address: nothing read, or the end of a recvmmsg batch (UV_UDP_MMSG_FREE).
  if (n <= 0 || !from || (flags & UV_UDP_PARTIAL) || !self->on_packet_) return;
  swim::Address addr;
  if (!sockaddr_to_address(from, addr)) return;
  if (!self->allow_sources.allows(addr)) {
    ++self->stats_.sources_refused;
    return;
  }
  self->on_packet_(addr,
                   std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(buf->base),
                                                 static_cast<std::size_t>(n)));
  self->after();
}

void UvTransport::send_packet(const swim::Address& to, wire::Bytes datagram) {
  if (!open_ || datagram.empty()) return;
  sockaddr_storage ss;
  if (!address_to_sockaddr(to, ss)) return;
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(datagram.data()), static_cast<unsigned>(datagram.size()));
  int rc = uv_udp_try_send(udp_, &buf, 1, reinterpret_cast<const sockaddr*>(&ss));
  if (rc == UV_EAGAIN) {
    // Socket buffer full: queue an asynchronous send that owns its bytes.
    struct Send {
      uv_udp_send_t req;
      wire::Bytes data;
    };
    auto* s = new Send{{}, std::move(datagram)};
    buf =
        uv_buf_init(reinterpret_cast<char*>(s->data.data()), static_cast<unsigned>(s->data.size()));
    s->req.data = s;
    rc = uv_udp_send(&s->req, udp_, &buf, 1, reinterpret_cast<const sockaddr*>(&ss),
                     [](uv_udp_send_t* req, int) { delete static_cast<Send*>(req->data); });
    if (rc != 0) delete s;
  }
  if (rc < 0) ++stats_.udp_send_errors;
}

void UvTransport::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<UvTransport*>(server->data);
  if (status < 0) return;
  if (self->accepts_this_turn_ >= kAcceptsPerTurn) {
    // Not calling uv_accept() makes libuv keep this connection and stop watching the
    // listening socket; on_turn_end() accepts it after the loop's timers had their turn.
    self->accept_deferred_ = true;
    return;
  }
  ++self->accepts_this_turn_;
  self->accept_one();
}

void UvTransport::on_turn_end(uv_check_t* h) {
  auto* self = static_cast<UvTransport*>(h->data);
  self->accepts_this_turn_ = 0;
  if (self->accept_deferred_ && self->open_) {
    self->accept_deferred_ = false;
    ++self->accepts_this_turn_;
    self->accept_one();  // uv_accept() also watches the listening socket again
    self->after();
  }
}

bool UvTransport::evict_one_reading() {
  // Candidates: inbound connections still reading their request, grouped by source address
  // (sorted by address, then accept order). The victim is the oldest connection of the
  // address holding the most of them (ties: the group with the oldest connection), so one
  // flooding source evicts its own connections, not a real peer's push/pull in between.
  evict_candidates_.clear();
  for (Conn* c : conns_) {
    if (c->inbound && !c->replying && !c->finished) evict_candidates_.push_back(c);
  }
  if (evict_candidates_.empty()) return false;
  std::sort(evict_candidates_.begin(), evict_candidates_.end(), [](const Conn* a, const Conn* b) {
    return a->source != b->source ? a->source < b->source : a->seq < b->seq;
  });
  Conn* victim = nullptr;
  std::size_t victim_group = 0;
  for (std::size_t i = 0; i < evict_candidates_.size();) {
    std::size_t j = i + 1;
    while (j < evict_candidates_.size() &&
           evict_candidates_[j]->source == evict_candidates_[i]->source) {
      ++j;
    }
    Conn* oldest = evict_candidates_[i];  // the group's first: its smallest seq
    if (j - i > victim_group || (j - i == victim_group && oldest->seq < victim->seq)) {
      victim = oldest;
      victim_group = j - i;
    }
    i = j;
  }
  ++stats_.streams_evicted;
  finish(victim, false, "evicted: too many inbound connections");
  return true;
}

void UvTransport::accept_one() {
  auto* c = new Conn(this, keyring_, limits_);
  c->inbound = true;
  uv_tcp_init(loop_, &c->tcp);
  uv_timer_init(loop_, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  if (!open_ || uv_accept(reinterpret_cast<uv_stream_t*>(tcp_),
                          reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    ++stats_.tcp_refused;
    close_conn(c);
    return;
  }
  sockaddr_storage peer;
  int len = sizeof peer;
  if (uv_tcp_getpeername(&c->tcp, reinterpret_cast<sockaddr*>(&peer), &len) != 0 ||
      !sockaddr_to_address(reinterpret_cast<sockaddr*>(&peer), c->peer)) {
    ++stats_.tcp_errors;  // reset before we got to it (a connect flood)
    close_conn(c);
    return;
  }
  if (!allow_sources.allows(c->peer)) {
    ++stats_.sources_refused;
    close_conn(c);
    return;
  }
  if (c->peer.ip.size() == 4) {
    c->source[10] = c->source[11] = 0xff;
    std::copy(c->peer.ip.begin(), c->peer.ip.end(), c->source.begin() + 12);
  } else if (c->peer.ip.size() == 16) {
    std::copy(c->peer.ip.begin(), c->peer.ip.end(), c->source.begin());
  }
  // Full: a connection still reading goes (a stalled peer holds its slot at most until newer
  // peers need it; the busiest source loses first); refuse only when every slot is answering.
  if (inbound_ >= max_connections && !evict_one_reading()) {
    ++stats_.tcp_refused;
    close_conn(c);
    return;
  }
  ++stats_.tcp_accepted;
  c->seq = next_conn_seq_++;
  conns_.insert(c);
  ++inbound_;
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(inbound_timeout);
  uv_timer_start(
      &c->timer,
      [](uv_timer_t* t) {
        auto* conn = static_cast<Conn*>(t->data);
        ++conn->owner->stats_.streams_timed_out;
        conn->owner->finish(conn, false, "timeout");
        conn->owner->after();
      },
      static_cast<std::uint64_t>(std::max<std::int64_t>(timeout.count(), 1)), 0);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), alloc_read_buffer, on_conn_read);
}

void UvTransport::on_read(Conn* c, std::span<const std::uint8_t> data) {
  if (c->finished) return;
  if (c->inbound) {
    // Every inbound stream together holds at most max_buffered bytes: 128 peers that each
    // start a 20 MiB message (memberlist's own bound) and stall must not take 2.5 GiB.
    c->buffered += data.size();
    buffered_ += data.size();
    if (buffered_ > max_buffered) {
      ++stats_.streams_over_budget;
      finish(c, false, "inbound streams over their memory budget");
      return;
    }
  }
  c->reader.feed(data);
  const auto status = c->reader.poll();
  if (status == wire::StreamStatus::kNeedMore) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
  c->replying = true;
  if (!c->inbound) {
    if (status == wire::StreamStatus::kDone) {
      finish(c, true, "");
    } else {
      finish(c, false, "bad reply: " + c->reader.error());
    }
    return;
  }
  if (status == wire::StreamStatus::kError) {
    // Like memberlist: tell the peer why, with our own framing (§5.1).
    ++stats_.tcp_errors;
    wire::ErrResp e{c->reader.error()};
    write_and_close(c, wire::encode_stream(wire::message(wire::MsgType::kErr, e), true, keyring_));
    after();
    return;
  }
  wire::Bytes reply;
  if (on_stream_) reply = on_stream_(c->peer, c->reader.message());
  if (reply.empty()) {
    finish(c, true, "");
  } else {
    write_and_close(c, std::move(reply));
  }
  after();
}

void UvTransport::write_and_close(Conn* c, wire::Bytes data) {
  c->write_buffer = std::move(data);
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(c->write_buffer.data()),
                             static_cast<unsigned>(c->write_buffer.size()));
  c->write_req.data = c;
  const int rc = uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1,
                          [](uv_write_t* req, int) {
                            auto* conn = static_cast<Conn*>(req->data);
                            conn->owner->finish(conn, true, "");
                          });
  if (rc != 0) finish(c, false, uv_strerror(rc));
}

void UvTransport::finish(Conn* c, bool ok, const std::string& error) {
  if (c->finished) return;
  c->finished = true;
  buffered_ -= c->buffered;
  c->buffered = 0;
  if (conns_.erase(c) != 0 && c->inbound) --inbound_;
  if (!ok) ++stats_.tcp_errors;
  if (c->done) {
    auto done = std::move(c->done);
    c->done = nullptr;
    const bool got = ok && c->want_reply && c->reader.poll() == wire::StreamStatus::kDone;
    done(ok, got ? &c->reader.message() : nullptr, error);
  }
  uv_timer_stop(&c->timer);
  close_conn(c);
}

void UvTransport::stream_exchange(const swim::Address& to, wire::Bytes request, bool want_reply,
                                  swim::Duration timeout, StreamDone done) {
  sockaddr_storage ss;
  if (!open_ || !address_to_sockaddr(to, ss)) {
    if (done) done(false, nullptr, "cannot connect to " + swim::to_string(to));
    return;
  }
  auto* c = new Conn(this, keyring_, limits_);
  c->peer = to;
  c->want_reply = want_reply;
  c->request = std::move(request);
  c->done = std::move(done);
  uv_tcp_init(loop_, &c->tcp);
  uv_timer_init(loop_, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  conns_.insert(c);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  uv_timer_start(
      &c->timer,
      [](uv_timer_t* t) {
        auto* conn = static_cast<Conn*>(t->data);
        conn->owner->finish(conn, false, "timeout after connect/exchange deadline");
        conn->owner->after();
      },
      static_cast<std::uint64_t>(std::max<std::int64_t>(ms.count(), 1)), 0);
  c->connect_req.data = c;
  const int rc = uv_tcp_connect(
      &c->connect_req, &c->tcp, reinterpret_cast<const sockaddr*>(&ss),
      [](uv_connect_t* req, int status) {
        auto* conn = static_cast<Conn*>(req->data);
        UvTransport* self = conn->owner;
        if (conn->finished) return;
        if (status < 0) {
          self->finish(conn, false, std::string("connect: ") + uv_strerror(status));
          self->after();
          return;
        }
        uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(conn->request.data()),
                                   static_cast<unsigned>(conn->request.size()));
        conn->write_req.data = conn;
        uv_write(&conn->write_req, reinterpret_cast<uv_stream_t*>(&conn->tcp), &buf, 1,
                 [](uv_write_t* wreq, int wstatus) {
                   auto* wc = static_cast<Conn*>(wreq->data);
                   if (wc->finished) return;
                   if (wstatus < 0) {
                     wc->owner->finish(wc, false, std::string("write: ") + uv_strerror(wstatus));
                   } else if (!wc->want_reply) {
                     wc->owner->finish(wc, true, "");
                   }
                   wc->owner->after();
                 });
        if (conn->want_reply) {
          uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->tcp), alloc_read_buffer,
                        on_conn_read);
        }
      });
  if (rc != 0) finish(c, false, std::string("connect: ") + uv_strerror(rc));
}

}  // namespace haserf::net
