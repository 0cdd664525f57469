// SPDX-License-Identifier: MIT
// UDP packet layers of memberlist 0.2.2 (§2): CRC header, compound, compress, encryption, and
// the receive / send pipelines that stack them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/wire/crypto.hpp"
#include "core/wire/limits.hpp"
#include "core/wire/messages.hpp"

namespace haserf::wire {

// CRC-32/IEEE (zlib's polynomial, Go crc32.ChecksumIEEE).
std::uint32_t crc32_ieee(std::span<const std::uint8_t> data);

// `0c` + crc32(msg) big-endian + msg (§2.2 step 2).
Bytes add_crc(std::span<const std::uint8_t> msg);

// Compound (§2.4): `07` N u16-lengths parts. Empty parts are skipped (a zero-length part crashes
// memberlist 0.2.2). Fails on more than 255 non-empty parts, a part over 65535 bytes, or no
// non-empty part at all.
bool encode_compound(const std::vector<Bytes>& parts, Bytes& out, std::string* err = nullptr);
// Splits a compound message (starting with `07`). Parts whose declared length runs past the
// data are dropped, as Go does; `truncated` says how many. Bytes after the last part are
// ignored.
bool decode_compound(std::span<const std::uint8_t> msg,
                     std::vector<std::span<const std::uint8_t>>& parts,
                     std::size_t* truncated = nullptr, std::string* err = nullptr);

// `09` + msgpack{Algo: 0, Buf: LZW(msg)} (§2.5).
Bytes compress_message(std::span<const std::uint8_t> msg);
// Inverse of compress_message for a message starting with `09`; output bounded by max_out.
bool decompress_message(std::span<const std::uint8_t> msg, Bytes& out, std::size_t max_out,
                        std::string* err = nullptr);

// Receive pipeline for one datagram (§2.2): decrypt when `keyring` has keys (every key, versions
// 0 and 1, empty additional data), then the top-level `0c` CRC check, then compound and compress
// unwrapped recursively (at most limits.max_nesting layers). Appends every complete message,
// each starting with its own type byte; empty messages are dropped; a `0c` below the top level
// is passed through as an ordinary (unsupported) message, as in Go.
// Returns false if the datagram as a whole is rejected (too large, undecryptable, CRC mismatch;
// then nothing is appended) or if some inner layer was malformed; in the latter case the intact
// messages are still appended, because Go also processes them. A truncated compound tail is
// tolerated (§2.4) and does not make the result false.
bool unwrap_datagram(std::span<const std::uint8_t> datagram, const Keyring* keyring,
                     std::vector<Bytes>& messages, std::string* err = nullptr,
                     const Limits& limits = {});

struct WrapOptions {
  bool crc = false;                  // add the `0c` header (gossip to nodes with PMax >= 5, §2.3)
  bool compress = false;             // LZW, kept only if it makes the packet smaller
  const Keyring* keyring = nullptr;  // encrypt with the primary key when it has keys
};

// Send pipeline (§2.3): one message as is, several as a compound (empty ones skipped), then
// compress, CRC, encrypt. Fails when there is nothing to send, the compound limits are exceeded,
// or encryption fails.
bool wrap_datagram(const std::vector<Bytes>& messages, const WrapOptions& opt, Bytes& out,
                   std::string* err = nullptr);
// Convenience form: empty result on failure.
Bytes wrap_datagram(const std::vector<Bytes>& messages, const WrapOptions& opt);

}  // namespace haserf::wire
