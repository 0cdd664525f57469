// SPDX-License-Identifier: MIT
// AES-GCM framing of memberlist (§9): [version u8][12-byte nonce][ciphertext + 16-byte tag].
// Version 1 encrypts the plaintext as is; version 0 (memberlist protocol 1) pads it PKCS#7-style
// to a multiple of 16 first. Additional data: empty for UDP, the 5-byte `0a L L L L` stream
// header for TCP (§9.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/wire/messages.hpp"

namespace haserf::wire {

// Ordered keys; the first one is primary and the only one used to encrypt (§9.1). Encryption is
// on when at least one key is installed. The operations behave as memberlist's Keyring; their
// error texts are memberlist 0.2.2's (serf 0.9.4; 0.5 lowercases two of them), which
// `serf keys` prints per node. Not thread-safe: one owner (core/net: the loop thread) uses it.
struct Keyring {
  std::vector<Bytes> keys;
  bool enabled() const { return !keys.empty(); }
  const Bytes* primary() const { return keys.empty() ? nullptr : &keys.front(); }
  bool contains(std::span<const std::uint8_t> key) const;
  // Appends a new key (the primary if it is the first); an installed key is a no-op.
  bool add(std::span<const std::uint8_t> key, std::string* err = nullptr);
  // Makes an installed key primary; the others keep their order.
  bool use(std::span<const std::uint8_t> key, std::string* err = nullptr);
  // Removes a secondary key; an unknown key is a no-op, the primary is refused.
  bool remove(std::span<const std::uint8_t> key, std::string* err = nullptr);
};

inline constexpr std::size_t kNonceSize = 12;
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::uint8_t kMaxEncryptionVersion = 1;
// Smallest valid payloads (§9.2): version 1 adds 29 bytes, version 0 at least 45.
inline constexpr std::size_t kMinEncryptedV1 = 1 + kNonceSize + kTagSize;
inline constexpr std::size_t kMinEncryptedV0 = kMinEncryptedV1 + 16;

// AES-128/192/256 only.
bool valid_key_size(std::size_t n);

// Parses a `serf agent -encrypt` key: standard base64 with padding of a 16, 24 or 32 byte key.
bool parse_key_base64(std::string_view text, Bytes& key, std::string* err = nullptr);
std::string key_to_base64(std::span<const std::uint8_t> key);

// Encrypts with a fresh random nonce (RAND_bytes), version 1.
bool encrypt(std::span<const std::uint8_t> key, std::span<const std::uint8_t> plaintext,
             std::span<const std::uint8_t> additional, Bytes& out, std::string* err = nullptr);
// Deterministic variant for test vectors: explicit version (0 or 1) and 12-byte nonce.
bool encrypt(std::uint8_t version, std::span<const std::uint8_t> key,
             std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> plaintext,
             std::span<const std::uint8_t> additional, Bytes& out, std::string* err = nullptr);

// Decrypts version 0 or 1 with one key.
bool decrypt(std::span<const std::uint8_t> key, std::span<const std::uint8_t> payload,
             std::span<const std::uint8_t> additional, Bytes& out, std::string* err = nullptr);
// Tries every key in order, as memberlist does; errors use memberlist's wording
// ("No installed keys could decrypt the message").
bool decrypt(const Keyring& keyring, std::span<const std::uint8_t> payload,
             std::span<const std::uint8_t> additional, Bytes& out, std::string* err = nullptr);

}  // namespace haserf::wire
