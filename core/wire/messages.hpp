// SPDX-License-Identifier: MIT
// Plain structs for every memberlist 0.2.2 and serf 0.9.4 message haserf reads or writes.
// Field names follow the Go struct field names (they are the msgpack map keys on the wire).
// Layout and meaning: docs/serf-wire-protocol.md §3 (memberlist) and §7.3 (serf).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace haserf::wire {

using Bytes = std::vector<std::uint8_t>;

// memberlist message type byte (§2.1).
enum class MsgType : std::uint8_t {
  kPing = 0,
  kIndirectPing = 1,
  kAck = 2,
  kSuspect = 3,
  kAlive = 4,
  kDead = 5,
  kPushPull = 6,
  kCompound = 7,
  kUser = 8,
  kCompress = 9,
  kEncrypt = 10,
  kNack = 11,
  kHasCrc = 12,
  kErr = 13,
};

// memberlist node state in push/pull (pushNodeState.State).
enum class NodeState : std::uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };

// The 6-byte version vector [PMin, PMax, PCur, DMin, DMax, DCur] (§3.1).
inline const Bytes kOurVsn = {1, 5, 2, 2, 5, 5};

struct Ping {
  std::uint32_t SeqNo = 0;
  std::string Node;  // target name; empty = anyone
  Bytes SourceAddr;  // omitempty
  std::uint16_t SourcePort = 0;
  std::string SourceNode;
};

struct IndirectPing {
  std::uint32_t SeqNo = 0;
  Bytes Target;
  std::uint16_t Port = 0;
  std::string Node;
  bool Nack = false;
  Bytes SourceAddr;
  std::uint16_t SourcePort = 0;
  std::string SourceNode;
};

struct Ack {
  std::uint32_t SeqNo = 0;
  std::optional<Bytes> Payload;  // nil when absent
};

struct Nack {
  std::uint32_t SeqNo = 0;
};

struct Suspect {
  std::uint32_t Incarnation = 0;
  std::string Node;
  std::string From;
};

struct Alive {
  std::uint32_t Incarnation = 0;
  std::string Node;
  Bytes Addr;
  std::uint16_t Port = 0;
  std::optional<Bytes> Meta;  // nil allowed
  Bytes Vsn;                  // empty = missing on the wire
};

struct Dead {
  std::uint32_t Incarnation = 0;
  std::string Node;
  std::string From;  // From == Node: graceful leave
};

struct ErrResp {
  std::string Error;
};

struct PushPullHeader {
  std::int64_t Nodes = 0;
  std::int64_t UserStateLen = 0;
  bool Join = false;
};

struct PushNodeState {
  std::string Name;
  Bytes Addr;
  std::uint16_t Port = 0;
  Bytes Meta;
  std::uint32_t Incarnation = 0;
  NodeState State = NodeState::kAlive;
  Bytes Vsn;
};

// A whole push/pull body: header, node states, raw user (serf) state.
struct PushPull {
  bool Join = false;
  std::vector<PushNodeState> Nodes;
  Bytes UserState;
};

// ---- serf (§7) ----

enum class SerfMsgType : std::uint8_t {
  kLeave = 0,
  kJoin = 1,
  kPushPull = 2,
  kUserEvent = 3,
  kQuery = 4,
  kQueryResponse = 5,
  kConflictResponse = 6,
  kKeyRequest = 7,
  kKeyResponse = 8,
  kRelay = 9,
};

struct SerfJoin {
  std::uint64_t LTime = 0;
  std::string Node;
};

struct SerfLeave {
  std::uint64_t LTime = 0;
  std::string Node;
  bool Prune = false;
};

struct SerfUserEvent {
  std::uint64_t LTime = 0;
  std::string Name;
  Bytes Payload;
  bool CC = false;
};

// One slot of serf's event ring as carried in push/pull.
struct SerfUserEvents {
  std::uint64_t LTime = 0;
  std::vector<std::pair<std::string, Bytes>> Events;  // (Name, Payload)
};

struct SerfPushPull {
  std::uint64_t LTime = 0;
  std::map<std::string, std::uint64_t> StatusLTimes;
  std::vector<std::string> LeftMembers;
  std::uint64_t EventLTime = 0;
  std::vector<std::optional<SerfUserEvents>> Events;  // nil slots allowed
  std::uint64_t QueryLTime = 0;
};

struct SerfQuery {
  std::uint64_t LTime = 0;
  std::uint32_t ID = 0;
  Bytes Addr;
  std::uint16_t Port = 0;
  std::string SourceNode;
  std::vector<Bytes> Filters;  // encoded as nil when empty
  std::uint32_t Flags = 0;     // 1 = ack requested, 2 = no re-broadcast
  std::uint8_t RelayFactor = 0;
  std::int64_t Timeout = 0;  // nanoseconds
  std::string Name;
  std::optional<Bytes> Payload;
};

// serf relayHeader (type 9): where a relaying member must send the message that follows it.
// DestAddr is a Go net.UDPAddr {IP, Port, Zone}.
struct SerfRelayHeader {
  Bytes DestIP;
  std::uint16_t DestPort = 0;
  std::string DestZone;
  std::string DestName;
};

struct SerfQueryResponse {
  std::uint64_t LTime = 0;
  std::uint32_t ID = 0;
  std::string From;
  std::uint32_t Flags = 0;  // 1 = this is an ack
  std::optional<Bytes> Payload;
};

using Tags = std::map<std::string, std::string>;

// ---- framing structs (§3, §2.5, §5.5) ----

// TCP user stream header: `08` + userMsgHeader + UserMsgLen raw bytes.
struct UserMsgHeader {
  std::int64_t UserMsgLen = 0;
};

// Body of a `09` compress message; Algo 0 = LZW is the only algorithm defined.
struct Compress {
  std::uint8_t Algo = 0;
  Bytes Buf;
};

}  // namespace haserf::wire
