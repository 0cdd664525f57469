// SPDX-License-Identifier: MIT
// Shared plumbing for codec_memberlist.cpp and codec_serf.cpp. Internal to core/wire.
#pragma once

#include <string>
#include <string_view>

#include "core/wire/codec.hpp"
#include "core/wire/msgpack_reader.hpp"
#include "core/wire/msgpack_writer.hpp"

namespace haserf::wire::detail {

// Runs `read(reader, out)` over `body` with `out` reset, prefixing errors with `what`.
template <typename T, typename ReadFn>
bool decode_with(ByteSpan body, T& out, std::string* err, std::string_view what, ReadFn read) {
  out = T{};
  mp::Reader r(body);
  if (read(r, out)) return true;
  if (err) {
    *err = std::string(what) + ": " + (r.error().empty() ? "malformed msgpack" : r.error());
  }
  out = T{};
  return false;
}

template <typename WriteFn>
Bytes encode_with(WriteFn write) {
  Bytes out;
  mp::Writer w(out);
  write(w);
  return out;
}

}  // namespace haserf::wire::detail
