// SPDX-License-Identifier: MIT
// A blocking client for serf's RPC protocol (docs/serf-rpc.md), for command-line tools: one
// TCP connection, requests answered in order, every wait bounded by the timeout given to
// connect(). Works against `haserf agent --rpc-addr` and `serf agent` alike. Not for use
// inside HAProxy (it blocks).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/wire/rpc.hpp"

namespace haserf::rpc {

// "127.0.0.1:7373" from HASERF_RPC_ADDR, else SERF_RPC_ADDR, else serf's default.
std::string default_rpc_addr();

class Client {
 public:
  Client() = default;
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connects to host:port, then handshake and (with a key) auth. `timeout` bounds each later
  // wait for an answer too (a query's records: its own timeout plus this).
  bool connect(const std::string& addr, const std::string& auth_key,
               std::chrono::milliseconds timeout, std::string* err);
  void close();

  bool members(std::vector<wire::rpc::RpcMember>& out, std::string* err);
  // Anchored regexps, as serf members -tag/-status/-name.
  bool members_filtered(const wire::rpc::StringMap& tags, const std::string& status,
                        const std::string& name, std::vector<wire::rpc::RpcMember>& out,
                        std::string* err);
  bool user_event(const std::string& name, const wire::Bytes& payload, bool coalesce,
                  std::string* err);
  bool join(const std::vector<std::string>& addrs, bool replay, std::int32_t& joined,
            std::string* err);
  // install-key, use-key, remove-key (with `key`, base64) or list-keys (key ignored).
  bool keys(const std::string& command, const std::string& key, wire::rpc::KeyResponse& out,
            std::string* err);
  bool stats(std::map<std::string, wire::rpc::StringMap>& out, std::string* err);
  bool get_coordinate(const std::string& node, std::optional<wire::rpc::RpcCoordinate>& out,
                      std::string* err);
  // Sends the query and calls `on_record` for every ack and response until "done". The
  // request's timeout_ns 0 means the agent's default.
  bool query(const wire::rpc::RequestBody& request,
             const std::function<void(const wire::rpc::QueryRecord&)>& on_record, std::string* err,
             const std::function<void()>& on_started = {});

 private:
  // One request; `body_out` receives the answer's body when the command has one.
  bool call(const std::string& command, const wire::rpc::RequestBody* body, wire::Bytes* body_out,
            std::string* err);
  bool send(const wire::Bytes& bytes, std::string* err);
  bool read_object(wire::Bytes& out, std::chrono::steady_clock::time_point deadline,
                   std::string* err);

  int fd_ = -1;
  std::uint64_t seq_ = 0;
  std::chrono::milliseconds timeout_{5000};
  wire::Bytes in_;  // received, not yet decoded
};

}  // namespace haserf::rpc
