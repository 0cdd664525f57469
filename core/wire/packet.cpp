// SPDX-License-Identifier: MIT
#include "core/wire/packet.hpp"

#include <zlib.h>

#include <algorithm>

#include "core/wire/codec.hpp"
#include "core/wire/lzw.hpp"

namespace haserf::wire {
namespace {

constexpr auto kCompound = static_cast<std::uint8_t>(MsgType::kCompound);
constexpr auto kCompressType = static_cast<std::uint8_t>(MsgType::kCompress);
constexpr auto kHasCrc = static_cast<std::uint8_t>(MsgType::kHasCrc);

bool set_err(std::string* err, std::string msg) {
  if (err) *err = std::move(msg);
  return false;
}

struct UnwrapState {
  const Limits& limits;
  std::size_t budget;  // decompressed bytes still allowed for this datagram
  std::vector<Bytes>& out;
  std::string first_error;
  void error(std::string e) {
    if (first_error.empty()) first_error = std::move(e);
  }
};

// Dispatches one message: compound and compress are opened recursively (§2.2 step 3).
void unwrap_message(std::span<const std::uint8_t> msg, int depth, UnwrapState& st) {
  if (msg.empty()) return;  // an empty message carries nothing (and crashes Go 0.2.2)
  if (msg[0] != kCompound && msg[0] != kCompressType) {
    st.out.emplace_back(msg.begin(), msg.end());
    return;
  }
  if (depth >= st.limits.max_nesting) {
    st.error("compound/compress nesting deeper than " + std::to_string(st.limits.max_nesting));
    return;
  }
  if (msg[0] == kCompound) {
    std::vector<std::span<const std::uint8_t>> parts;
    std::string e;
    if (!decode_compound(msg, parts, nullptr, &e)) {
      st.error(e);
      return;
    }
    for (const auto& p : parts) unwrap_message(p, depth + 1, st);
    return;
  }
  Bytes inner;
  std::string e;
  if (!decompress_message(msg, inner, st.budget, &e)) {
    st.error(e);
    return;
  }
  st.budget -= inner.size();
  unwrap_message(inner, depth + 1, st);
}

}  // namespace

std::uint32_t crc32_ieee(std::span<const std::uint8_t> data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; feed in chunks so any size works.
  std::size_t off = 0;
  while (off < data.size()) {
    const std::size_t n = std::min<std::size_t>(data.size() - off, 1u << 30);
    crc = crc32(crc, data.data() + off, static_cast<uInt>(n));
    off += n;
  }
  return static_cast<std::uint32_t>(crc);
}

Bytes add_crc(std::span<const std::uint8_t> msg) {
  // Sized once, then filled: reserve + push_back + insert here makes GCC 14 report a false
  // -Wfree-nonheap-object.
  Bytes out(5 + msg.size());
  const std::uint32_t crc = crc32_ieee(msg);
  out[0] = kHasCrc;
  for (int i = 0; i < 4; ++i) out[1 + i] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
  std::copy(msg.begin(), msg.end(), out.begin() + 5);
  return out;
}

bool encode_compound(const std::vector<Bytes>& parts, Bytes& out, std::string* err) {
  out.clear();
  std::size_t n = 0;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (p.size() > 0xffff) return set_err(err, "compound part larger than 65535 bytes");
    ++n;
  }
  if (n == 0) return set_err(err, "compound with no non-empty part");
  // memberlist 0.2.2 multiplies the part count as a uint8: 128 parts or more crash it.
  if (n > 127) return set_err(err, "compound with more than 127 parts");
  out.push_back(kCompound);
  out.push_back(static_cast<std::uint8_t>(n));
  for (const auto& p : parts) {
    if (p.empty()) continue;
    out.push_back(static_cast<std::uint8_t>(p.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(p.size()));
  }
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return true;
}

bool decode_compound(std::span<const std::uint8_t> msg,
                     std::vector<std::span<const std::uint8_t>>& parts, std::size_t* truncated,
                     std::string* err) {
  parts.clear();
  if (truncated) *truncated = 0;
  if (msg.empty() || msg[0] != kCompound) return set_err(err, "not a compound message");
  if (msg.size() < 2) return set_err(err, "missing compound length byte");
  const std::size_t n = msg[1];
  if (msg.size() < 2 + 2 * n) return set_err(err, "truncated compound length slice");
  std::size_t off = 2 + 2 * n;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t len = (std::size_t{msg[2 + 2 * i]} << 8) | msg[3 + 2 * i];
    if (msg.size() - off < len) {
      // §2.4: the complete parts are processed and the truncated tail ignored.
      if (truncated) *truncated = n - i;
      break;
    }
    parts.push_back(msg.subspan(off, len));
    off += len;
  }
  return true;
}

