// SPDX-License-Identifier: MIT
// A predecessor's state, as the handover socket delivers it (core/net/handover.hpp): decoded,
// then imported into a fresh member that runs a few seconds of timers. Only a process of the
// same user can send it, but a broken predecessor must not take its successor down either.
#include "core/net/handover.hpp"
#include "fuzz/harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace haserf;
  net::HandoverState state;
  if (!net::decode_handover_state(std::span<const std::uint8_t>(data, size), state, nullptr)) {
    return 0;
  }
  fuzz::Node node([&](fuzz::Node& n) {
    n.serf->import_state(state.serf);
    n.memberlist->import_state(state.memberlist);
  });
  node.timers.advance_to(node.timers.now() + std::chrono::seconds(5));
  (void)net::encode_handover_state(
      net::HandoverState{node.memberlist->export_state(), node.serf->export_state(), state.keys});
  return 0;
}
