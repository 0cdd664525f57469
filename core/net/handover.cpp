// SPDX-License-Identifier: MIT
#include "core/net/handover.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/net/uv_owned.hpp"
#include "core/wire/msgpack_reader.hpp"
#include "core/wire/msgpack_writer.hpp"

namespace haserf::net {

namespace {

constexpr std::uint64_t kVersion = 1;
constexpr std::uint32_t kMaxRequest = 64 * 1024;   // a request frame
constexpr std::uint32_t kMaxOffer = 16u << 20;     // an offer header (a peek's app state)
constexpr std::uint64_t kMaxState = 256ull << 20;  // the state itself
constexpr std::size_t kFds = 3;

// ---------------------------------------------------------------------------------------
// state codec: positional arrays, our own format (both ends are haserf of the same build)

std::int64_t to_ns(swim::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
swim::TimePoint from_ns(std::int64_t ns) {
  return swim::TimePoint(std::chrono::duration_cast<swim::Duration>(std::chrono::nanoseconds(ns)));
}

void write_node(wire::mp::Writer& w, const swim::NodeRecord& n) {
  w.array(8);
  w.str(n.info.name);
  w.bytes(n.info.addr);
  w.uint(n.info.port);
  w.bytes(n.info.meta);
  w.bytes(n.info.vsn);
  w.uint(n.info.incarnation);
  w.uint(static_cast<std::uint8_t>(n.info.state));
  w.int64(to_ns(n.state_change));
}

void write_member(wire::mp::Writer& w, const serf::MemberState& m) {
  w.array(9);
  w.str(m.name);
  w.bytes(m.addr);
  w.uint(m.port);
  w.bytes(m.vsn);
  w.uint(m.incarnation);
  w.map(static_cast<std::uint32_t>(m.tags.size()));
  for (const auto& [k, v] : m.tags) {
    w.str(k);
    w.str(v);
  }
  w.uint(static_cast<std::uint8_t>(m.status));
  w.uint(m.status_ltime);
  w.int64(to_ns(m.leave_time));
}

void write_strings(wire::mp::Writer& w, const std::vector<std::string>& v) {
  w.array(static_cast<std::uint32_t>(v.size()));
  for (const auto& s : v) w.str(s);
}

// Reads an array header that must hold exactly `n` fields.
bool fields(wire::mp::Reader& r, std::uint32_t n, std::string_view what) {
  std::uint32_t got = 0;
  if (!r.read_array_header(got, what)) return false;
  if (got != n) {
    return r.fail(std::string(what) + ": " + std::to_string(got) + " fields, expected " +
                  std::to_string(n));
  }
  return true;
}

bool read_time(wire::mp::Reader& r, swim::TimePoint& out, std::string_view what) {
  std::int64_t ns = 0;
  if (!r.read_i64(ns, what)) return false;
  out = from_ns(ns);
  return true;
}

bool read_node(wire::mp::Reader& r, swim::NodeRecord& n) {
  std::uint8_t state = 0;
  if (!fields(r, 8, "node") || !r.read_str(n.info.name, "name") ||
      !r.read_bytes(n.info.addr, "addr") || !r.read_uint(n.info.port, "port") ||
      !r.read_bytes(n.info.meta, "meta") || !r.read_bytes(n.info.vsn, "vsn") ||
      !r.read_uint(n.info.incarnation, "incarnation") || !r.read_uint(state, "state") ||
      !read_time(r, n.state_change, "state_change")) {
    return false;
  }
  if (state > static_cast<std::uint8_t>(swim::NodeStateKind::kLeft)) return r.fail("node state");
  n.info.state = static_cast<swim::NodeStateKind>(state);
  return true;
}

bool read_member(wire::mp::Reader& r, serf::MemberState& m) {
  std::uint8_t status = 0;
  std::uint32_t tags = 0;
  if (!fields(r, 9, "member") || !r.read_str(m.name, "name") || !r.read_bytes(m.addr, "addr") ||
      !r.read_uint(m.port, "port") || !r.read_bytes(m.vsn, "vsn") ||
      !r.read_uint(m.incarnation, "incarnation") || !r.read_map_header(tags, "tags")) {
    return false;
  }
  for (std::uint32_t i = 0; i < tags; ++i) {
    std::string k, v;
    if (!r.read_str(k, "tag") || !r.read_str(v, "tag")) return false;
    m.tags[k] = v;
  }
  if (!r.read_uint(status, "status") || !r.read_u64(m.status_ltime, "status_ltime") ||
      !read_time(r, m.leave_time, "leave_time")) {
    return false;
  }
  if (status > static_cast<std::uint8_t>(table::MemberStatus::kSuspect)) return r.fail("status");
  m.status = static_cast<table::MemberStatus>(status);
  return true;
}

bool read_strings(wire::mp::Reader& r, std::vector<std::string>& out, std::string_view what) {
  std::uint32_t n = 0;
  if (!r.read_array_header(n, what)) return false;
  out.resize(n);
  for (auto& s : out) {
    if (!r.read_str(s, what)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// frames

wire::Bytes frame(const wire::Bytes& body) {
  // Reserve first: growing a short vector trips a GCC 12 -O3 -Warray-bounds false positive.
  wire::Bytes out;
  out.reserve(body.size() + 4);
  const auto n = static_cast<std::uint32_t>(body.size());
  for (const int shift : {24, 16, 8, 0}) out.push_back(static_cast<std::uint8_t>(n >> shift));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::uint32_t frame_length(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

wire::Bytes encode_request(const HandoverRequest& req) {
  wire::Bytes body;
  wire::mp::Writer w(body);
  w.map(6);
  w.str("V");
  w.uint(kVersion);
  w.str("Kind");
  w.str(req.kind);
  w.str("Node");
  w.str(req.node);
  w.str("Advertise");
  w.str(req.advertise);
  w.str("Pid");
  w.uint(static_cast<std::uint64_t>(req.pid));
  w.str("Ppid");
  w.uint(static_cast<std::uint64_t>(req.ppid));
  return frame(body);
}

bool decode_request(std::span<const std::uint8_t> body, HandoverRequest& req, std::string& err) {
  wire::mp::Reader r(body);
  std::uint64_t version = 0, pid = 0, ppid = 0;
  static constexpr std::string_view kOrder[] = {"V", "Kind", "Node", "Advertise", "Pid", "Ppid"};
  const bool ok = wire::mp::read_struct(r, "request", kOrder, [&](std::string_view k) {
    if (k == "V") return r.read_u64(version, k) ? 1 : -1;
    if (k == "Kind") return r.read_str(req.kind, k) ? 1 : -1;
    if (k == "Node") return r.read_str(req.node, k) ? 1 : -1;
    if (k == "Advertise") return r.read_str(req.advertise, k) ? 1 : -1;
    if (k == "Pid") return r.read_u64(pid, k) ? 1 : -1;
    if (k == "Ppid") return r.read_u64(ppid, k) ? 1 : -1;
    return 0;
  });
  if (!ok) {
    err = "bad request: " + r.error();
    return false;
  }
  if (version != kVersion) {
    err = "protocol version " + std::to_string(version) + " (we speak " + std::to_string(kVersion) +
          ")";
    return false;
  }
  req.pid = static_cast<pid_t>(pid);
  req.ppid = static_cast<pid_t>(ppid);
  return true;
}

wire::Bytes encode_offer(bool ok, const std::string& error, std::uint64_t state_len,
                         const std::string* app_state = nullptr) {
  wire::Bytes body;
  wire::mp::Writer w(body);
  w.map(app_state ? 6 : 5);
  if (app_state) {
    w.str("AppState");
    w.str(*app_state);
  }
  w.str("V");
  w.uint(kVersion);
  w.str("OK");
  w.boolean(ok);
  w.str("Error");
  w.str(error);
  w.str("Pid");
  w.uint(static_cast<std::uint64_t>(::getpid()));
  w.str("StateLen");
  w.uint(state_len);
  return frame(body);
}

struct OfferHeader {
  std::string app_state;
  std::uint64_t version = 0;
  bool ok = false;
  std::string error;
  std::uint64_t pid = 0;
  std::uint64_t state_len = 0;
};

bool decode_offer(std::span<const std::uint8_t> body, OfferHeader& h, std::string& err) {
  wire::mp::Reader r(body);
  static constexpr std::string_view kOrder[] = {"V", "OK", "Error", "Pid", "StateLen"};
  const bool ok = wire::mp::read_struct(r, "offer", kOrder, [&](std::string_view k) {
    if (k == "AppState") return r.read_str(h.app_state, k) ? 1 : -1;
    if (k == "V") return r.read_u64(h.version, k) ? 1 : -1;
    if (k == "OK") return r.read_bool(h.ok, k) ? 1 : -1;
    if (k == "Error") return r.read_str(h.error, k) ? 1 : -1;
    if (k == "Pid") return r.read_u64(h.pid, k) ? 1 : -1;
    if (k == "StateLen") return r.read_u64(h.state_len, k) ? 1 : -1;
    return 0;
  });
  if (!ok) err = "bad offer: " + r.error();
  return ok;
}

bool abstract_address(const std::string& name, sockaddr_un& sa, socklen_t& len) {
  std::memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (name.size() > sizeof sa.sun_path) return false;
  std::memcpy(sa.sun_path, name.data(), name.size());
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  return true;
}

using Deadline = std::chrono::steady_clock::time_point;

// Waits until `fd` is readable/writable or the deadline passes.
bool wait_fd(int fd, short events, Deadline deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
  }
}

bool send_all(int fd, const std::uint8_t* p, std::size_t n, Deadline deadline) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w;
      n -= static_cast<std::size_t>(w);
    } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_fd(fd, POLLOUT, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

// Reads exactly `n` bytes; the first read also collects passed descriptors into `fds`.
bool recv_all(int fd, std::uint8_t* p, std::size_t n, Deadline deadline, int* fds,
              std::size_t& nfds) {
  while (n > 0) {
    iovec iov{p, n};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kFds)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t r = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (r > 0) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const int* in = reinterpret_cast<const int*>(CMSG_DATA(c));
        for (std::size_t i = 0; i < count; ++i) {
          if (fds != nullptr && nfds < kFds) {
            fds[nfds++] = in[i];
          } else {
            ::close(in[i]);  // more than we asked for: not ours to keep
          }
        }
      }
      p += r;
      n -= static_cast<std::size_t>(r);
    } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_fd(fd, POLLIN, deadline)) return false;
    } else {
      return false;  // EOF or error
    }
  }
  return true;
}

bool socket_type_is(int fd, int type) {
  int t = 0;
  socklen_t len = sizeof t;
  return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &len) == 0 && t == type;
}

}  // namespace