Bytes compress_message(std::span<const std::uint8_t> msg) {
  Compress c;
  c.Algo = 0;
  c.Buf = lzw_compress(msg);
  return message(MsgType::kCompress, c);
}

bool decompress_message(std::span<const std::uint8_t> msg, Bytes& out, std::size_t max_out,
                        std::string* err) {
  out.clear();
  if (msg.empty() || msg[0] != kCompressType) return set_err(err, "not a compress message");
  Compress c;
  if (!decode(msg.subspan(1), c, err)) return false;
  if (c.Algo != 0) {
    return set_err(err, "Cannot decompress unknown algorithm " + std::to_string(c.Algo));
  }
  return lzw_decompress(c.Buf, out, max_out, err);
}

bool unwrap_datagram(std::span<const std::uint8_t> datagram, const Keyring* keyring,
                     std::vector<Bytes>& messages, std::string* err, const Limits& limits) {
  if (datagram.size() > limits.max_datagram) {
    return set_err(err, "datagram of " + std::to_string(datagram.size()) + " bytes is too large");
  }
  Bytes plain;
  std::span<const std::uint8_t> buf = datagram;
  if (keyring && keyring->enabled()) {
    // §9.3: the whole datagram is [vsn][nonce][ct+tag]; additional data is empty in 0.2.2.
    if (!decrypt(*keyring, datagram, {}, plain, err)) return false;
    buf = plain;
  }
  if (!buf.empty() && buf[0] == kHasCrc) {
    // §2.2 step 2: only recognised at the outermost plaintext layer.
    if (buf.size() < 5) return set_err(err, "hasCrc message too short");
    const std::uint32_t want = (std::uint32_t{buf[1]} << 24) | (std::uint32_t{buf[2]} << 16) |
                               (std::uint32_t{buf[3]} << 8) | buf[4];
    buf = buf.subspan(5);
    if (crc32_ieee(buf) != want) return set_err(err, "CRC mismatch, dropping datagram");
  }
  UnwrapState st{limits, limits.max_udp_decompressed, messages, {}};
  unwrap_message(buf, 0, st);
  if (st.first_error.empty()) return true;
  return set_err(err, st.first_error);
}

bool wrap_datagram(const std::vector<Bytes>& messages, const WrapOptions& opt, Bytes& out,
                   std::string* err) {
  out.clear();
  std::size_t non_empty = 0;
  const Bytes* only = nullptr;
  for (const auto& m : messages) {
    if (m.empty()) continue;
    ++non_empty;
    only = &m;
  }
  if (non_empty == 0) return set_err(err, "nothing to send");
  Bytes packet;
  if (non_empty == 1) {
    packet = *only;
  } else if (!encode_compound(messages, packet, err)) {
    return false;
  }
  if (opt.compress) {
    // §2.3 step 3: UDP packets are compressed only when that makes them smaller.
    Bytes c = compress_message(packet);
    if (c.size() < packet.size()) packet = std::move(c);
  }
  if (opt.crc) packet = add_crc(packet);
  if (opt.keyring && opt.keyring->enabled()) {
    return encrypt(opt.keyring->keys.front(), packet, {}, out, err);
  }
  out = std::move(packet);
  return true;
}

Bytes wrap_datagram(const std::vector<Bytes>& messages, const WrapOptions& opt) {
  Bytes out;
  wrap_datagram(messages, opt, out, nullptr);
  return out;
}

}  // namespace haserf::wire
