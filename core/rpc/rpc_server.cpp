// SPDX-License-Identifier: MIT
// serf's agent IPC (serf 0.9.4 cmd/serf/command/agent/ipc.go's behaviour; docs/serf-rpc.md) on
// a libuv loop of its own. See rpc_server.hpp for the threading and ownership rules.
#include "core/rpc/rpc_server.hpp"

#include <arpa/inet.h>
#include <sys/utsname.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "core/net/threads.hpp"
#include "core/net/uv_owned.hpp"
#include "core/serf/filters.hpp"
#include "core/serf/key_manager.hpp"
#include "core/wire/crypto.hpp"
#include "core/wire/msgpack_reader.hpp"
#include "core/wire/rpc.hpp"

namespace haserf::rpc {

using wire::Bytes;
namespace wr = wire::rpc;

namespace {

constexpr std::string_view kLevels[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERR"};

int level_rank(std::string_view level) {
  for (std::size_t i = 0; i < std::size(kLevels); ++i) {
    if (kLevels[i] == level) return static_cast<int>(i);
  }
  return -1;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

Bytes ip_bytes(const std::string& text) {
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v4);
    return Bytes(p, p + 4);
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v6);
    return Bytes(p, p + 16);
  }
  return {};
}

std::string status_name(table::MemberStatus s) {
  switch (s) {
    case table::MemberStatus::kAlive:
      return "alive";
    case table::MemberStatus::kLeaving:
      return "leaving";
    case table::MemberStatus::kLeft:
      return "left";
    case table::MemberStatus::kFailed:
      return "failed";
    default:
      return "none";
  }
}

wr::RpcMember to_rpc(const table::Member& m) {
  wr::RpcMember r;
  r.name = m.name;
  r.addr = ip_bytes(m.addr);
  r.port = m.port;
  for (const auto& [k, v] : m.tags) r.tags[k] = v;
  r.status = status_name(m.status);
  r.vsn[0] = m.memberlist_protocol.min;
  r.vsn[1] = m.memberlist_protocol.max;
  r.vsn[2] = m.memberlist_protocol.cur;
  r.vsn[3] = m.protocol.min;
  r.vsn[4] = m.protocol.max;
  r.vsn[5] = m.protocol.cur;
  return r;
}

std::string_view member_event_name(table::ChangeKind kind) {
  switch (kind) {
    case table::ChangeKind::kJoin:
      return "member-join";
    case table::ChangeKind::kUpdate:
      return "member-update";
    case table::ChangeKind::kLeave:
      return "member-leave";
    case table::ChangeKind::kFail:
      return "member-failed";
    case table::ChangeKind::kReap:
      return "member-reap";
    default:
      return {};
  }
}

// Anchored match of a serf filter regexp (ipc.go compiles "^expr$").
bool anchored_match(const std::string& expr, std::string_view value, bool* invalid) {
  const auto r = serf::regex_search_limited("^(?:" + expr + ")$", value, serf::RegexLimits{});
  if (r == serf::FilterResult::kInvalid) *invalid = true;
  return r == serf::FilterResult::kMatch;
}

}  // namespace

bool parse_event_filter(const std::string& spec_in, std::vector<EventFilter>& out) {
  const std::string spec = spec_in.empty() ? "*" : spec_in;  // serf: "" streams everything
  static constexpr std::string_view kTypes[] = {
      "member-join", "member-leave", "member-failed", "member-update",
      "member-reap", "user",         "query",         "*"};
  out.clear();
  std::size_t start = 0;
  while (start <= spec.size()) {
    std::size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = spec.substr(start, comma - start);
    start = comma + 1;
    EventFilter f;
    if (item.rfind("user:", 0) == 0) {
      f.event = "user";
      f.name = item.substr(5);
    } else if (item.rfind("query:", 0) == 0) {
      f.event = "query";
      f.name = item.substr(6);
    } else {
      f.event = item;
    }
    if (std::find(std::begin(kTypes), std::end(kTypes), f.event) == std::end(kTypes)) {
      return false;
    }
    out.push_back(std::move(f));
  }
  return !out.empty();
}

