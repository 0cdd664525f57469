// SPDX-License-Identifier: MIT
// `haserf render -m FILE` input.
#include <string_view>

#include "core/table/members_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)haserf::table::parse_members_json(
      std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  return 0;
}
