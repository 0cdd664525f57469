// SPDX-License-Identifier: MIT
// haserf: render HAProxy configs from Serf membership, and be a Serf member.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "core/wire/messages.hpp"

namespace {

constexpr const char* kUsage =
    "usage: haserf <command> [options]\n"
    "\n"
    "commands:\n"
    "  render    render a mustache template from cluster members (serf JSON or live)\n"
    "  members   print the cluster's members (from the local agent, or --join)\n"
    "  agent     run a Serf member (serf agent's stand-in, with serf's RPC protocol)\n"
    "  event     send a user event (through the local agent, or --join)\n"
    "  query     send a query, print acks and responses (through the local agent, or --join)\n"
    "  rtt       estimated round trip time between two members (from their coordinates)\n"
    "  keys      install, use, remove or list gossip keys on every member (like serf keys)\n"
    "  version   print the version\n"
    "\n"
    "Run 'haserf <command> --help' for the options of a command.\n";

}  // namespace

namespace haserf {
extern const char* const kBuildCommit;  // generated: cmake/version_info.cmake
}

int main(int argc, char** argv) {
  using namespace haserf::cli;
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (cmd == "version" || cmd == "--version") {
      // serf prints its protocol range the same way ("Agent Protocol: 5 (Understands back
      // to: 2)"); ours comes from the Vsn we gossip.
      const auto& v = haserf::wire::kOurVsn;
      std::printf(
          "haserf %s (commit %s)\n"
          "serf protocol %d (understands back to %d, up to %d), memberlist protocol %d "
          "(understands back to %d, up to %d)\n",
          HASERF_VERSION, haserf::kBuildCommit, v[5], v[3], v[4], v[2], v[0], v[1]);
      return kExitOk;
    }
    if (cmd == "render") return cmd_render(argc, argv);
    if (cmd == "members") return cmd_members(argc, argv);
    if (cmd == "agent") return cmd_agent(argc, argv);
    if (cmd == "event") return cmd_event(argc, argv);
    if (cmd == "query") return cmd_query(argc, argv);
    if (cmd == "keys") return cmd_keys(argc, argv);
    if (cmd == "rtt") return cmd_rtt(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "haserf %s: internal error: %s\n", cmd.c_str(), e.what());
    return kExitFailure;
  }
  const std::string near = nearest_name(
      cmd, {"render", "members", "agent", "event", "query", "keys", "rtt", "version", "help"});
  if (!near.empty()) {
    std::fprintf(stderr, "haserf: unknown command '%s' (did you mean '%s'?)\n", cmd.c_str(),
                 near.c_str());
    return kExitUsage;
  }
  std::fprintf(stderr, "haserf: unknown command '%s'\n%s", cmd.c_str(), kUsage);
  return kExitUsage;
}
