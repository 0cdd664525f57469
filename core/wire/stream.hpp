// SPDX-License-Identifier: MIT
// TCP stream messages (§5.1): incremental reader and writer. A plaintext stream message has no
// length prefix: `type` + msgpack objects (+ raw bytes for push/pull and user streams), so the
// reader parses objects as they complete instead of waiting for EOF.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/wire/crypto.hpp"
#include "core/wire/limits.hpp"
#include "core/wire/messages.hpp"

namespace haserf::wire {

enum class StreamStatus { kNeedMore, kDone, kError };

// One decoded stream message; only the member matching `type` is filled.
struct StreamMessage {
  MsgType type = MsgType::kPing;
  PushPull push_pull;  // kPushPull
  Ping ping;           // kPing
  Ack ack;             // kAck
  ErrResp err;         // kErr
  Bytes user_msg;      // kUser: the UserMsgLen raw bytes after userMsgHeader (§5.5)
  // How it arrived, so a reply (or an errResp) can mirror the peer's settings.
  bool was_encrypted = false;
  bool was_compressed = false;
};

// Reads one stream message from bytes fed as they arrive. Layers (§5.1): optional `0a`
// encryption frame (required when `keyring` has keys, refused otherwise), optional `09`
// compress wrapper whose decompressed buffer is the whole inner message, then one of `06`
// pushPull, `00` ping, `02` ack, `0d` errResp, `08` user. The keyring must outlive the reader.
class StreamReader {
 public:
  explicit StreamReader(const Keyring* keyring = nullptr, const Limits& limits = {});

  // Appends received bytes. Returns false (and poll() reports kError) once more than
  // limits.max_stream bytes (plus the 5-byte frame header) have been buffered.
  bool feed(std::span<const std::uint8_t> data);
  // Parses as far as the buffered bytes allow. kDone and kError are final.
  StreamStatus poll();

  const StreamMessage& message() const { return msg_; }
  StreamMessage& message() { return msg_; }
  const std::string& error() const { return error_; }

 private:
  enum class Stage { kType, kPushHeader, kPushNodes, kPushUser, kBody, kUserHeader, kUserBody };

  StreamStatus fail(std::string e);
  StreamStatus parse_outer();
  // Parses a plaintext message from `data` (which may still grow), resuming where it stopped.
  StreamStatus parse_plain(std::span<const std::uint8_t> data);
  StreamStatus parse_complete(std::span<const std::uint8_t> data, bool allow_compress);

  const Keyring* keyring_;
  Limits limits_;
  Bytes buf_;
  StreamStatus status_ = StreamStatus::kNeedMore;
  std::string error_;
  StreamMessage msg_;
  // Plaintext parser progress.
  Stage stage_ = Stage::kType;
  std::size_t pos_ = 0;
  std::int64_t nodes_left_ = 0;
  std::int64_t raw_len_ = 0;
};

// What goes on the socket for one plaintext stream message (§5.1): LZW-compressed when
// `compress` (always, even if larger, as memberlist does on TCP), then framed as
// `0a` + u32 L + [1][nonce][ct+tag] with the 5 header bytes as additional data when the keyring
// has keys. Returns false on encryption failure.
bool encode_stream(std::span<const std::uint8_t> plain_message, bool compress,
                   const Keyring* keyring, Bytes& out, std::string* err = nullptr);
// Convenience form: empty on failure.
Bytes encode_stream(const Bytes& plain_message, bool compress, const Keyring* keyring);

}  // namespace haserf::wire
