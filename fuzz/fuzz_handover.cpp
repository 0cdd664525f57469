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
  swim::TimerQueue timers{swim::TimePoint{} + std::chrono::hours(1), 1};
  table::MembershipTable table;
  fuzz::NullTransport transport;
  serf::Config sc;
  sc.node_name = "fuzz";
  sc.max_members = 2000;
  serf::Serf serf(sc, table, timers);
  swim::Config mc = swim::lan_config();
  mc.name = "fuzz";
  mc.advertise = swim::Address{{10, 0, 0, 1}, 7946};
  mc.max_nodes = 2000;
  swim::Memberlist memberlist(mc, serf, transport, timers);
  serf.attach(&memberlist);
  serf.import_state(state.serf);
  memberlist.import_state(state.memberlist);
  memberlist.start();
  timers.advance_to(timers.now() + std::chrono::seconds(5));
  (void)net::encode_handover_state(
      net::HandoverState{memberlist.export_state(), serf.export_state(), state.keys});
  memberlist.shutdown();
  return 0;
}
