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
// on when at least one key is installed.
struct Keyring {
  std::vector<Bytes> keys;
  bool enabled() const { return !keys.empty(); }
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
