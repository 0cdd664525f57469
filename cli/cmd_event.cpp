// SPDX-License-Identifier: MIT
// haserf event: one user event, sent by the local agent (RPC) or by a short-lived member.
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "cli/agent_options.hpp"
#include "cli/commands.hpp"

namespace haserf::cli {
namespace {

constexpr const char* kHelp =
    "usage: haserf event [--rpc-addr IP:PORT | --join IP[:PORT]] [--coalesce] NAME [PAYLOAD]\n"
    "\n"
    "Sends a Serf user event, like 'serf event': through the local agent over RPC, or with\n"
    "--join as a short-lived member that waits until the event was gossiped, then leaves.\n"
    "\n"
    "options:\n"
    "      --coalesce         let receivers coalesce events of the same name\n";

}  // namespace

int cmd_event(int argc, char** argv) {
  Args args;
  std::string error;
  auto extra = rpc_option_specs();
  extra.push_back({"coalesce", 0, false, false});
  if (const int rc = parse_member_command("event", kHelp, argc, argv, extra, args); rc >= 0) {
    return rc;
  }
  const auto& pos = args.positional();
  if (pos.empty() || pos.size() > 2) {
    std::fprintf(stderr, "haserf event: needs NAME [PAYLOAD] (see 'haserf event --help')\n");
    return kExitUsage;
  }
  if (args.all("join").empty()) {
    rpc::Client client;
    if (!rpc_connect("event", args, client)) return kExitFailure;
    const std::string payload = pos.size() > 1 ? pos[1] : "";
    if (!client.user_event(pos[0], wire::Bytes(payload.begin(), payload.end()),
                           args.has("coalesce"), &error)) {
      std::fprintf(stderr, "haserf event: %s\n", error.c_str());
      return kExitFailure;
    }
    std::fprintf(stderr, "haserf event: sent '%s'\n", pos[0].c_str());
    return kExitOk;
  }
  table::MembershipTable members;
  int exit_code = kExitOk;
  auto agent = start_transient_member("event", args, members, std::chrono::seconds(10), exit_code);
  if (!agent) return exit_code;
  if (!agent->user_event(pos[0], pos.size() > 1 ? pos[1] : "", args.has("coalesce"), &error)) {
    agent->leave_sync(std::chrono::seconds(8));
    agent->stop();
    std::fprintf(stderr, "haserf event: %s\n", error.c_str());
    return kExitFailure;
  }
  // Let gossip carry the event (retransmit limit x gossip interval) before leaving.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  agent->leave_sync(std::chrono::seconds(8));
  agent->stop();
  std::fprintf(stderr, "haserf event: sent '%s'\n", pos[0].c_str());
  return kExitOk;
}

}  // namespace haserf::cli