bool filter_matches(const std::vector<EventFilter>& filters, std::string_view event,
                    std::string_view name) {
  for (const auto& f : filters) {
    if (f.event == "*") return true;
    if (f.event != event) continue;
    if (f.name.empty() || f.name == name) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  struct Client;

  // A query this server originated for a client (`query`, or one of the key commands).
  struct OpenQuery {
    std::uint64_t seq = 0;
    bool started = false;
    std::vector<Bytes> held;  // records that arrived before the header went out
  };
  // A query delivered on a client's stream, which that client may answer (`respond`).
  struct PendingQuery {
    serf::Query query;
  };

  struct Client {
    uv_tcp_t tcp{};
    int open_handles = 1;
    Impl* server = nullptr;
    std::uint64_t id = 0;
    std::string peer;
    Bytes in;
    std::int64_t version = 0;
    bool did_auth = false;
    bool closing = false;
    bool paused = false;  // reading stopped until the client reads what we wrote
    std::chrono::steady_clock::time_point accepted_at = std::chrono::steady_clock::now();
    std::map<std::uint64_t, std::vector<EventFilter>> streams;  // by the stream's Seq
    std::optional<std::uint64_t> monitor_seq;
    int monitor_rank = 0;
    std::uint64_t next_query_id = 0;
    std::map<std::uint64_t, PendingQuery> pending;  // by the ID given to the client
    std::map<std::uint64_t, OpenQuery> open;        // by Seq
  };

  static constexpr std::size_t kMaxStreamsPerClient = 16;
  static constexpr std::size_t kMaxPendingPerClient = 1024;  // queries a client may answer
  static constexpr std::chrono::seconds kHandshakeTimeout{10};
  static constexpr std::chrono::hours kMaxQueryTimeout{1};

  ServerConfig config;
  net::Agent& agent;
  table::MembershipTable& table;

  uv_loop_t loop{};
  uv_tcp_t listener{};
  uv_async_t async{};
  uv_timer_t sweep{};
  bool loop_ready = false;
  std::thread thread;
  std::atomic<std::uint16_t> bound_port{0};

  std::mutex posted_mutex;
  bool accepting_posts = false;
  std::deque<std::function<void()>> posted;

  std::map<std::uint64_t, Client*> clients;  // RPC thread
  std::uint64_t next_client_id = 0;

  mutable std::mutex stats_mutex;
  ServerStats st;

  Impl(ServerConfig c, net::Agent& a, table::MembershipTable& t)
      : config(std::move(c)), agent(a), table(t) {}

  template <typename F>
  void bump(F&& f) {
    std::lock_guard<std::mutex> lock(stats_mutex);
    f(st);
  }

  void log(const std::string& level, const std::string& line) {
    if (config.log) config.log(level, line);
  }

  // Any thread: run `fn` on the RPC loop; dropped once the loop is closing.
  void post(std::function<void()> fn) {
    // uv_async_send under the lock: close_all() closes the handle only after taking it.
    std::lock_guard<std::mutex> lock(posted_mutex);
    if (!accepting_posts) return;
    posted.push_back(std::move(fn));
    uv_async_send(&async);
  }

  // A callback for the Agent: holds the Impl alive, and finds the client again by id (it may
  // be gone by then).
  template <typename F>
  auto on_client(std::uint64_t client_id, F&& fn) {
    return [weak = weak_from_this(), client_id, fn = std::forward<F>(fn)](auto&&... args) {
      auto impl = weak.lock();
      if (!impl) return;
      impl->post([impl, client_id, fn, args...]() mutable {
        auto it = impl->clients.find(client_id);
        if (it == impl->clients.end() || it->second->closing) return;
        fn(*impl, *it->second, args...);
      });
    };
  }

  void run_posted() {
    std::deque<std::function<void()>> work;
    {
      std::lock_guard<std::mutex> lock(posted_mutex);
      work.swap(posted);
    }
    for (auto& fn : work) fn();
  }

  // ---- writing ----

  // `written` runs once the bytes left (or could not): e.g. leave's answer before we exit.
  void write(Client& c, Bytes bytes, std::function<void()> written = {}) {
    if (c.closing || bytes.empty()) {
      if (written) written();
      return;
    }
    struct WriteReq {
      uv_write_t req;
      Bytes data;
      std::function<void()> written;
    };
    auto* w = new WriteReq{{}, std::move(bytes), std::move(written)};
    uv_buf_t buf =
        uv_buf_init(reinterpret_cast<char*>(w->data.data()), static_cast<unsigned>(w->data.size()));
    const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c.tcp), &buf, 1,
                            [](uv_write_t* req, int) {
                              auto* done = reinterpret_cast<WriteReq*>(req);
                              auto* cl = static_cast<Client*>(req->handle->data);
                              if (done->written) done->written();
                              delete done;
                              if (!cl->closing) cl->server->maybe_resume(*cl);
                            });
    if (rc != 0) {
      if (w->written) w->written();
      delete w;
      close_client(c);
    }
  }

  std::size_t queued(Client& c) const {
    return uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&c.tcp));
  }

  // Backpressure: a client that sends requests but does not read the answers is not read
  // from until it catches up (serf's agent blocks on such a writer the same way).
  void maybe_pause(Client& c) {
    if (c.closing || c.paused || queued(c) <= config.max_queued_stream_bytes) return;
    c.paused = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
  }
  void maybe_resume(Client& c) {
    if (!c.paused || queued(c) > config.max_queued_stream_bytes / 2) return;
    c.paused = false;
    start_reading(c);
    if (!c.in.empty()) {  // requests that arrived before we paused
      uv_buf_t none = uv_buf_init(nullptr, 0);
      on_read(c, 0, &none);
    }
  }
  void start_reading(Client& c) {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c.tcp), net::alloc_read_buffer,
                  [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                    auto* cl = static_cast<Client*>(s->data);
                    cl->server->on_read(*cl, n, buf);
                  });
  }

  void send(Client& c, std::uint64_t seq, std::string_view error, const Bytes* body = nullptr) {
    Bytes out = wr::encode_response_header(seq, error);
    if (body) out.insert(out.end(), body->begin(), body->end());
    write(c, std::move(out));
  }

  // Stream and monitor records: dropped (counted) rather than buffered without bound.
  void send_record(Client& c, std::uint64_t seq, const Bytes& body) {
    if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&c.tcp)) >
        config.max_queued_stream_bytes) {
      bump([](ServerStats& s) { ++s.records_dropped; });
      return;
    }
    send(c, seq, "", &body);
  }

  void close_client(Client& c) {
    if (c.closing) return;
    c.closing = true;
    clients.erase(c.id);
    bump([&](ServerStats& s) { s.clients = clients.size(); });
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
    net::close_owned_handles<Client>({reinterpret_cast<uv_handle_t*>(&c.tcp)});
  }

  // ---- reading ----

  void on_read(Client& c, ssize_t n, const uv_buf_t* buf) {
    if (n > 0) c.in.insert(c.in.end(), buf->base, buf->base + n);
    delete[] buf->base;
    if (n < 0) {
      close_client(c);
      return;
    }
    while (!c.closing) {
      // Header, then the body if the command has one; both must be complete.
      std::size_t hlen = 0;
      const auto hs = wire::mp::scan_object(c.in, hlen);
      if (hs == wire::mp::Scan::kIncomplete) {
        if (c.in.size() > config.max_request_bytes) return protocol_error(c, "request too large");
        return;
      }
      if (hs == wire::mp::Scan::kError) return protocol_error(c, "undecodable request header");
      wr::RequestHeader header;
      std::string err;
      if (!wr::decode_request_header(std::span(c.in).first(hlen), header, &err)) {
        return protocol_error(c, err);
      }
      std::size_t blen = 0;
      wr::RequestBody body;
      // Commands we do not know have no body we could find; serf closes such clients too.
      const bool has_body = wr::command_has_body(header.command) && known(header.command) &&
                            !(header.command != "handshake" && c.version == 0);
      if (has_body) {
        const auto bs = wire::mp::scan_object(std::span(c.in).subspan(hlen), blen);
        if (bs == wire::mp::Scan::kIncomplete) {
          if (c.in.size() > config.max_request_bytes) {
            return protocol_error(c, "request too large");
          }
          return;
        }
        if (bs == wire::mp::Scan::kError) return protocol_error(c, "undecodable request body");
        if (!wr::decode_request_body(std::span(c.in).subspan(hlen, blen), body, &err)) {
          return protocol_error(c, err);
        }
      }
      c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(hlen + blen));
      bump([](ServerStats& s) { ++s.commands; });
      handle(c, header, body);
      if (!c.closing && queued(c) > config.max_queued_stream_bytes) {
        maybe_pause(c);
        return;  // the rest of c.in is handled when reading resumes
      }
    }
  }

  void protocol_error(Client& c, const std::string& why) {
    bump([](ServerStats& s) { ++s.protocol_errors; });
    log("ERR", "agent.ipc: client " + c.peer + ": " + why + "; closing it");
    close_client(c);
  }

  static bool known(std::string_view cmd) {
    static constexpr std::string_view kCommands[] = {
        "handshake", "auth",        "event",   "members",     "members-filtered",
        "stream",    "monitor",     "stop",    "force-leave", "join",
        "leave",     "install-key", "use-key", "remove-key",  "list-keys",
        "tags",      "query",       "respond", "stats",       "get-coordinate"};
    return std::find(std::begin(kCommands), std::end(kCommands), cmd) != std::end(kCommands);
  }

  // ---- commands ----

  void handle(Client& c, const wr::RequestHeader& h, wr::RequestBody& b) {
    const std::string& cmd = h.command;
    const std::uint64_t seq = h.seq;
    if (cmd != "handshake" && c.version == 0) {
      send(c, seq, wr::kHandshakeRequired);
      return close_client(c);
    }
    if (!config.auth_key.empty() && !c.did_auth && cmd != "auth" && cmd != "handshake") {
      log("WARN", "agent.ipc: Client sending commands before auth");
      return send(c, seq, wr::kAuthRequired);
    }
    if (cmd == "handshake") {
      if (b.version != wr::kIpcVersion) return send(c, seq, wr::kUnsupportedIpcVersion);
      if (c.version != 0) return send(c, seq, wr::kDuplicateHandshake);
      c.version = b.version;
      return send(c, seq, "");
    }
    if (cmd == "auth") {
      if (b.auth_key == config.auth_key) {
        c.did_auth = true;
        return send(c, seq, "");
      }
      return send(c, seq, wr::kInvalidAuthToken);
    }
    if (cmd == "members" || cmd == "members-filtered") return members(c, seq, cmd, b);
    if (cmd == "event") {
      log("DEBUG", "agent: Requesting user event send: " + b.name +
                       ". Coalesced: " + (b.coalesce ? "true" : "false"));
      std::string err;
      agent.user_event(b.name, std::string(b.payload.begin(), b.payload.end()), b.coalesce, &err);
      return send(c, seq, err);
    }
    if (cmd == "join") return join(c, seq, b);
    if (cmd == "leave") return leave(c, seq);
    if (cmd == "force-leave") return force_leave(c, seq, b);
    if (cmd == "tags") return tags(c, seq, b);
    if (cmd == "stream") return stream(c, seq, b);
    if (cmd == "monitor") return monitor(c, seq, b);
    if (cmd == "stop") {
      if (c.monitor_seq && *c.monitor_seq == b.stop) c.monitor_seq.reset();
      c.streams.erase(b.stop);
      return send(c, seq, "");
    }
    if (cmd == "query") return query(c, seq, b);
    if (cmd == "respond") return respond(c, seq, b);
    if (cmd == "install-key") return keys(c, seq, serf::KeyOp::kInstall, b.key);
    if (cmd == "use-key") return keys(c, seq, serf::KeyOp::kUse, b.key);
    if (cmd == "remove-key") return keys(c, seq, serf::KeyOp::kRemove, b.key);
    if (cmd == "list-keys") return keys(c, seq, serf::KeyOp::kList, "");
    if (cmd == "stats") return stats(c, seq);
    if (cmd == "get-coordinate") return get_coordinate(c, seq, b);
    send(c, seq, wr::kUnsupportedCommand);
    log("ERR", "agent.ipc: Failed to evaluate request: command '" + cmd + "' not recognized");
    close_client(c);
  }

  void members(Client& c, std::uint64_t seq, const std::string& cmd, const wr::RequestBody& b) {
    const auto snap = table.snapshot();
    std::vector<wr::RpcMember> out;
    out.reserve(snap->size());
    bool invalid = false;
    for (const auto& m : snap->members()) {
      if (cmd == "members-filtered") {
        bool keep = true;
        for (const auto& [tag, expr] : b.tags) {
          auto it = m->tags.find(tag);
          if (!anchored_match(expr, it == m->tags.end() ? "" : it->second, &invalid)) {
            keep = false;
          }
        }
        if (!b.status.empty() && !anchored_match(b.status, status_name(m->status), &invalid)) {
          keep = false;
        }
        if (!b.name.empty() && !anchored_match(b.name, m->name, &invalid)) keep = false;
        if (invalid) break;
        if (!keep) continue;
      }
      out.push_back(to_rpc(*m));
    }
    if (invalid) {
      // serf ends the connection without an answer; we answer, with the body clients read.
      const Bytes empty = wr::encode_members({});
      return send(c, seq, "Failed to compile regex", &empty);
    }
    const Bytes body = wr::encode_members(out);
    send(c, seq, "", &body);
  }

  void join(Client& c, std::uint64_t seq, const wr::RequestBody& b) {
    std::string list;
    for (const auto& a : b.existing) list += (list.empty() ? "" : " ") + a;
    log("INFO", "agent: joining: [" + list + "] replay: " + (b.replay ? "true" : "false"));
    agent.join(b.existing,
               on_client(c.id, [seq](Impl& impl, Client& cl, int joined, std::string error) {
                 impl.log(joined > 0 ? "INFO" : "WARN",
                          joined > 0 ? "agent: joined: " + std::to_string(joined) + " nodes"
                                     : "agent: error joining: " + error);
                 const Bytes body = wr::encode_join_response(joined);
                 impl.send(cl, seq, joined > 0 ? "" : error, &body);
               }));
  }

  void leave(Client& c, std::uint64_t seq) {
    log("INFO", "agent.ipc: Graceful leave triggered");
    // The member shuts down after a leave whether or not the client is still there.
    agent.leave([weak = weak_from_this(), id = c.id, seq] {
      auto impl = weak.lock();
      if (!impl) return;
      impl->post([impl, id, seq] {
        auto after = [impl] {
          if (impl->config.on_leave) impl->config.on_leave();
        };
        auto it = impl->clients.find(id);
        if (it == impl->clients.end()) return after();
        impl->write(*it->second, wr::encode_response_header(seq, ""), after);
      });
    });
  }

  void force_leave(Client& c, std::uint64_t seq, const wr::RequestBody& b) {
    log("INFO", "agent: Force leaving node: " + b.node + (b.prune ? " (prune)" : ""));
    agent.force_leave(b.node, b.prune,
                      on_client(c.id, [seq](Impl& impl, Client& cl, std::string error) {
                        impl.send(cl, seq, error);
                      }));
  }

  void tags(Client& c, std::uint64_t seq, const wr::RequestBody& b) {
    table::Tags tags;
    const auto snap = table.snapshot();
    if (const auto* self = snap->find(agent.node_name())) tags = self->tags;
    for (const auto& k : b.delete_tags) tags.erase(k);
    for (const auto& [k, v] : b.tags) tags[k] = v;
    std::string err;
    agent.set_tags(tags, &err);
    send(c, seq, err);
  }

  void stream(Client& c, std::uint64_t seq, const wr::RequestBody& b) {
    std::vector<EventFilter> filters;
    if (!parse_event_filter(b.type, filters)) return send(c, seq, wr::kInvalidFilter);
    if (c.streams.count(seq)) return send(c, seq, wr::kStreamExists);
    if (c.streams.size() >= kMaxStreamsPerClient) {
      return send(
          c, seq,
          "Too many streams on this connection (" + std::to_string(kMaxStreamsPerClient) + ")");
    }
    c.streams[seq] = std::move(filters);
    send(c, seq, "");
  }

  void monitor(Client& c, std::uint64_t seq, const wr::RequestBody& b) {
    const std::string level = upper(b.log_level);
    const int rank = level_rank(level);
    if (rank < 0) return send(c, seq, "Unknown log level: " + level);
    if (c.monitor_seq) return send(c, seq, wr::kMonitorExists);
    c.monitor_seq = seq;
    c.monitor_rank = rank;
    send(c, seq, "");
  }

  void query(Client& c, std::uint64_t seq, const wr::RequestBody& b) {
    serf::QueryParams params;
    params.filter_nodes = b.filter_nodes;
    for (const auto& [k, v] : b.filter_tags) params.filter_tags.emplace_back(k, v);
    params.request_ack = b.request_ack;
    params.relay_factor = b.relay_factor;
    params.timeout = std::chrono::milliseconds(std::clamp<std::int64_t>(
        b.timeout_ns / 1000000, 0, std::chrono::milliseconds(kMaxQueryTimeout).count()));
    c.open[seq] = OpenQuery{seq, false, {}};
    serf::QueryCallbacks cb;
    cb.ack = on_client(c.id, [seq](Impl& impl, Client& cl, std::string from) {
      impl.query_record(cl, seq, wr::encode_query_record("ack", from, std::nullopt));
    });
    cb.response = on_client(c.id, [seq](Impl& impl, Client& cl, std::string from, Bytes p) {
      impl.query_record(cl, seq, wr::encode_query_record("response", from, p));
    });
    cb.done = on_client(c.id, [seq](Impl& impl, Client& cl, int, int) {
      impl.query_record(cl, seq, wr::encode_query_record("done", "", std::nullopt));
      cl.open.erase(seq);
    });
    agent.query(b.name, std::string(b.payload.begin(), b.payload.end()), params, std::move(cb),
                on_client(c.id, [seq](Impl& impl, Client& cl, bool ok, std::string error) {
                  auto it = cl.open.find(seq);
                  if (it == cl.open.end()) return;
                  impl.send(cl, seq, ok ? "" : error);
                  if (!ok) {
                    cl.open.erase(it);
                    return;
                  }
                  it->second.started = true;
                  for (auto& r : it->second.held) impl.write(cl, std::move(r));
                  it->second.held.clear();
                }));
  }

  // Our own node's ack and answer come back before the query's start is reported: they wait
  // for the header, which the client must see first.
  void query_record(Client& c, std::uint64_t seq, const Bytes& body) {
    auto it = c.open.find(seq);
    if (it == c.open.end()) return;
    Bytes out = wr::encode_response_header(seq, "");
    out.insert(out.end(), body.begin(), body.end());
    if (it->second.started) {
      write(c, std::move(out));
    } else {
      it->second.held.push_back(std::move(out));
    }
  }

  void respond(Client& c, std::uint64_t seq, const wr::RequestBody& b) {
    auto it = c.pending.find(b.id);
    if (it == c.pending.end() || it->second.query.deadline < std::chrono::steady_clock::now()) {
      if (it != c.pending.end()) c.pending.erase(it);
      return send(c, seq, wr::kInvalidQueryId);
    }
    agent.respond(it->second.query, std::string(b.payload.begin(), b.payload.end()),
                  on_client(c.id, [seq](Impl& impl, Client& cl, bool ok, std::string error) {
                    impl.send(cl, seq, ok ? "" : error);
                  }));
  }

  // install-key, use-key, remove-key, list-keys: serf's KeyManager over our own queries.
  void keys(Client& c, std::uint64_t seq, serf::KeyOp op, const std::string& key_text) {
    Bytes key;
    std::string err;
    if (op != serf::KeyOp::kList && !wire::parse_key_base64(key_text, key, &err)) {
      const Bytes body = wr::encode_key_response(wr::KeyResponse{});
      return send(c, seq, err, &body);
    }
    struct Gather {
      serf::KeyResult result;
      bool finished = false;
    };
    auto g = std::make_shared<Gather>();
    g->result.num_nodes = static_cast<int>(agent.stats().members);
    auto finish = [seq, g, op](Impl& impl, Client& cl) {
      if (g->finished) return;
      g->finished = true;
      wr::KeyResponse r;
      r.messages = g->result.messages;
      if (op == serf::KeyOp::kList) r.keys = g->result.keys;
      r.num_nodes = g->result.num_nodes;
      r.num_err = g->result.num_err;
      r.num_resp = g->result.num_resp;
      const Bytes body = wr::encode_key_response(r);
      impl.send(cl, seq, serf::key_result_error(g->result), &body);
    };
    serf::QueryCallbacks cb;
    cb.response = on_client(c.id, [g, finish](Impl& impl, Client& cl, std::string from, Bytes p) {
      if (g->finished) return;
      serf::add_key_answer(g->result, from, p);
      // serf returns as soon as every member answered.
      if (g->result.num_resp >= g->result.num_nodes) finish(impl, cl);
    });
    cb.done = on_client(c.id, [finish](Impl& impl, Client& cl, int, int) { finish(impl, cl); });
    const Bytes payload = serf::key_query_payload(op, key);
    agent.query(serf::key_query_name(op), std::string(payload.begin(), payload.end()), {},
                std::move(cb),
                on_client(c.id, [seq, g](Impl& impl, Client& cl, bool ok, std::string error) {
                  if (ok || g->finished) return;
                  g->finished = true;
                  const Bytes body = wr::encode_key_response(wr::KeyResponse{});
                  impl.send(cl, seq, error, &body);
                }));
  }

  void stats(Client& c, std::uint64_t seq) {
    const auto s = agent.stats();
    const auto snap = table.snapshot();
    std::map<std::string, wr::StringMap> out;
    out["agent"]["name"] = agent.node_name();
    utsname u{};
    ::uname(&u);
    out["runtime"]["os"] = "linux";
    out["runtime"]["arch"] = u.machine;
    out["runtime"]["version"] = config.version;
    out["runtime"]["cpu_count"] = std::to_string(std::thread::hardware_concurrency());
    out["serf"]["members"] = std::to_string(snap->count(table::MemberStatus::kAlive) +
                                            snap->count(table::MemberStatus::kLeaving));
    out["serf"]["failed"] = std::to_string(snap->count(table::MemberStatus::kFailed));
    out["serf"]["left"] = std::to_string(snap->count(table::MemberStatus::kLeft));
    out["serf"]["health_score"] = std::to_string(s.awareness);
    out["serf"]["member_time"] = std::to_string(s.clocks.member);
    out["serf"]["event_time"] = std::to_string(s.clocks.event);
    out["serf"]["query_time"] = std::to_string(s.clocks.query);
    out["serf"]["intent_queue"] = std::to_string(s.queues.intents);
    out["serf"]["event_queue"] = std::to_string(s.queues.events);
    out["serf"]["query_queue"] = std::to_string(s.queues.queries);
    out["serf"]["encrypted"] = s.encrypted ? "true" : "false";
    out["serf"]["coordinate_resets"] = std::to_string(s.serf.coordinate_resets);
    // haserf's own counters (serf info prints every section it gets).
    for (const auto& counter : net::gossip_counters()) {
      out["haserf"][counter.name] = std::to_string(counter.read(s));
    }
    if (const auto* self = snap->find(agent.node_name())) {
      for (const auto& [k, v] : self->tags) out["tags"][k] = v;
    }
    {
      std::lock_guard<std::mutex> lock(stats_mutex);
      out["rpc"]["clients"] = std::to_string(st.clients);
      out["rpc"]["records_dropped"] = std::to_string(st.records_dropped);
    }
    if (config.extra_stats) config.extra_stats(out);
    const Bytes body = wr::encode_stats(out);
    send(c, seq, "", &body);
  }

  void get_coordinate(Client& c, std::uint64_t seq, const wr::RequestBody& b) {
    std::optional<wr::RpcCoordinate> out;
    // Waits (at most 1 s) for the gossip loop: on the RPC thread, never on the loop.
    if (auto coord = agent.coordinate(b.node)) {
      out = wr::RpcCoordinate{coord->vec, coord->error, coord->adjustment, coord->height};
    }
    const Bytes body = wr::encode_coordinate_response(out);
    send(c, seq, "", &body);
  }

  // ---- feeds (RPC thread) ----

  // A write error closes (and unlists) a client: deliveries walk a copy of the ids.
  std::vector<std::uint64_t> client_ids() const {
    std::vector<std::uint64_t> ids;
    ids.reserve(clients.size());
    for (const auto& [id, c] : clients) ids.push_back(id);
    return ids;
  }
  Client* find_client(std::uint64_t id) {
    auto it = clients.find(id);
    return it == clients.end() || it->second->closing ? nullptr : it->second;
  }

  void deliver_event(std::string_view event, std::string_view name,
                     const std::function<Bytes()>& record) {
    std::optional<Bytes> body;  // encoded once, for the first client that wants it
    for (const auto id : client_ids()) {
      Client* c = find_client(id);
      if (!c) continue;
      std::vector<std::uint64_t> seqs;
      for (const auto& [seq, filters] : c->streams) {
        if (filter_matches(filters, event, name)) seqs.push_back(seq);
      }
      for (const auto seq : seqs) {
        if (!body) body = record();
        if (find_client(id)) send_record(*c, seq, *body);
      }
    }
  }

  void deliver_query(const serf::Query& q) {
    const auto now = std::chrono::steady_clock::now();
    if (q.deadline <= now) return;
    for (const auto id : client_ids()) {
      Client* c = find_client(id);
      if (!c) continue;
      std::vector<std::uint64_t> seqs;
      for (const auto& [seq, filters] : c->streams) {
        if (filter_matches(filters, "query", q.name)) seqs.push_back(seq);
      }
      if (seqs.empty()) continue;
      // Expired entries go when the next query arrives; the map is bounded besides.
      std::erase_if(c->pending, [&](const auto& kv) { return kv.second.query.deadline < now; });
      for (const auto seq : seqs) {
        if (!find_client(id)) break;
        const std::uint64_t qid = ++c->next_query_id;
        if (c->pending.size() < kMaxPendingPerClient) c->pending[qid] = PendingQuery{q};
        send_record(*c, seq, wr::encode_query_event_record(qid, q.ltime, q.name, q.payload));
      }
    }
  }

  void deliver_log(int rank, const std::string& line) {
    std::optional<Bytes> body;
    for (const auto id : client_ids()) {
      Client* c = find_client(id);
      if (!c || !c->monitor_seq || rank < c->monitor_rank) continue;
      if (!body) body = wr::encode_log_record(line);
      send_record(*c, *c->monitor_seq, *body);
    }
  }

  // Every second while a connection has not shaken hands: one that has not done so within
  // kHandshakeTimeout goes (idle sockets must not hold every client slot). The timer runs only
  // while such a connection exists, so an agent nobody talks to never wakes for it.
  void sweep_clients() {
    const auto now = std::chrono::steady_clock::now();
    bool waiting = false;
    for (const auto id : client_ids()) {
      Client* c = find_client(id);
      if (!c || c->version != 0 || c->closing) continue;
      if (now - c->accepted_at > kHandshakeTimeout) {
        log("WARN", "agent.ipc: client " + c->peer + " sent no handshake in 10 s; closing it");
        close_client(*c);
      } else {
        waiting = true;
      }
    }
    if (!waiting) uv_timer_stop(&sweep);
  }

  void start_sweep() {
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&sweep)) ||
        uv_is_closing(reinterpret_cast<uv_handle_t*>(&sweep))) {
      return;
    }
    uv_timer_start(
        &sweep, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->sweep_clients(); }, 1000, 1000);
  }

  // ---- accept ----

  void on_connection(int status) {
    if (status < 0) return;
    auto* c = new Client;
    c->server = this;
    c->tcp.data = c;
    uv_tcp_init(&loop, &c->tcp);
    if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener),
                  reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0 ||
        clients.size() >= config.max_clients) {
      if (clients.size() >= config.max_clients) bump([](ServerStats& s) { ++s.refused; });
      c->closing = true;
      net::close_owned_handles<Client>({reinterpret_cast<uv_handle_t*>(&c->tcp)});
      return;
    }
    sockaddr_storage ss{};
    int len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    if (uv_tcp_getpeername(&c->tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      if (ss.ss_family == AF_INET) {
        uv_ip4_name(reinterpret_cast<sockaddr_in*>(&ss), host, sizeof(host));
      } else {
        uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&ss), host, sizeof(host));
      }
    }
    c->peer = host;
    c->id = ++next_client_id;
    clients[c->id] = c;
    bump([&](ServerStats& s) {
      ++s.accepted;
      s.clients = clients.size();
    });
    start_sweep();
    start_reading(*c);
  }

  bool bind_and_listen(std::string* err) {
    sockaddr_storage addr{};
    std::string host = config.addr;
    std::string port = "7373";
    if (auto colon = host.rfind(':'); colon != std::string::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    char* end = nullptr;
    const long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
      if (err) *err = "rpc address " + config.addr + ": bad port";
      return false;
    }
    if (uv_ip4_addr(host.c_str(), static_cast<int>(p), reinterpret_cast<sockaddr_in*>(&addr)) !=
            0 &&
        uv_ip6_addr(host.c_str(), static_cast<int>(p), reinterpret_cast<sockaddr_in6*>(&addr)) !=
            0) {
      if (err) *err = "rpc address " + config.addr + ": not an IP address";
      return false;
    }
    uv_tcp_init(&loop, &listener);
    listener.data = this;
    int rc = uv_tcp_bind(&listener, reinterpret_cast<sockaddr*>(&addr), 0);
    if (rc == 0) {
      rc = uv_listen(
          reinterpret_cast<uv_stream_t*>(&listener), 128,
          [](uv_stream_t* s, int status) { static_cast<Impl*>(s->data)->on_connection(status); });
    }
    if (rc != 0) {
      if (err) *err = "rpc address " + config.addr + ": " + uv_strerror(rc);
      return false;
    }
    sockaddr_storage bound{};
    int len = sizeof(bound);
    uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&bound), &len);
    bound_port =
        ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                         : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    return true;
  }

  bool start(std::string* err) {
    uv_loop_init(&loop);
    loop_ready = true;
    uv_async_init(&loop, &async, [](uv_async_t* a) { static_cast<Impl*>(a->data)->run_posted(); });
    async.data = this;
    uv_timer_init(&loop, &sweep);
    sweep.data = this;
    if (!bind_and_listen(err)) {
      close_all();
      uv_run(&loop, UV_RUN_DEFAULT);
      uv_loop_close(&loop);
      loop_ready = false;
      return false;
    }
    {
      std::lock_guard<std::mutex> lock(posted_mutex);
      accepting_posts = true;
    }
    thread = net::start_thread("haserf-rpc", [this] { uv_run(&loop, UV_RUN_DEFAULT); });
    return true;
  }

  // RPC thread: every handle closed, so uv_run returns.
  void close_all() {
    {
      std::lock_guard<std::mutex> lock(posted_mutex);
      accepting_posts = false;
      posted.clear();
    }
    std::vector<Client*> all;
    for (auto& [id, c] : clients) all.push_back(c);
    for (auto* c : all) close_client(*c);
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener)) && listener.loop) {
      uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    }
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&sweep))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&sweep), nullptr);
    }
    {
      std::lock_guard<std::mutex> lock(posted_mutex);  // post() sends under this lock
      if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&async))) {
        uv_close(reinterpret_cast<uv_handle_t*>(&async), nullptr);
      }
    }
  }

  void stop() {
    if (!loop_ready) return;
    if (thread.joinable()) {
      {
        std::lock_guard<std::mutex> lock(posted_mutex);
        if (accepting_posts) {
          posted.push_back([this] { close_all(); });
          uv_async_send(&async);
        }
      }
      thread.join();
    }
    uv_loop_close(&loop);
    loop_ready = false;
  }
};

