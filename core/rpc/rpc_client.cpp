// SPDX-License-Identifier: MIT
// Blocking serf RPC client (rpc_client.hpp): poll()-bounded reads and writes on one socket.
#include "core/rpc/rpc_client.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/wire/msgpack_reader.hpp"

namespace haserf::rpc {

namespace wr = wire::rpc;
using Clock = std::chrono::steady_clock;

std::string default_rpc_addr() {
  for (const char* var : {"HASERF_RPC_ADDR", "SERF_RPC_ADDR"}) {
    if (const char* v = std::getenv(var); v && *v) return v;
  }
  return "127.0.0.1:7373";
}

Client::~Client() {
  close();
}

void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  in_.clear();
}

namespace {

// For poll(): never negative (that would wait forever), at most a day per wait.
int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 86'400'000));
}

void set_err(std::string* err, std::string msg) {
  if (err) *err = std::move(msg);
}

}  // namespace

bool Client::connect(const std::string& addr, const std::string& auth_key,
                     std::chrono::milliseconds timeout, std::string* err) {
  close();
  timeout_ = timeout;
  // "ip:port", "[v6]:port", or an address alone (port 7373).
  std::string host = addr, port = "7373";
  if (!host.empty() && host.front() == '[') {
    const auto close_bracket = host.find(']');
    if (close_bracket != std::string::npos && close_bracket + 1 < host.size() &&
        host[close_bracket + 1] == ':') {
      port = host.substr(close_bracket + 2);
    }
    host = host.substr(1, close_bracket == std::string::npos ? 0 : close_bracket - 1);
  } else if (host.find(':') != std::string::npos && host.find(':') == host.rfind(':')) {
    port = host.substr(host.find(':') + 1);
    host = host.substr(0, host.find(':'));
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    set_err(err, "rpc address " + addr + ": " + gai_strerror(rc));
    return false;
  }
  const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(res);
    set_err(err, std::string("socket: ") + std::strerror(errno));
    return false;
  }
  fd_ = fd;
  int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    set_err(err, "Error connecting to Serf agent at " + addr + ": " + std::strerror(errno));
    close();
    return false;
  }
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, remaining_ms(Clock::now() + timeout)) != 1) {
    set_err(err, "Error connecting to Serf agent at " + addr + ": timed out");
    close();
    return false;
  }
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    set_err(err, "Error connecting to Serf agent at " + addr + ": " + std::strerror(so_error));
    close();
    return false;
  }
  wr::RequestBody hs;
  hs.version = wr::kIpcVersion;
  if (!call("handshake", &hs, nullptr, err)) return false;
  if (!auth_key.empty()) {
    wr::RequestBody a;
    a.auth_key = auth_key;
    if (!call("auth", &a, nullptr, err)) return false;
  }
  return true;
}

bool Client::send(const wire::Bytes& bytes, std::string* err) {
  const auto deadline = Clock::now() + timeout_;
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      set_err(err, std::string("rpc write: ") + std::strerror(errno));
      return false;
    }
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) != 1) {
      set_err(err, "rpc write: timed out");
      return false;
    }
  }
  return true;
}

bool Client::read_object(wire::Bytes& out, Clock::time_point deadline, std::string* err) {
  for (;;) {
    std::size_t len = 0;
    const auto s = wire::mp::scan_object(in_, len);
    if (s == wire::mp::Scan::kComplete) {
      out.assign(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(len));
      in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(len));
      return true;
    }
    if (s == wire::mp::Scan::kError) {
      set_err(err, "rpc: undecodable answer from the agent");
      return false;
    }
    if (in_.size() > (64u << 20)) {
      set_err(err, "rpc: answer too large");
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready == 0) {
      set_err(err, "rpc: timed out waiting for the agent");
      return false;
    }
    if (ready < 0 && errno == EINTR) continue;
    std::uint8_t buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n == 0) {
      set_err(err, "rpc: the agent closed the connection");
      return false;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      set_err(err, std::string("rpc read: ") + std::strerror(errno));
      return false;
    }
    in_.insert(in_.end(), buf, buf + n);
  }
}

