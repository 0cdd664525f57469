// haserf event: join, gossip one user event, leave.
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "cli/agent_options.hpp"
#include "cli/commands.hpp"

namespace haserf::cli {
namespace {

constexpr const char* kHelp =
    "usage: haserf event --join IP[:PORT] [--coalesce] NAME [PAYLOAD]\n"
    "\n"
    "Joins the cluster as a short-lived member, sends a Serf user event (like 'serf event'),\n"
    "waits until it has been gossiped, then leaves gracefully.\n"
    "\n"
    "options:\n"
    "      --coalesce         let receivers coalesce events of the same name\n";

}  // namespace

int cmd_event(int argc, char** argv) {
  Args args;
  std::string error;
  if (const int rc =
          parse_member_command("event", kHelp, argc, argv, {{"coalesce", 0, false, false}}, args);
      rc >= 0) {
    return rc;
  }
  const auto& pos = args.positional();
  if (pos.empty() || pos.size() > 2 || args.all("join").empty()) {
    std::fprintf(stderr,
                 "haserf event: needs --join and NAME [PAYLOAD] (see 'haserf event --help')\n");
    return kExitUsage;
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
