// SPDX-License-Identifier: MIT
// LZW exactly as Go's compress/lzw with order=LSB, litWidth=8 (§2.5): memberlist's only
// compression algorithm. Codes 0-255 literals, 256 clear, 257 end-of-information; 9 to 12 bit
// codes packed LSB-first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/wire/messages.hpp"

namespace haserf::wire {

// Byte-identical to the Go 1.19 writer: leading clear code, greedy longest match, a clear code
// (at 12 bits) whenever the next code would be 4095, then the pending code, EOI and one
// zero-padded final byte.
Bytes lzw_compress(std::span<const std::uint8_t> in);

// Decodes with or without a leading clear code (Go < 1.17 omitted it), handles KwKwK, stops
// adding entries when the table is full, and requires the EOI code (Go reports a missing one as
// unexpected EOF). Fails instead of producing more than `max_out` bytes. Bytes after EOI are
// ignored.
bool lzw_decompress(std::span<const std::uint8_t> in, Bytes& out, std::size_t max_out,
                    std::string* err = nullptr);

}  // namespace haserf::wire
