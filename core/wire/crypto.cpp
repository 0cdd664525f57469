// SPDX-License-Identifier: MIT
#include "core/wire/crypto.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

namespace haserf::wire {
namespace {

bool set_err(std::string* err, std::string msg) {
  if (err) *err = std::move(msg);
  return false;
}

const EVP_CIPHER* cipher_for(std::size_t key_size) {
  switch (key_size) {
    case 16:
      return EVP_aes_128_gcm();
    case 24:
      return EVP_aes_192_gcm();
    case 32:
      return EVP_aes_256_gcm();
    default:
      return nullptr;
  }
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

int as_int(std::size_t n) {
  return static_cast<int>(n);
}

// AES-GCM of `in` into `out` (ciphertext then tag) or the reverse; false on any failure,
// including a tag mismatch.
bool gcm(bool enc, std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
         std::span<const std::uint8_t> in, std::span<const std::uint8_t> ad, std::uint8_t* out,
         std::uint8_t* tag) {
  const EVP_CIPHER* cipher = cipher_for(key.size());
  if (!cipher || nonce.size() != kNonceSize || in.size() > (1u << 30)) return false;
  Ctx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return false;
  auto init = enc ? EVP_EncryptInit_ex : EVP_DecryptInit_ex;
  auto update = enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;
  int len = 0;
  if (init(ctx.get(), cipher, nullptr, nullptr, nullptr) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, as_int(kNonceSize), nullptr) != 1) {
    return false;
  }
  if (init(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) != 1) return false;
  if (!ad.empty() && update(ctx.get(), nullptr, &len, ad.data(), as_int(ad.size())) != 1) {
    return false;
  }
  if (!in.empty() && update(ctx.get(), out, &len, in.data(), as_int(in.size())) != 1) {
    return false;
  }
  if (enc) {
    if (EVP_EncryptFinal_ex(ctx.get(), out + in.size(), &len) != 1) return false;
    return EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, as_int(kTagSize), tag) == 1;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, as_int(kTagSize), tag) != 1) {
    return false;
  }
  return EVP_DecryptFinal_ex(ctx.get(), out + in.size(), &len) == 1;
}

}  // namespace

bool valid_key_size(std::size_t n) {
  return n == 16 || n == 24 || n == 32;
}

bool parse_key_base64(std::string_view text, Bytes& key, std::string* err) {
  key.clear();
  // Standard alphabet with mandatory padding, like Go's base64.StdEncoding.
  if (text.empty() || text.size() % 4 != 0 || text.size() > 64) {
    return set_err(err, "key must be standard base64 of 16, 24 or 32 bytes");
  }
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::size_t pad = 0;
  if (text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t acc = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      const bool in_pad = i + 4 == text.size() && j >= 4 - pad;
      const int v = in_pad ? (c == '=' ? 0 : -1) : value(c);
      if (v < 0) return set_err(err, "invalid base64 in key");
      acc = (acc << 6) | static_cast<std::uint32_t>(v);
    }
    const std::size_t n = i + 4 == text.size() ? 3 - pad : 3;
    for (std::size_t j = 0; j < n; ++j)
      key.push_back(static_cast<std::uint8_t>(acc >> (16 - 8 * j)));
  }
  if (!valid_key_size(key.size())) {
    const std::size_t n = key.size();
    key.clear();
    return set_err(err, "key must be 16, 24 or 32 bytes, got " + std::to_string(n));
  }
  return true;
}

std::string key_to_base64(std::span<const std::uint8_t> key) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < key.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, key.size() - i);
    std::uint32_t acc = 0;
    for (std::size_t j = 0; j < 3; ++j) acc = (acc << 8) | (j < n ? key[i + j] : 0u);
    for (std::size_t j = 0; j < 4; ++j) {
      out.push_back(j <= n ? kAlphabet[(acc >> (18 - 6 * j)) & 63] : '=');
    }
  }
  return out;
}

bool encrypt(std::uint8_t version, std::span<const std::uint8_t> key,
             std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> plaintext,
             std::span<const std::uint8_t> additional, Bytes& out, std::string* err) {
  out.clear();
  if (version > kMaxEncryptionVersion) return set_err(err, "unsupported encryption version");
  if (!valid_key_size(key.size())) return set_err(err, "invalid key size");
  if (nonce.size() != kNonceSize) return set_err(err, "nonce must be 12 bytes");
  Bytes padded;
  if (version == 0) {
    // §9.2: always 1..16 bytes of padding, each equal to the pad length.
    const std::size_t pad = 16 - plaintext.size() % 16;
    padded.assign(plaintext.begin(), plaintext.end());
    padded.insert(padded.end(), pad, static_cast<std::uint8_t>(pad));
    plaintext = padded;
  }
  out.resize(1 + kNonceSize + plaintext.size() + kTagSize);
  out[0] = version;
  std::copy(nonce.begin(), nonce.end(), out.begin() + 1);
  std::uint8_t* ct = out.data() + 1 + kNonceSize;
  if (!gcm(true, key, nonce, plaintext, additional, ct, ct + plaintext.size())) {
    out.clear();
    return set_err(err, "AES-GCM encryption failed");
  }
  return true;
}