// ---------------------------------------------------------------------------------------

bool parse_handover_policy(std::string_view text, HandoverPolicy& out) {
  if (text == "off") {
    out = HandoverPolicy::kOff;
  } else if (text == "sibling") {
    out = HandoverPolicy::kSibling;
  } else if (text == "same-user") {
    out = HandoverPolicy::kSameUser;
  } else {
    return false;
  }
  return true;
}

std::string_view to_string(HandoverPolicy policy) {
  switch (policy) {
    case HandoverPolicy::kOff:
      return "off";
    case HandoverPolicy::kSibling:
      return "sibling";
    case HandoverPolicy::kSameUser:
      return "same-user";
  }
  return "off";
}

std::string handover_socket_name(const swim::Address& bind) {
  return std::string(1, '\0') + "haserf-handover/" + swim::to_string(bind);
}

wire::Bytes encode_handover_state(const HandoverState& state) {
  wire::Bytes out;
  wire::mp::Writer w(out);
  w.map(4);
  w.str("V");
  w.uint(kVersion);
  w.str("Keys");
  w.array(static_cast<std::uint32_t>(state.keys.size()));
  for (const auto& k : state.keys) w.bytes(k);
  w.str("ML");
  const auto& ml = state.memberlist;
  w.array(3);
  w.uint(ml.incarnation);
  w.uint(ml.seq);
  w.array(static_cast<std::uint32_t>(ml.nodes.size()));
  for (const auto& n : ml.nodes) write_node(w, n);
  w.str("Serf");
  const auto& s = state.serf;
  w.array(11);
  w.uint(s.clock);
  w.uint(s.event_clock);
  w.uint(s.query_clock);
  w.uint(s.event_min_time);
  w.uint(s.query_min_time);
  w.array(static_cast<std::uint32_t>(s.members.size()));
  for (const auto& m : s.members) write_member(w, m);
  write_strings(w, s.failed);
  write_strings(w, s.left);
  w.array(static_cast<std::uint32_t>(s.intents.size()));
  for (const auto& i : s.intents) {
    w.array(4);
    w.str(i.node);
    w.boolean(i.leave);
    w.uint(i.ltime);
    w.int64(to_ns(i.when));
  }
  w.array(static_cast<std::uint32_t>(s.events.size()));
  for (const auto& slot : s.events) {
    w.array(2);
    w.uint(slot.ltime);
    w.array(static_cast<std::uint32_t>(slot.events.size()));
    for (const auto& [name, payload] : slot.events) {
      w.array(2);
      w.str(name);
      w.bytes(payload);
    }
  }
  w.array(static_cast<std::uint32_t>(s.queries.size()));
  for (const auto& slot : s.queries) {
    w.array(2);
    w.uint(slot.ltime);
    w.array(static_cast<std::uint32_t>(slot.ids.size()));
    for (const auto id : slot.ids) w.uint(id);
  }
  return out;
}

