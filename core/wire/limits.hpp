// SPDX-License-Identifier: MIT
// Size and depth bounds applied to untrusted input by the wire layer (§2.6, §5.1, §9.3).
#pragma once

#include <cstddef>

namespace haserf::wire {

struct Limits {
  // §2.6: the largest UDP payload over IPv4; memberlist's receive buffer is 65,536.
  std::size_t max_datagram = 65507;
  // Output bound for one LZW layer inside a datagram. Go has none; 1 MiB is far above anything
  // a 64 KiB datagram legitimately expands to, and stops compression bombs.
  std::size_t max_udp_decompressed = 1 << 20;
  // Compound/compress layers allowed inside one datagram (Go recurses without a bound).
  int max_nesting = 4;
  // §2.6: memberlist caps encrypted stream payloads at 20 MiB; we apply the same bound to the
  // bytes buffered for any one stream message and to its decompressed size.
  std::size_t max_stream = 20u << 20;
  std::size_t max_stream_decompressed = 20u << 20;
  // Nesting depth of msgpack containers when skipping unknown values.
  int max_msgpack_depth = 32;
};

}  // namespace haserf::wire