bool encrypt(std::span<const std::uint8_t> key, std::span<const std::uint8_t> plaintext,
             std::span<const std::uint8_t> additional, Bytes& out, std::string* err) {
  std::uint8_t nonce[kNonceSize];
  if (RAND_bytes(nonce, static_cast<int>(kNonceSize)) != 1) {
    out.clear();
    return set_err(err, "failed to generate a nonce");
  }
  return encrypt(1, key, nonce, plaintext, additional, out, err);
}

namespace {

// Checks version and size before any key is tried (memberlist's decryptPayload, §9.2).
bool check_payload(std::span<const std::uint8_t> payload, std::string* err) {
  if (payload.empty()) return set_err(err, "Cannot decrypt empty payload");
  if (payload[0] > kMaxEncryptionVersion) {
    return set_err(err, "Unsupported encryption version " + std::to_string(payload[0]));
  }
  const std::size_t min = payload[0] == 0 ? kMinEncryptedV0 : kMinEncryptedV1;
  if (payload.size() < min) {
    return set_err(err, "Payload is too small to decrypt: " + std::to_string(payload.size()));
  }
  return true;
}

bool decrypt_checked(std::span<const std::uint8_t> key, std::span<const std::uint8_t> payload,
                     std::span<const std::uint8_t> additional, Bytes& out) {
  out.clear();
  if (!valid_key_size(key.size())) return false;
  const auto nonce = payload.subspan(1, kNonceSize);
  const auto body = payload.subspan(1 + kNonceSize);
  const auto ct = body.first(body.size() - kTagSize);
  Bytes tag(body.end() - static_cast<std::ptrdiff_t>(kTagSize), body.end());
  out.resize(ct.size());
  if (!gcm(false, key, nonce, ct, additional, out.data(), tag.data())) {
    out.clear();
    return false;
  }
  if (payload[0] == 0) {
    // Version 0: strip the padding; Go strips `last byte` bytes unchecked, we refuse nonsense.
    const std::size_t pad = out.empty() ? 0 : out.back();
    if (out.empty() || pad > out.size()) {
      out.clear();
      return false;
    }
    out.resize(out.size() - pad);
  }
  return true;
}

}  // namespace

bool decrypt(std::span<const std::uint8_t> key, std::span<const std::uint8_t> payload,
             std::span<const std::uint8_t> additional, Bytes& out, std::string* err) {
  out.clear();
  if (!check_payload(payload, err)) return false;
  if (decrypt_checked(key, payload, additional, out)) return true;
  return set_err(err, "No installed keys could decrypt the message");
}

bool decrypt(const Keyring& keyring, std::span<const std::uint8_t> payload,
             std::span<const std::uint8_t> additional, Bytes& out, std::string* err) {
  out.clear();
  if (!check_payload(payload, err)) return false;
  for (const auto& key : keyring.keys) {
    if (decrypt_checked(key, payload, additional, out)) return true;
  }
  return set_err(err, "No installed keys could decrypt the message");
}

bool Keyring::contains(std::span<const std::uint8_t> key) const {
  return std::any_of(keys.begin(), keys.end(), [&](const Bytes& k) {
    return std::equal(k.begin(), k.end(), key.begin(), key.end());
  });
}

bool Keyring::add(std::span<const std::uint8_t> key, std::string* err) {
  if (!valid_key_size(key.size())) return set_err(err, "key size must be 16, 24 or 32 bytes");
  if (!contains(key)) keys.emplace_back(key.begin(), key.end());
  return true;
}

bool Keyring::use(std::span<const std::uint8_t> key, std::string* err) {
  const auto it = std::find_if(keys.begin(), keys.end(), [&](const Bytes& k) {
    return std::equal(k.begin(), k.end(), key.begin(), key.end());
  });
  if (it == keys.end()) return set_err(err, "Requested key is not in the keyring");
  std::rotate(keys.begin(), it, it + 1);
  return true;
}

bool Keyring::remove(std::span<const std::uint8_t> key, std::string* err) {
  if (!keys.empty() && std::equal(keys[0].begin(), keys[0].end(), key.begin(), key.end())) {
    return set_err(err, "Removing the primary key is not allowed");
  }
  std::erase_if(
      keys, [&](const Bytes& k) { return std::equal(k.begin(), k.end(), key.begin(), key.end()); });
  return true;
}

}  // namespace haserf::wire