Server::Server(ServerConfig config, net::Agent& agent, table::MembershipTable& table)
    : impl_(std::make_shared<Impl>(std::move(config), agent, table)) {}

Server::~Server() {
  stop();
}

bool Server::start(std::string* err) {
  return impl_->start(err);
}
void Server::stop() {
  impl_->stop();
}
std::uint16_t Server::port() const {
  return impl_->bound_port;
}

ServerStats Server::stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mutex);
  return impl_->st;
}

void Server::member_event(const table::ChangeEvent& change) {
  const auto name = member_event_name(change.kind);
  if (name.empty() || !change.member) return;
  impl_->post([impl = impl_.get(), name, member = change.member] {
    impl->deliver_event(name, "", [&] { return wr::encode_member_event(name, {to_rpc(*member)}); });
  });
}

void Server::user_event(const serf::UserEvent& e) {
  impl_->post([impl = impl_.get(), e] {
    impl->deliver_event("user", e.name, [&] {
      return wr::encode_user_event_record(e.ltime, e.name, e.payload, e.coalesce);
    });
  });
}

void Server::query(const serf::Query& q) {
  impl_->post([impl = impl_.get(), q] { impl->deliver_query(q); });
}

void Server::log_line(const std::string& level, const std::string& line) {
  const int rank = level_rank(level);
  if (rank < 0) return;
  impl_->post([impl = impl_.get(), rank, line] { impl->deliver_log(rank, line); });
}

}  // namespace haserf::rpc
