// SPDX-License-Identifier: MIT
// UDP datagrams from anyone: the whole receive path (decrypt-less unwrap, CRC, LZW, compound,
// msgpack, memberlist state machine, serf delegate, membership table).
#include "fuzz/harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  haserf::fuzz::Node& node = haserf::fuzz::node_for_next_input();
  node.memberlist->handle_packet(node.peer, std::span<const std::uint8_t>(data, size));
  node.timers.advance_to(node.timers.now() + std::chrono::milliseconds(250));
  return 0;
}