bool decode_handover_state(std::span<const std::uint8_t> data, HandoverState& out,
                           std::string* err) {
  wire::mp::Reader r(data);
  std::uint64_t version = 0;
  bool have_ml = false, have_serf = false;
  auto read_ml = [&]() {
    auto& ml = out.memberlist;
    std::uint32_t n = 0;
    if (!fields(r, 3, "memberlist") || !r.read_uint(ml.incarnation, "incarnation") ||
        !r.read_uint(ml.seq, "seq") || !r.read_array_header(n, "nodes")) {
      return false;
    }
    ml.nodes.resize(n);
    for (auto& node : ml.nodes) {
      if (!read_node(r, node)) return false;
    }
    have_ml = true;
    return true;
  };
  auto read_serf = [&]() {
    auto& s = out.serf;
    std::uint32_t n = 0;
    if (!fields(r, 11, "serf") || !r.read_u64(s.clock, "clock") ||
        !r.read_u64(s.event_clock, "event_clock") || !r.read_u64(s.query_clock, "query_clock") ||
        !r.read_u64(s.event_min_time, "event_min_time") ||
        !r.read_u64(s.query_min_time, "query_min_time") || !r.read_array_header(n, "members")) {
      return false;
    }
    s.members.resize(n);
    for (auto& m : s.members) {
      if (!read_member(r, m)) return false;
    }
    if (!read_strings(r, s.failed, "failed") || !read_strings(r, s.left, "left") ||
        !r.read_array_header(n, "intents")) {
      return false;
    }
    s.intents.resize(n);
    for (auto& i : s.intents) {
      if (!fields(r, 4, "intent") || !r.read_str(i.node, "node") ||
          !r.read_bool(i.leave, "leave") || !r.read_u64(i.ltime, "ltime") ||
          !read_time(r, i.when, "when")) {
        return false;
      }
    }
    if (!r.read_array_header(n, "events")) return false;
    s.events.resize(n);
    for (auto& slot : s.events) {
      std::uint32_t k = 0;
      if (!fields(r, 2, "event slot") || !r.read_u64(slot.ltime, "ltime") ||
          !r.read_array_header(k, "events")) {
        return false;
      }
      slot.events.resize(k);
      for (auto& [name, payload] : slot.events) {
        if (!fields(r, 2, "event") || !r.read_str(name, "name") ||
            !r.read_bytes(payload, "payload")) {
          return false;
        }
      }
    }
    if (!r.read_array_header(n, "queries")) return false;
    s.queries.resize(n);
    for (auto& slot : s.queries) {
      std::uint32_t k = 0;
      if (!fields(r, 2, "query slot") || !r.read_u64(slot.ltime, "ltime") ||
          !r.read_array_header(k, "ids")) {
        return false;
      }
      slot.ids.resize(k);
      for (auto& id : slot.ids) {
        if (!r.read_uint(id, "id")) return false;
      }
    }
    have_serf = true;
    return true;
  };
  static constexpr std::string_view kOrder[] = {"V", "ML", "Serf", "Keys"};
  const bool ok = wire::mp::read_struct(r, "handover state", kOrder, [&](std::string_view k) {
    if (k == "V") return r.read_u64(version, k) ? 1 : -1;
    if (k == "Keys") {
      std::uint32_t n = 0;
      if (!r.read_array_header(n, "keys") || n > 256) return -1;
      out.keys.resize(n);
      for (auto& key : out.keys) {
        if (!r.read_bytes(key, "key") || !wire::valid_key_size(key.size())) return -1;
      }
      return 1;
    }
    if (k == "ML") return read_ml() ? 1 : -1;
    if (k == "Serf") return read_serf() ? 1 : -1;
    return 0;
  });
  std::string why;
  if (!ok) {
    why = r.error();
  } else if (version != kVersion) {
    why = "state version " + std::to_string(version);
  } else if (!have_ml || !have_serf) {
    why = "state incomplete";
  }
  if (!why.empty()) {
    if (err) *err = why;
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// successor

void Takeover::close_fds() {
  for (int* fd : {&udp_fd, &tcp_fd, &listener_fd, &conn_fd}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

Takeover take_over(const std::string& socket_name, const HandoverRequest& request,
                   std::chrono::milliseconds timeout) {
  Takeover t;
  const Deadline deadline = std::chrono::steady_clock::now() + timeout;
  auto failed = [&](Takeover::Outcome o, std::string why) {
    t.close_fds();
    t.outcome = o;
    t.message = std::move(why);
    return std::move(t);
  };
  sockaddr_un sa;
  socklen_t len = 0;
  if (!abstract_address(socket_name, sa, len))
    return failed(Takeover::Outcome::kFailed, "socket name too long");
  t.conn_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (t.conn_fd < 0) return failed(Takeover::Outcome::kFailed, std::strerror(errno));
  // A Unix socket connects at once, or says EAGAIN while the listener's backlog is full.
  while (::connect(t.conn_fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    if (errno == ECONNREFUSED || errno == ENOENT) {
      return failed(Takeover::Outcome::kNoPredecessor, "no predecessor");
    }
    if (errno != EAGAIN && errno != EINTR) {
      return failed(Takeover::Outcome::kFailed, std::string("connect: ") + std::strerror(errno));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return failed(Takeover::Outcome::kFailed, "connect: the predecessor's backlog stayed full");
    }
    ::usleep(10000);
  }
  const wire::Bytes req = encode_request(request);
  if (!send_all(t.conn_fd, req.data(), req.size(), deadline)) {
    return failed(Takeover::Outcome::kFailed, "cannot send the request");
  }
  int fds[kFds] = {-1, -1, -1};
  std::size_t nfds = 0;
  auto keep_fds = [&] {
    t.udp_fd = nfds > 0 ? fds[0] : -1;
    t.tcp_fd = nfds > 1 ? fds[1] : -1;
    t.listener_fd = nfds > 2 ? fds[2] : -1;
  };
  std::uint8_t head[4];
  if (!recv_all(t.conn_fd, head, sizeof head, deadline, fds, nfds)) {
    keep_fds();
    return failed(Takeover::Outcome::kFailed, "no answer from the predecessor");
  }
  const std::uint32_t hlen = frame_length(head);
  if (hlen == 0 || hlen > kMaxOffer) {
    keep_fds();
    return failed(Takeover::Outcome::kFailed, "bad offer frame");
  }
  wire::Bytes body(hlen);
  const bool got = recv_all(t.conn_fd, body.data(), body.size(), deadline, fds, nfds);
  keep_fds();
  if (!got) return failed(Takeover::Outcome::kFailed, "offer cut short");
  OfferHeader h;
  std::string err;
  if (!decode_offer(body, h, err)) return failed(Takeover::Outcome::kFailed, err);
  t.from_pid = static_cast<pid_t>(h.pid);
  if (!h.ok) return failed(Takeover::Outcome::kRefused, h.error);
  if (request.kind == "peek") {
    t.app_state = std::move(h.app_state);
    t.outcome = Takeover::Outcome::kTaken;
    return t;
  }
  if (nfds != kFds || !socket_type_is(t.udp_fd, SOCK_DGRAM) ||
      !socket_type_is(t.tcp_fd, SOCK_STREAM) || !socket_type_is(t.listener_fd, SOCK_STREAM)) {
    refuse_takeover(t.conn_fd);
    t.conn_fd = -1;
    return failed(Takeover::Outcome::kFailed, "offer without the expected sockets");
  }
  if (h.state_len > kMaxState) {
    refuse_takeover(t.conn_fd);
    t.conn_fd = -1;
    return failed(Takeover::Outcome::kFailed, "state too large");
  }
  wire::Bytes state(static_cast<std::size_t>(h.state_len));
  if (!recv_all(t.conn_fd, state.data(), state.size(), deadline, nullptr, nfds)) {
    return failed(Takeover::Outcome::kFailed, "state cut short");
  }
  if (!decode_handover_state(state, t.state, &err)) {
    refuse_takeover(t.conn_fd);
    t.conn_fd = -1;
    return failed(Takeover::Outcome::kFailed, "state: " + err);
  }
  t.outcome = Takeover::Outcome::kTaken;
  return t;
}

std::optional<std::string> peek_app_state(const std::string& socket_name,
                                          const HandoverRequest& request,
                                          std::chrono::milliseconds timeout, std::string* err) {
  HandoverRequest req = request;
  req.kind = "peek";
  Takeover t = take_over(socket_name, req, timeout);
  if (t.outcome != Takeover::Outcome::kTaken) {
    if (err) *err = t.message;
    return std::nullopt;
  }
  std::string state = std::move(t.app_state);
  t.close_fds();
  return state;
}

bool commit_takeover(int conn_fd, std::chrono::milliseconds timeout) {
  if (conn_fd < 0) return false;
  const Deadline deadline = std::chrono::steady_clock::now() + timeout;
  const std::uint8_t ready = 'A';
  std::uint8_t answer = 0;
  std::size_t nfds = 0;
  const bool committed = send_all(conn_fd, &ready, 1, deadline) &&
                         recv_all(conn_fd, &answer, 1, deadline, nullptr, nfds) && answer == 'C';
  ::close(conn_fd);
  return committed;
}

void refuse_takeover(int conn_fd) {
  if (conn_fd < 0) return;
  const std::uint8_t b = 'N';
  (void)::send(conn_fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  ::close(conn_fd);
}

// ---------------------------------------------------------------------------------------
// predecessor

struct HandoverServer::Session {
  HandoverServer* server = nullptr;
  uv_pipe_t pipe{};
  uv_timer_t timer{};
  int open_handles = 0;
  pid_t peer_pid = 0;
  wire::Bytes in;
  bool offered = false;  // sockets sent: this is the takeover in progress
  bool written = false;  // the state reached the socket: a ready 'A' may come now
  bool done = false;
  HandoverServer::Offer offer;
  wire::Bytes out;  // header + state (or a peek's answer), alive until the write completes
  uv_write_t write_req{};
};

namespace {

void close_session_handles(HandoverServer::Session* s) {
  close_owned_handles<HandoverServer::Session>(
      {reinterpret_cast<uv_handle_t*>(&s->pipe), reinterpret_cast<uv_handle_t*>(&s->timer)});
}

// The kernel's word for a peer's parent when /proc can tell (it may not, inside a chroot);
// otherwise what the peer said.
pid_t parent_of(pid_t pid, pid_t claimed) {
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return claimed;
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return claimed;
  buf[n] = '\0';
  const char* close_paren = std::strrchr(buf, ')');  // comm may hold spaces and parentheses
  if (close_paren == nullptr) return claimed;
  char state = 0;
  int ppid = 0;
  if (std::sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) return claimed;
  return static_cast<pid_t>(ppid);
}

uv_os_fd_t fd_of(uv_pipe_t* pipe) {
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<uv_handle_t*>(pipe), &fd);
  return fd;
}

}  // namespace

HandoverServer::HandoverServer(uv_loop_t* loop, HandoverPolicy policy,
                               std::chrono::milliseconds timeout, Callbacks callbacks)
    : loop_(loop), policy_(policy), timeout_(timeout), callbacks_(std::move(callbacks)) {}

HandoverServer::~HandoverServer() {
  close();
}

bool HandoverServer::listen(const std::string& socket_name, std::string* err) {
  sockaddr_un sa;
  socklen_t len = 0;
  if (!abstract_address(socket_name, sa, len)) {
    if (err) *err = "handover socket name too long";
    return false;
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 || ::listen(fd, 16) != 0) {
    if (err) *err = std::string("handover socket: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  return adopt(fd, err);
}

bool HandoverServer::adopt(int listener_fd, std::string* err) {
  close();
  listener_ = new uv_pipe_t{};
  uv_pipe_init(loop_, listener_, 0);
  listener_->data = this;
  int rc = uv_pipe_open(listener_, listener_fd);
  if (rc != 0) ::close(listener_fd);  // not the handle's yet
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 16, on_connection);
  if (rc != 0) {
    if (err) *err = std::string("handover socket: ") + uv_strerror(rc);
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    listener_ = nullptr;
    return false;
  }
  listening_ = true;
  return true;
}

void HandoverServer::close() {
  while (!sessions_.empty()) end_session(*sessions_.begin(), false, "handover server closed");
  if (listener_) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    listener_ = nullptr;
  }
  listening_ = false;
}

void HandoverServer::end_session(Session* s, bool completed, const std::string& why) {
  if (s->done) return;
  s->done = true;
  sessions_.erase(s);
  if (takeover_ == s) takeover_ = nullptr;
  if (s->offered) {
    if (completed) {
      if (callbacks_.completed) callbacks_.completed(s->peer_pid);
    } else if (callbacks_.aborted) {
      callbacks_.aborted(s->offer, why);
    }
    for (int fd : {s->offer.udp_fd, s->offer.tcp_fd}) {
      if (fd >= 0) ::close(fd);
    }
    s->offer.udp_fd = s->offer.tcp_fd = -1;
  }
  uv_timer_stop(&s->timer);
  close_session_handles(s);
}

void HandoverServer::refuse(Session* s, const std::string& why) {
  ++refused_;
  last_refusal_ = why;
  const wire::Bytes no = encode_offer(false, why, 0);
  (void)::send(fd_of(&s->pipe), no.data(), no.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  end_session(s, false, why);
}

void HandoverServer::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<HandoverServer*>(listener->data);
  if (status < 0) return;
  auto* s = new Session;
  s->server = self;
  uv_pipe_init(self->loop_, &s->pipe, 0);
  uv_timer_init(self->loop_, &s->timer);
  s->pipe.data = s;
  s->timer.data = s;
  s->open_handles = 2;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&s->pipe)) != 0) {
    s->done = true;
    close_session_handles(s);
    return;
  }
  self->sessions_.insert(s);
  // Who is asking: the kernel's word, not the request's.
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd_of(&s->pipe), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return self->refuse(s, "cannot read the peer's credentials");
  }
  if (cred.uid != ::geteuid()) {
    return self->refuse(s, "peer uid " + std::to_string(cred.uid) + " is not ours (" +
                               std::to_string(::geteuid()) + ")");
  }
  s->peer_pid = cred.pid;
  // Bounds the whole exchange; an idle client holds nothing but its own connection.
  uv_timer_start(
      &s->timer,
      [](uv_timer_t* t) {
        auto* session = static_cast<Session*>(t->data);
        session->server->end_session(session, false, "the successor timed out");
      },
      static_cast<std::uint64_t>(self->timeout_.count()), 0);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&s->pipe), alloc_read_buffer,
                [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
                  auto* session = static_cast<Session*>(stream->data);
                  if (n > 0 && !session->done) {
                    session->in.insert(session->in.end(), buf->base, buf->base + n);
                  }
                  delete[] buf->base;
                  if (session->done) return;
                  if (n < 0) {
                    session->server->end_session(session, false,
                                                 session->offered
                                                     ? "the successor went away before it was ready"
                                                     : "the successor went away");
                    return;
                  }
                  session->server->on_bytes(session);
                });
}

