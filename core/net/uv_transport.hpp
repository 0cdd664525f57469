// SPDX-License-Identifier: MIT
// The only code that touches sockets: UDP and TCP on one ip:port over libuv, serving
// memberlist's Transport and feeding received packets and streams back to it.
// Everything here runs on the loop thread. Ownership: the transport owns its UDP and TCP
// handles and every connection (Conn); each is freed in its own close callback, so a
// handle closing after a handover never blocks the next one.
//
// Floods and stalls (docs/security.md "Floods and stalls"): the loop must keep its probe
// rhythm whatever arrives. Datagrams are read 16 per system call (recvmmsg); at most
// kAcceptsPerTurn connections are accepted per loop turn (the rest wait in the kernel's
// backlog until the timers have run); inbound connections beyond max_connections evict one
// still reading (the oldest of the source address holding the most) instead of refusing the
// newcomer, so stalled connections cannot lock real peers out of push/pull, and one flooding
// source churns through its own slots only; every inbound stream has a deadline.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/net/source_filter.hpp"
#include "core/swim/memberlist.hpp"
#include "core/wire/wire.hpp"

namespace haserf::net {

struct TransportStats {
  std::uint64_t udp_send_errors = 0;
  // Datagrams the kernel dropped because the socket's receive buffer was full (SO_MEMINFO's
  // drop count for the socket, shared with a predecessor that handed it over): a flood, or a
  // loop that fell behind.
  std::uint64_t udp_receive_drops = 0;
  std::uint64_t tcp_accepted = 0;
  std::uint64_t tcp_refused = 0;  // max_connections reached and none could be evicted
  std::uint64_t tcp_errors = 0;
  std::uint64_t sources_refused = 0;      // datagrams and connections from outside allow_sources
  std::uint64_t streams_over_budget = 0;  // inbound streams closed: max_buffered reached
  std::uint64_t streams_evicted = 0;      // inbound streams closed to make room for a newer one
  std::uint64_t streams_timed_out = 0;    // inbound streams not complete after inbound_timeout
};

class UvTransport : public swim::Transport {
 public:
  // Called for every datagram and every complete inbound stream message. The stream handler
  // returns the framed reply (empty: none).
  using PacketHandler = std::function<void(const swim::Address&, std::span<const std::uint8_t>)>;
  using StreamHandler =
      std::function<wire::Bytes(const swim::Address&, const wire::StreamMessage&)>;
  // Called after every libuv callback that may have scheduled or run work (so the owner can
  // re-arm its timer).
  using AfterCallback = std::function<void()>;

  UvTransport(uv_loop_t* loop, const wire::Keyring* keyring, wire::Limits limits);
  ~UvTransport() override;

  // Binds UDP and TCP on ip:port (port 0: any free port, the same for both). Synchronous.
  bool bind(const std::string& ip, std::uint16_t port, std::string* err);
  // Starts on sockets a predecessor handed over (UDP bound, TCP bound and listening). The
  // transport takes ownership of both descriptors, also on failure.
  bool adopt(int udp_fd, int tcp_fd, std::string* err);
  // Handover, predecessor's side: stop reading and accepting (open connections are closed)
  // and return duplicates that keep both sockets open for the successor, or for resume().
  // The caller owns the duplicates.
  bool suspend(int& udp_dup, int& tcp_dup, std::string* err);
  // After a failed handover: serve the sockets again (from copies of the duplicates).
  bool resume(int udp_dup, int tcp_dup, std::string* err);
  bool suspended() const { return suspended_; }
  std::uint16_t bound_port() const { return port_; }
  void set_handlers(PacketHandler packets, StreamHandler streams, AfterCallback after);
  // Closes sockets and every open connection; their callbacks will not run handlers again.
  void close();

  // swim::Transport
  void send_packet(const swim::Address& to, wire::Bytes datagram) override;
  void stream_exchange(const swim::Address& to, wire::Bytes request, bool want_reply,
                       swim::Duration timeout, StreamDone done) override;

  // The counters, with the kernel's receive drops read now (one getsockopt).
  TransportStats stats() const;
  std::size_t open_inbound() const { return inbound_; }
  // Inbound connections open at once. At the limit a new connection evicts one that is still
  // reading its request (a stalled or slow peer): the oldest of the source address that holds
  // the most such connections. If every one is already answering, the newcomer is refused.
  std::size_t max_connections = 128;
  // Bytes all inbound streams may hold before their message is complete; the connection
  // that would pass it is closed (and counted). Above any real push/pull (10,000 members
  // encode to about 2 MiB) and far below 128 connections times 20 MiB.
  std::size_t max_buffered = 64u << 20;
  // Checked before a datagram or a connection reaches any decoder (docs/security.md).
  SourceFilter allow_sources;
  // An inbound stream must deliver its whole message within this time (memberlist: 10 s).
  swim::Duration inbound_timeout = std::chrono::seconds(10);
  // Connections accepted per loop turn: a connect flood waits in the backlog (kListenBacklog)
  // instead of keeping the loop in accept() while the probe timers are due.
  static constexpr int kAcceptsPerTurn = 64;
  static constexpr int kListenBacklog = 4096;  // the kernel caps it at net.core.somaxconn
  // Datagrams read per recvmmsg() call; each gets a 64 KiB slot (libuv's maximum datagram).
  static constexpr std::size_t kUdpBatch = 16;

 public:
  struct Conn;  // one TCP connection (public so libuv callbacks can name it)

 private:
  static void on_udp_alloc(uv_handle_t*, size_t, uv_buf_t*);
  static void on_udp_recv(uv_udp_t*, ssize_t, const uv_buf_t*, const sockaddr*, unsigned);
  static void on_connection(uv_stream_t*, int);
  static void on_turn_end(uv_check_t*);
  void accept_one();
  bool evict_one_reading();
  static void on_conn_read(uv_stream_t*, ssize_t, const uv_buf_t*);
  void finish(Conn* c, bool ok, const std::string& error);
  void on_read(Conn* c, std::span<const std::uint8_t> data);
  void write_and_close(Conn* c, wire::Bytes data);
  void after() {
    if (after_) after_();
  }
  void init_handles();
  bool start_serving(std::string* err);
  void close_handles();

  uv_loop_t* loop_;
  const wire::Keyring* keyring_;
  wire::Limits limits_;
  // Heap handles, freed in their close callbacks; null while nothing is served.
  uv_udp_t* udp_ = nullptr;
  uv_tcp_t* tcp_ = nullptr;
  uv_check_t* turn_end_ = nullptr;  // after each loop turn's I/O: resets accepts_this_turn_
  bool open_ = false;
  bool suspended_ = false;
  std::uint16_t port_ = 0;
  PacketHandler on_packet_;
  StreamHandler on_stream_;
  AfterCallback after_;
  std::set<Conn*> conns_;
  std::size_t inbound_ = 0;              // inbound connections in conns_
  std::size_t buffered_ = 0;             // sum of the inbound connections' Conn::buffered
  std::uint64_t next_conn_seq_ = 0;      // accept order: eviction picks a source's smallest
  std::vector<Conn*> evict_candidates_;  // evict_one_reading()'s scratch, kept to not allocate
  int accepts_this_turn_ = 0;
  bool accept_deferred_ = false;  // a connection waits in libuv until the turn ends
  TransportStats stats_;
  std::unique_ptr<char[]> udp_buffer_;  // kUdpBatch slots of 64 KiB
};

bool sockaddr_to_address(const sockaddr* sa, swim::Address& out);
bool address_to_sockaddr(const swim::Address& a, sockaddr_storage& out);

}  // namespace haserf::net
