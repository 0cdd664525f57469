// SPDX-License-Identifier: MIT
// Helpers shared by the wire tests.
#pragma once

#include <sstream>
#include <string>

#include "core/wire/messages.hpp"

namespace haserf::wire {

// "0a 0b ff" -> bytes, as the spec writes its vectors.
inline Bytes hex(const std::string& s) {
  Bytes out;
  std::istringstream in(s);
  std::string tok;
  while (in >> tok) out.push_back(static_cast<std::uint8_t>(std::stoul(tok, nullptr, 16)));
  return out;
}

}  // namespace haserf::wire
