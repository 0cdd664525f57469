// SPDX-License-Identifier: MIT
// Serf's RPC protocol (serf 0.9.4 agent IPC, docs/serf-rpc.md): the messages the `serf` CLI
// and serf RPC clients exchange with an agent over TCP, as pure encode/decode functions.
//
// A request is a msgpack header {Command, Seq} followed, for most commands, by one msgpack
// body; the agent answers {Seq, Error} followed by a body for some commands, and streams
// further {Seq, Error} + record pairs for `stream`, `monitor` and `query`. Both sides use
// go-msgpack's newer format (WriteExt): str8 strings and bin for []byte, which is what we write
// here (the gossip codecs write the old raw format; see §1.1).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/wire/messages.hpp"

namespace haserf::wire::rpc {

// The IPC version serf 0.9.4 and 0.10.x speak (MinIPCVersion = MaxIPCVersion = 1).
inline constexpr std::int64_t kIpcVersion = 1;

// Error strings serf's agent sends, word for word (clients compare some of them).
inline constexpr std::string_view kUnsupportedCommand = "Unsupported command";
inline constexpr std::string_view kUnsupportedIpcVersion = "Unsupported IPC version";
inline constexpr std::string_view kDuplicateHandshake = "Handshake already performed";
inline constexpr std::string_view kHandshakeRequired = "Handshake required";
inline constexpr std::string_view kMonitorExists = "Monitor already exists";
inline constexpr std::string_view kInvalidFilter = "Invalid event filter";
inline constexpr std::string_view kStreamExists = "Stream with given sequence exists";
inline constexpr std::string_view kInvalidQueryId = "No pending queries matching ID";
inline constexpr std::string_view kAuthRequired = "Authentication required";
inline constexpr std::string_view kInvalidAuthToken = "Invalid authentication token";

using StringMap = std::map<std::string, std::string>;

struct RequestHeader {
  std::string command;
  std::uint64_t seq = 0;
};

// Every request body serf 0.9.4 defines, folded into one struct: the command says which
// fields mean something (the names are serf's; several commands share Name, Tags, Payload).
struct RequestBody {
  std::int64_t version = 0;               // handshake
  std::string auth_key;                   // auth
  std::string name;                       // event, query, members-filtered (a regexp)
  Bytes payload;                          // event, query, respond
  bool coalesce = false;                  // event
  std::string node;                       // force-leave, get-coordinate
  bool prune = false;                     // force-leave
  std::vector<std::string> existing;      // join
  bool replay = false;                    // join
  StringMap tags;                         // members-filtered (regexps), tags (values)
  std::string status;                     // members-filtered (a regexp)
  std::string key;                        // install-key, use-key, remove-key
  std::string log_level;                  // monitor
  std::string type;                       // stream: the event filter ("*", "member-join,user")
  std::uint64_t stop = 0;                 // stop: the Seq of the stream or monitor to stop
  std::vector<std::string> delete_tags;   // tags
  std::vector<std::string> filter_nodes;  // query
  StringMap filter_tags;                  // query
  bool request_ack = false;               // query
  std::uint8_t relay_factor = 0;          // query
  std::int64_t timeout_ns = 0;            // query (a Go time.Duration)
  std::uint64_t id = 0;                   // respond
};

// Which commands carry a body (serf decodes one exactly for these).
bool command_has_body(std::string_view command);

bool decode_request_header(std::span<const std::uint8_t> data, RequestHeader& out,
                           std::string* err);
bool decode_request_body(std::span<const std::uint8_t> data, RequestBody& out, std::string* err);

// ---- what the agent sends ----

struct RpcMember {
  std::string name;
  Bytes addr;  // 4 or 16 bytes (Go net.IP)
  std::uint16_t port = 0;
  StringMap tags;
  std::string status;                        // "alive", "leaving", "left", "failed", "none"
  std::uint8_t vsn[6] = {0, 0, 0, 0, 0, 0};  // ProtocolMin/Max/Cur, DelegateMin/Max/Cur
};

struct KeyResponse {
  StringMap messages;                              // node -> error
  std::optional<std::map<std::string, int>> keys;  // list-keys only: key -> nodes holding it
  int num_nodes = 0, num_err = 0, num_resp = 0;
};

struct RpcCoordinate {
  std::vector<double> vec;
  double error = 0, adjustment = 0, height = 0;
};

Bytes encode_response_header(std::uint64_t seq, std::string_view error);
Bytes encode_members(const std::vector<RpcMember>& members);  // {Members: [...]}
Bytes encode_member_event(std::string_view event, const std::vector<RpcMember>& members);
Bytes encode_join_response(std::int32_t num);
Bytes encode_key_response(const KeyResponse& r);
Bytes encode_stats(const std::map<std::string, StringMap>& stats);
Bytes encode_coordinate_response(const std::optional<RpcCoordinate>& coord);
Bytes encode_user_event_record(std::uint64_t ltime, std::string_view name,
                               std::span<const std::uint8_t> payload, bool coalesce);
Bytes encode_query_event_record(std::uint64_t id, std::uint64_t ltime, std::string_view name,
                                std::span<const std::uint8_t> payload);
// type: "ack" | "response" | "done"
Bytes encode_query_record(std::string_view type, std::string_view from,
                          std::optional<std::span<const std::uint8_t>> payload);
Bytes encode_log_record(std::string_view line);

// ---- what a client sends and reads (haserf's own RPC client) ----

Bytes encode_request_header(std::string_view command, std::uint64_t seq);
// The body of `command` from the fields of `body` that command uses.
Bytes encode_request_body(std::string_view command, const RequestBody& body);

struct ResponseHeader {
  std::uint64_t seq = 0;
  std::string error;
};
bool decode_response_header(std::span<const std::uint8_t> data, ResponseHeader& out,
                            std::string* err);
bool decode_members(std::span<const std::uint8_t> data, std::vector<RpcMember>& out,
                    std::string* err);
bool decode_join_response(std::span<const std::uint8_t> data, std::int32_t& num, std::string* err);
bool decode_coordinate_response(std::span<const std::uint8_t> data,
                                std::optional<RpcCoordinate>& out, std::string* err);
struct QueryRecord {
  std::string type, from;
  Bytes payload;
};
bool decode_key_response(std::span<const std::uint8_t> data, KeyResponse& out, std::string* err);
bool decode_stats(std::span<const std::uint8_t> data, std::map<std::string, StringMap>& out,
                  std::string* err);
bool decode_query_record(std::span<const std::uint8_t> data, QueryRecord& out, std::string* err);

}  // namespace haserf::wire::rpc
