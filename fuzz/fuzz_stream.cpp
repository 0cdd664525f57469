// SPDX-License-Identifier: MIT
// TCP streams from anyone: incremental framing (encryption off), LZW, push/pull decoding, and
// the state machine's stream handling. Bytes arrive in two chunks to exercise resumption.
#include "fuzz/harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  haserf::fuzz::Node& node = haserf::fuzz::node_for_next_input();
  haserf::wire::StreamReader reader;
  const std::size_t half = size / 2;
  reader.feed(std::span<const std::uint8_t>(data, half));
  auto status = reader.poll();
  if (status == haserf::wire::StreamStatus::kNeedMore) {
    reader.feed(std::span<const std::uint8_t>(data + half, size - half));
    status = reader.poll();
  }
  if (status == haserf::wire::StreamStatus::kDone) {
    (void)node.memberlist->handle_stream(node.peer, reader.message());
  }
  node.timers.advance_to(node.timers.now() + std::chrono::milliseconds(250));
  return 0;
}