bool Client::call(const std::string& command, const wr::RequestBody* body, wire::Bytes* body_out,
                  std::string* err) {
  if (fd_ < 0) {
    set_err(err, "rpc: not connected");
    return false;
  }
  const std::uint64_t seq = seq_++;
  wire::Bytes req = wr::encode_request_header(command, seq);
  if (body) {
    const auto b = wr::encode_request_body(command, *body);
    req.insert(req.end(), b.begin(), b.end());
  }
  if (!send(req, err)) return false;
  const auto deadline = Clock::now() + timeout_;
  wire::Bytes obj;
  if (!read_object(obj, deadline, err)) return false;
  wr::ResponseHeader h;
  if (!wr::decode_response_header(obj, h, err)) return false;
  if (h.seq != seq) {
    set_err(err, "rpc: answer for another request (seq " + std::to_string(h.seq) + ")");
    return false;
  }
  // Commands with an answer body carry it even with an error (join, keys), except the
  // refusals that come before the command is looked at (as serf's own client reads them).
  const bool refused = h.error == wr::kAuthRequired || h.error == wr::kHandshakeRequired;
  if (body_out && !refused && !read_object(*body_out, deadline, err)) return false;
  if (!h.error.empty()) {
    set_err(err, h.error);
    return false;
  }
  return true;
}

bool Client::members(std::vector<wr::RpcMember>& out, std::string* err) {
  wire::Bytes body;
  return call("members", nullptr, &body, err) && wr::decode_members(body, out, err);
}

bool Client::members_filtered(const wr::StringMap& tags, const std::string& status,
                              const std::string& name, std::vector<wr::RpcMember>& out,
                              std::string* err) {
  wr::RequestBody b;
  b.tags = tags;
  b.status = status;
  b.name = name;
  wire::Bytes body;
  return call("members-filtered", &b, &body, err) && wr::decode_members(body, out, err);
}

bool Client::user_event(const std::string& name, const wire::Bytes& payload, bool coalesce,
                        std::string* err) {
  wr::RequestBody b;
  b.name = name;
  b.payload = payload;
  b.coalesce = coalesce;
  return call("event", &b, nullptr, err);
}

bool Client::join(const std::vector<std::string>& addrs, bool replay, std::int32_t& joined,
                  std::string* err) {
  wr::RequestBody b;
  b.existing = addrs;
  b.replay = replay;
  wire::Bytes body;
  joined = 0;
  const bool ok = call("join", &b, &body, err);
  if (!body.empty()) {
    std::string e2;
    wr::decode_join_response(body, joined, &e2);
  }
  return ok;
}

bool Client::stats(std::map<std::string, wr::StringMap>& out, std::string* err) {
  wire::Bytes body;
  return call("stats", nullptr, &body, err) && wr::decode_stats(body, out, err);
}

bool Client::keys(const std::string& command, const std::string& key, wr::KeyResponse& out,
                  std::string* err) {
  wr::RequestBody b;
  b.key = key;
  wire::Bytes body;
  const bool ok = call(command, command == "list-keys" ? nullptr : &b, &body, err);
  // A failed key operation still carries the answers (which node said what): keep them.
  std::string decode_err;
  if (!body.empty() && !wr::decode_key_response(body, out, &decode_err) && ok) {
    set_err(err, decode_err);
    return false;
  }
  return ok;
}

bool Client::get_coordinate(const std::string& node, std::optional<wr::RpcCoordinate>& out,
                            std::string* err) {
  wr::RequestBody b;
  b.node = node;
  wire::Bytes body;
  return call("get-coordinate", &b, &body, err) && wr::decode_coordinate_response(body, out, err);
}

bool Client::query(const wr::RequestBody& request,
                   const std::function<void(const wr::QueryRecord&)>& on_record, std::string* err,
                   const std::function<void()>& on_started) {
  if (!call("query", &request, nullptr, err)) return false;
  if (on_started) on_started();
  const std::uint64_t seq = seq_ - 1;
  // The agent sends "done" at the query's timeout; wait that long plus our own margin. With
  // the agent's default timeout (unknown here) the margin is a generous minute.
  const auto wait = request.timeout_ns > 0
                        ? std::chrono::milliseconds(request.timeout_ns / 1000000) + timeout_
                        : std::chrono::milliseconds(60000);
  const auto deadline = Clock::now() + wait;
  for (;;) {
    wire::Bytes obj, body;
    wr::ResponseHeader h;
    if (!read_object(obj, deadline, err) || !wr::decode_response_header(obj, h, err)) return false;
    if (h.seq != seq) continue;  // nothing else is outstanding on this connection
    if (!read_object(body, deadline, err)) return false;
    wr::QueryRecord rec;
    if (!wr::decode_query_record(body, rec, err)) return false;
    if (rec.type == "done") return true;
    on_record(rec);
  }
}

}  // namespace haserf::rpc
