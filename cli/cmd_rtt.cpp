// SPDX-License-Identifier: MIT
// haserf rtt: the round trip time between two members estimated from their network
// coordinates, as `serf rtt` does, asked of the local agent over RPC.
#include <cstdio>

#include "cli/agent_options.hpp"
#include "cli/commands.hpp"
#include "core/coord/coordinate.hpp"

namespace haserf::cli {
namespace {

constexpr const char* kHelp =
    "usage: haserf rtt [--rpc-addr IP:PORT] NODE1 [NODE2]\n"
    "\n"
    "Prints the round trip time between NODE1 and NODE2 (default: the agent itself) that\n"
    "their Vivaldi network coordinates predict, as 'serf rtt' does. The coordinates come\n"
    "from the local agent (haserf agent or serf agent), which learns them from its probes.\n"
    "Exit 1 when a node has no coordinate yet.\n"
    "\n"
    "options:\n"
    "      --rpc-addr IP:PORT the agent's RPC address (default $HASERF_RPC_ADDR, else\n"
    "                         $SERF_RPC_ADDR, else 127.0.0.1:7373)\n"
    "      --rpc-auth KEY     the agent's RPC auth key\n";

}  // namespace

int cmd_rtt(int argc, char** argv) {
  Args args;
  std::string error;
  if (!args.parse(argc, argv, 2, rpc_option_specs(), error)) {
    std::fprintf(stderr, "haserf rtt: %s (see 'haserf rtt --help')\n", error.c_str());
    return kExitUsage;
  }
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  auto nodes = args.positional();
  if (nodes.empty() || nodes.size() > 2) {
    std::fprintf(stderr, "haserf rtt: one or two node names (see 'haserf rtt --help')\n");
    return kExitUsage;
  }
  rpc::Client client;
  if (!rpc_connect("rtt", args, client)) return kExitFailure;
  if (nodes.size() == 1) {
    std::map<std::string, wire::rpc::StringMap> stats;
    if (!client.stats(stats, &error)) {
      std::fprintf(stderr, "haserf rtt: error querying agent: %s\n", error.c_str());
      return kExitFailure;
    }
    nodes.push_back(stats["agent"]["name"]);
  }
  coord::Coordinate c[2];
  for (int i = 0; i < 2; ++i) {
    std::optional<wire::rpc::RpcCoordinate> got;
    if (!client.get_coordinate(nodes[i], got, &error)) {
      std::fprintf(stderr, "haserf rtt: error getting coordinates: %s\n", error.c_str());
      return kExitFailure;
    }
    if (!got) {
      std::fprintf(stderr, "haserf rtt: could not find a coordinate for node \"%s\"\n",
                   nodes[i].c_str());
      return kExitFailure;
    }
    c[i] = coord::Coordinate{got->vec, got->error, got->adjustment, got->height};
  }
  const auto d = coord::distance_to(c[0], c[1]);
  if (!d) {
    std::fprintf(stderr, "haserf rtt: the two coordinates are not comparable\n");
    return kExitFailure;
  }
  std::printf("Estimated %s <-> %s rtt: %.3f ms\n", nodes[0].c_str(), nodes[1].c_str(),
              std::chrono::duration<double, std::milli>(*d).count());
  return kExitOk;
}

}  // namespace haserf::cli
