// SPDX-License-Identifier: MIT
#include "core/render/value_safety.hpp"

namespace haserf::render {

bool is_safe_var_value(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace haserf::render
