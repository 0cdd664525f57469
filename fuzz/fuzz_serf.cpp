// SPDX-License-Identifier: MIT
// Serf user messages and push/pull user state, straight into the serf layer.
#include "fuzz/harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  haserf::fuzz::Node& node = haserf::fuzz::node_for_next_input();
  const std::span<const std::uint8_t> bytes(data, size);
  if (size > 0 && (data[0] & 1)) {
    node.serf->merge_remote_state(bytes.subspan(1), (data[0] & 2) != 0);
  } else {
    node.serf->notify_msg(bytes);
  }
  node.timers.advance_to(node.timers.now() + std::chrono::milliseconds(250));
  return 0;
}
