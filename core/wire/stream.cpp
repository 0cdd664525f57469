// SPDX-License-Identifier: MIT
#include "core/wire/stream.hpp"

#include "core/wire/codec.hpp"
#include "core/wire/msgpack_reader.hpp"
#include "core/wire/packet.hpp"

namespace haserf::wire {
namespace {

constexpr auto kEncrypt = static_cast<std::uint8_t>(MsgType::kEncrypt);
constexpr auto kCompressType = static_cast<std::uint8_t>(MsgType::kCompress);
constexpr std::size_t kFrameHeader = 5;  // 0a + u32 length

}  // namespace

StreamReader::StreamReader(const Keyring* keyring, const Limits& limits)
    : keyring_(keyring), limits_(limits) {}

StreamStatus StreamReader::fail(std::string e) {
  error_ = std::move(e);
  status_ = StreamStatus::kError;
  return status_;
}

bool StreamReader::feed(std::span<const std::uint8_t> data) {
  if (status_ != StreamStatus::kNeedMore) return status_ != StreamStatus::kError;
  if (data.size() > limits_.max_stream + kFrameHeader - buf_.size()) {
    fail("stream message larger than " + std::to_string(limits_.max_stream) + " bytes");
    return false;
  }
  buf_.insert(buf_.end(), data.begin(), data.end());
  return true;
}

StreamStatus StreamReader::poll() {
  if (status_ != StreamStatus::kNeedMore) return status_;
  status_ = parse_outer();
  return status_;
}

StreamStatus StreamReader::parse_outer() {
  if (buf_.empty()) return StreamStatus::kNeedMore;
  const bool encryption = keyring_ && keyring_->enabled();
  if (buf_[0] == kEncrypt) {
    // §5.1 reading step 2; error texts follow memberlist so they can be sent back as errResp.
    if (!encryption) return fail("Remote state is encrypted and encryption is not configured");
    if (buf_.size() < kFrameHeader) return StreamStatus::kNeedMore;
    const std::uint32_t len = (std::uint32_t{buf_[1]} << 24) | (std::uint32_t{buf_[2]} << 16) |
                              (std::uint32_t{buf_[3]} << 8) | buf_[4];
    if (len > limits_.max_stream) {
      return fail("Remote node state is larger than limit (" + std::to_string(len) + ")");
    }
    if (buf_.size() < kFrameHeader + len) return StreamStatus::kNeedMore;
    const std::span<const std::uint8_t> all(buf_);
    Bytes plain;
    std::string e;
    if (!decrypt(*keyring_, all.subspan(kFrameHeader, len), all.first(kFrameHeader), plain, &e)) {
      return fail(e);
    }
    msg_.was_encrypted = true;
    return parse_complete(plain, true);
  }
  if (encryption) return fail("Encryption is configured but remote state is not encrypted");
  if (buf_[0] == kCompressType) {
    std::size_t len = 0;
    const auto scan = mp::scan_object(std::span<const std::uint8_t>(buf_).subspan(1), len,
                                      limits_.max_msgpack_depth);
    if (scan == mp::Scan::kIncomplete) return StreamStatus::kNeedMore;
    if (scan == mp::Scan::kError) return fail("malformed compress message");
    return parse_complete(std::span<const std::uint8_t>(buf_).first(1 + len), true);
  }
  return parse_plain(buf_);
}

StreamStatus StreamReader::parse_complete(std::span<const std::uint8_t> data, bool allow_compress) {
  if (!data.empty() && data[0] == kCompressType && allow_compress) {
    Bytes inner;
    std::string e;
    if (!decompress_message(data, inner, limits_.max_stream_decompressed, &e)) return fail(e);
    msg_.was_compressed = true;
    return parse_complete(inner, false);
  }
  const StreamStatus s = parse_plain(data);
  if (s == StreamStatus::kNeedMore) return fail("truncated stream message");
  return s;
}

StreamStatus StreamReader::parse_plain(std::span<const std::uint8_t> data) {
  while (true) {
    if (stage_ == Stage::kType) {
      if (data.empty()) return StreamStatus::kNeedMore;
      msg_.type = static_cast<MsgType>(data[0]);
      pos_ = 1;
      switch (msg_.type) {
        case MsgType::kPushPull:
          stage_ = Stage::kPushHeader;
          break;
        case MsgType::kUser:
          stage_ = Stage::kUserHeader;
          break;
        case MsgType::kPing:
        case MsgType::kAck:
        case MsgType::kErr:
          stage_ = Stage::kBody;
          break;
        default:
          return fail("unsupported stream message type " + std::to_string(data[0]));
      }
      continue;
    }
    if (stage_ == Stage::kPushUser || stage_ == Stage::kUserBody) {
      // Raw bytes after the msgpack objects (§5.2, §5.5).
      const auto need = static_cast<std::size_t>(raw_len_);
      if (data.size() - pos_ < need) return StreamStatus::kNeedMore;
      Bytes& dst = stage_ == Stage::kPushUser ? msg_.push_pull.UserState : msg_.user_msg;
      dst.assign(data.begin() + static_cast<std::ptrdiff_t>(pos_),
                 data.begin() + static_cast<std::ptrdiff_t>(pos_ + need));
      pos_ += need;
      return StreamStatus::kDone;
    }
    // Every other stage reads exactly one msgpack object.
    std::size_t len = 0;
    const auto scan = mp::scan_object(data.subspan(pos_), len, limits_.max_msgpack_depth);
    if (scan == mp::Scan::kIncomplete) return StreamStatus::kNeedMore;
    if (scan == mp::Scan::kError) return fail("malformed msgpack in stream message");
    const auto obj = data.subspan(pos_, len);
    pos_ += len;
    std::string e;
    switch (stage_) {
      case Stage::kBody: {
        bool ok = false;
        if (msg_.type == MsgType::kPing) ok = decode(obj, msg_.ping, &e);
        if (msg_.type == MsgType::kAck) ok = decode(obj, msg_.ack, &e);
        if (msg_.type == MsgType::kErr) ok = decode(obj, msg_.err, &e);
        return ok ? StreamStatus::kDone : fail(e);
      }
      case Stage::kPushHeader: {
        PushPullHeader h;
        if (!decode(obj, h, &e)) return fail(e);
        // Each node state is at least one byte, so counts beyond the stream bound are lies.
        const auto max = static_cast<std::int64_t>(limits_.max_stream);
        if (h.Nodes < 0 || h.Nodes > max || h.UserStateLen < 0 || h.UserStateLen > max) {
          return fail("bad push/pull header (Nodes " + std::to_string(h.Nodes) + ", UserStateLen " +
                      std::to_string(h.UserStateLen) + ")");
        }
        msg_.push_pull.Join = h.Join;
        nodes_left_ = h.Nodes;
        raw_len_ = h.UserStateLen;
        stage_ = nodes_left_ > 0 ? Stage::kPushNodes : Stage::kPushUser;
        continue;
      }
      case Stage::kPushNodes: {
        PushNodeState n;
        if (!decode(obj, n, &e)) return fail(e);
        msg_.push_pull.Nodes.push_back(std::move(n));
        if (--nodes_left_ == 0) stage_ = Stage::kPushUser;
        continue;
      }
      case Stage::kUserHeader: {
        UserMsgHeader h;
        if (!decode(obj, h, &e)) return fail(e);
        if (h.UserMsgLen < 0 || h.UserMsgLen > static_cast<std::int64_t>(limits_.max_stream)) {
          return fail("bad user message length " + std::to_string(h.UserMsgLen));
        }
        raw_len_ = h.UserMsgLen;
        stage_ = Stage::kUserBody;
        continue;
      }
      default:
        return fail("internal stream parser error");
    }
  }
}

bool encode_stream(std::span<const std::uint8_t> plain_message, bool compress,
                   const Keyring* keyring, Bytes& out, std::string* err) {
  out.clear();
  Bytes msg = compress ? compress_message(plain_message)
                       : Bytes(plain_message.begin(), plain_message.end());
  if (!keyring || !keyring->enabled()) {
    out = std::move(msg);
    return true;
  }
  // §9.3: L covers version, nonce, ciphertext and tag; the 5 header bytes are the AD.
  const std::size_t len = kMinEncryptedV1 + msg.size();
  if (len > 0xffffffffu) {
    if (err) *err = "stream message too large to encrypt";
    return false;
  }
  Bytes header{kEncrypt, static_cast<std::uint8_t>(len >> 24), static_cast<std::uint8_t>(len >> 16),
               static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)};
  Bytes sealed;
  if (!encrypt(keyring->keys.front(), msg, header, sealed, err)) return false;
  out = std::move(header);
  out.insert(out.end(), sealed.begin(), sealed.end());
  return true;
}

Bytes encode_stream(const Bytes& plain_message, bool compress, const Keyring* keyring) {
  Bytes out;
  encode_stream(plain_message, compress, keyring, out, nullptr);
  return out;
}

}  // namespace haserf::wire