void HandoverServer::on_bytes(Session* s) {
  if (s->offered) {
    if (s->in.empty()) return;
    // Ready ('A') only counts once the whole state went out; then we commit and stop.
    if (s->in[0] != 'A') return end_session(s, false, "the successor could not adopt our sockets");
    if (!s->written) return;  // the write callback looks again once the state is out
    const char commit = 'C';
    uv_buf_t b = uv_buf_init(const_cast<char*>(&commit), 1);
    if (uv_try_write(reinterpret_cast<uv_stream_t*>(&s->pipe), &b, 1) != 1) {
      return end_session(s, false, "cannot commit the handover");
    }
    return end_session(s, true, "");
  }
  if (s->in.size() < 4) return;
  const std::uint32_t len = frame_length(s->in.data());
  if (len == 0 || len > kMaxRequest) return end_session(s, false, "bad request frame");
  if (s->in.size() < 4 + std::size_t{len}) return;
  HandoverRequest req;
  std::string why;
  if (!decode_request(std::span<const std::uint8_t>(s->in.data() + 4, len), req, why)) {
    return refuse(s, why);
  }
  s->in.erase(s->in.begin(), s->in.begin() + 4 + len);
  if (req.pid != s->peer_pid) {
    return refuse(s, "request pid " + std::to_string(req.pid) + " is not the peer's");
  }
  // Our parent (the HAProxy master about to fork our successor) may peek; otherwise, unless
  // the policy is same-user, only a sibling: a process whose parent is our parent.
  const bool parent_peeks = req.kind == "peek" && req.pid == ::getppid();
  const pid_t peer_parent = parent_of(req.pid, req.ppid);
  if (policy_ != HandoverPolicy::kSameUser && peer_parent != ::getppid() && !parent_peeks) {
    return refuse(s, "not a sibling: its parent is " + std::to_string(peer_parent) + ", ours " +
                         std::to_string(::getppid()));
  }
  if (req.kind == "peek") {
    const std::string app = callbacks_.app_state ? callbacks_.app_state() : "";
    s->out = encode_offer(true, "", 0, &app);
    uv_buf_t b =
        uv_buf_init(reinterpret_cast<char*>(s->out.data()), static_cast<unsigned>(s->out.size()));
    s->write_req.data = s;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&s->pipe));
    if (uv_write(&s->write_req, reinterpret_cast<uv_stream_t*>(&s->pipe), &b, 1,
                 [](uv_write_t* req2, int) {
                   auto* s2 = static_cast<Session*>(req2->data);
                   s2->server->end_session(s2, false, "peek answered");
                 }) != 0) {
      end_session(s, false, "cannot answer the peek");
    }
    return;
  }
  if (req.kind != "takeover") return refuse(s, "unknown request kind '" + req.kind + "'");
  if (policy_ == HandoverPolicy::kOff) return refuse(s, "handover is off here");
  if (takeover_ != nullptr) return refuse(s, "another handover is in progress");
  if (callbacks_.offer && !callbacks_.offer(req, s->offer, why)) return refuse(s, why);
  s->offered = true;
  takeover_ = s;
  // Header + the three sockets in one sendmsg (it fits an empty socket buffer), then the
  // state through libuv.
  const wire::Bytes head = encode_offer(true, "", s->offer.state.size());
  uv_os_fd_t listener_fd = -1;
  uv_fileno(reinterpret_cast<uv_handle_t*>(listener_), &listener_fd);
  int fds[kFds] = {s->offer.udp_fd, s->offer.tcp_fd, listener_fd};
  iovec iov{const_cast<std::uint8_t*>(head.data()), head.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  if (::sendmsg(fd_of(&s->pipe), &msg, MSG_NOSIGNAL | MSG_DONTWAIT) !=
      static_cast<ssize_t>(head.size())) {
    return end_session(s, false, std::string("cannot send the sockets: ") + std::strerror(errno));
  }
  s->out = std::move(s->offer.state);
  s->offer.state.clear();
  uv_buf_t b =
      uv_buf_init(reinterpret_cast<char*>(s->out.data()), static_cast<unsigned>(s->out.size()));
  s->write_req.data = s;
  const int rc = uv_write(&s->write_req, reinterpret_cast<uv_stream_t*>(&s->pipe), &b, 1,
                          [](uv_write_t* req2, int status) {
                            auto* s2 = static_cast<Session*>(req2->data);
                            if (s2->done) return;
                            if (status < 0) {
                              s2->server->end_session(s2, false, "cannot send the state");
                              return;
                            }
                            s2->written = true;
                            // An 'A' that arrived with the last bytes of the state.
                            if (!s2->in.empty()) s2->server->on_bytes(s2);
                          });
  if (rc != 0) end_session(s, false, "cannot send the state");
}

}  // namespace haserf::net
