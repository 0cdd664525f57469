// SPDX-License-Identifier: MIT
// Door of core/rpc: serf's RPC protocol (docs/serf-rpc.md) served for a net::Agent, so that
// the `serf` CLI (members, join, leave, force-leave, tags, event, query, monitor, keys, info,
// rtt) and serf RPC client libraries work unchanged against `haserf agent --rpc-addr`; and the
// blocking client haserf's own commands use to talk to a local agent.
//
// Threads and ownership:
// - The Server owns one thread running its own libuv loop, started in start() and joined in
//   stop() (never detached). Every socket, timer and client lives on that loop; a client's
//   memory is freed in its handle's close callback (core/net/uv_owned.hpp's rule).
// - The gossip loop never waits for RPC clients: the Agent's callbacks (join done, query acks
//   and responses) and the event feeds below only queue work for the RPC loop. A client that
//   reads too slowly loses stream records (counted), never the member its heartbeat.
// - Work queued after stop() began is dropped, so an Agent callback that fires late is
//   harmless; stop() must run before the Agent and the table are destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/net/agent.hpp"
#include "core/rpc/rpc_client.hpp"
#include "core/table/table.hpp"

namespace haserf::rpc {

struct ServerConfig {
  // Where to listen (serf's -rpc-addr; default 127.0.0.1:7373). Port 0 picks a free port.
  std::string addr = "127.0.0.1:7373";
  // serf's -rpc-auth: when set, every command but handshake and auth needs it first.
  std::string auth_key;
  // Limits a hostile or broken client cannot pass: connections at once, bytes of one request
  // (header or body), and stream/monitor bytes waiting for a slow reader before records are
  // dropped (counted in stats) instead of buffered.
  std::size_t max_clients = 128;
  std::size_t max_request_bytes = 1 << 20;
  std::size_t max_queued_stream_bytes = 8 << 20;
  // The agent's version string for `serf info` ("runtime" / "version").
  std::string version;
  // After an RPC `leave` finished and its answer is written: the owner exits (serf's agent
  // shuts down). Runs on the RPC thread.
  std::function<void()> on_leave;
  // Log lines of the RPC layer itself (client errors); runs on the RPC thread.
  std::function<void(const std::string& level, const std::string& line)> log;
  // More sections or values for `stats` (serf info), e.g. the CLI's own counters. RPC thread.
  std::function<void(std::map<std::string, std::map<std::string, std::string>>&)> extra_stats;
};

struct ServerStats {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;  // over max_clients
  std::uint64_t commands = 0;
  std::uint64_t protocol_errors = 0;  // undecodable or oversized requests: connection closed
  std::uint64_t records_dropped = 0;  // stream/monitor records a slow client did not get
  std::size_t clients = 0;
};

class Server {
 public:
  Server(ServerConfig config, net::Agent& agent, table::MembershipTable& table);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on the calling thread (an address in use is reported here, with the
  // address), then starts the RPC thread.
  bool start(std::string* err);
  void stop();  // closes every client and joins the thread; idempotent
  std::uint16_t port() const;
  ServerStats stats() const;

  // ---- feeds, from any thread; they never block ----
  // A serf member event (the table's change; kStatus changes are not serf events).
  void member_event(const table::ChangeEvent& change);
  void user_event(const serf::UserEvent& event);
  // An application query: streamed to `stream` clients, which may answer with `respond`.
  void query(const serf::Query& query);
  // A log line for `monitor` clients; level is serf's: TRACE, DEBUG, INFO, WARN, ERR.
  void log_line(const std::string& level, const std::string& line);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// serf's event filter for `stream` (and -event-handler): "member-join", "member-leave",
// "member-failed", "member-update", "member-reap", "user", "user:NAME", "query",
// "query:NAME" or "*", comma-separated. False for an unknown type.
struct EventFilter {
  std::string event;  // "*" for any
  std::string name;   // user event / query name; empty for any
};
bool parse_event_filter(const std::string& spec, std::vector<EventFilter>& out);
bool filter_matches(const std::vector<EventFilter>& filters, std::string_view event,
                    std::string_view name);

}  // namespace haserf::rpc
