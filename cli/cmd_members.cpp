// SPDX-License-Identifier: MIT
// haserf members: join a cluster, print its members, leave gracefully.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "cli/agent_options.hpp"
#include "cli/commands.hpp"
#include "core/table/table.hpp"

namespace haserf::cli {
namespace {

constexpr const char* kHelp =
    "usage: haserf members [--rpc-addr IP:PORT] [--status REGEXP] [--name REGEXP]\n"
    "                      [--format text|json]\n"
    "       haserf members --join IP[:PORT] [--bind IP:PORT] [--node NAME] [--format text|json]\n"
    "\n"
    "Prints the cluster's members, every status serf lists (alive, leaving, left, failed),\n"
    "the same JSON as 'serf members -format=json' with --format json. Asks the local agent\n"
    "(haserf agent or serf agent) over RPC; with --join, joins as a short-lived member\n"
    "instead, prints the members it learned and leaves gracefully.\n"
    "\n"
    "options:\n"
    "  -f, --format FORMAT    text (default) or json\n"
    "      --status REGEXP    only members whose status matches (anchored, as serf's -status)\n"
    "      --name REGEXP      only members whose name matches (anchored, as serf's -name)\n"
    "      --timeout SECONDS  give up joining (or waiting for the agent) after this long\n"
    "                         (default 10)\n";

void print_text(const std::vector<table::MemberPtr>& members) {
  std::size_t wname = 0, waddr = 0, wstatus = 0;
  for (const auto& m : members) {
    wname = std::max(wname, m->name.size());
    waddr = std::max(waddr, table::host_port(m->addr, m->port).size());
    wstatus = std::max(wstatus, table::to_string(m->status).size());
  }
  for (const auto& m : members) {
    std::string tags;
    for (const auto& [k, v] : m->tags) tags += (tags.empty() ? "" : ",") + k + "=" + v;
    std::printf("%-*s  %-*s  %-*s  %s\n", static_cast<int>(wname), m->name.c_str(),
                static_cast<int>(waddr), table::host_port(m->addr, m->port).c_str(),
                static_cast<int>(wstatus), std::string(table::to_string(m->status)).c_str(),
                tags.c_str());
  }
}

}  // namespace

int cmd_members(int argc, char** argv) {
  Args args;
  std::string error;
  auto extra = rpc_option_specs();
  extra.push_back({"format", 'f', true, false});
  extra.push_back({"timeout", 0, true, false});
  extra.push_back({"status", 0, true, false});
  extra.push_back({"name", 0, true, false});
  if (const int rc = parse_member_command("members", kHelp, argc, argv, extra, args); rc >= 0) {
    return rc;
  }
  const std::string format = args.get("format").value_or("text");
  if (format != "text" && format != "json") {
    std::fprintf(stderr, "haserf members: --format must be text or json\n");
    return kExitUsage;
  }
  const auto seeds = args.all("join");
  int timeout_s = 10;
  if (auto t = args.get("timeout")) {
    timeout_s = std::atoi(t->c_str());
    if (timeout_s <= 0) {
      std::fprintf(stderr, "haserf members: --timeout must be a positive number of seconds\n");
      return kExitUsage;
    }
  }
  if (seeds.empty()) {
    rpc::Client client;
    if (!rpc_connect("members", args, client, std::chrono::seconds(timeout_s))) {
      return kExitFailure;
    }
    std::vector<wire::rpc::RpcMember> found;
    const bool ok = args.has("status") || args.has("name")
                        ? client.members_filtered({}, args.get("status").value_or(""),
                                                  args.get("name").value_or(""), found, &error)
                        : client.members(found, &error);
    if (!ok) {
      std::fprintf(stderr, "haserf members: %s\n", error.c_str());
      return kExitFailure;
    }
    std::vector<table::MemberPtr> list;
    for (const auto& m : found) list.push_back(std::make_shared<table::Member>(member_from_rpc(m)));
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a->name < b->name; });
    if (format == "json") {
      std::fputs(table::members_to_json(list).c_str(), stdout);
    } else {
      print_text(list);
    }
    return kExitOk;
  }
  if (args.has("status") || args.has("name")) {
    std::fprintf(stderr, "haserf members: --status and --name need the RPC path (no --join)\n");
    return kExitUsage;
  }
  table::MembershipTable members;
  int exit_code = kExitOk;
  auto agent =
      start_transient_member("members", args, members, std::chrono::seconds(timeout_s), exit_code);
  if (!agent) return exit_code;
  // The join's push/pull reply already holds the whole cluster view.
  std::vector<table::MemberPtr> list;
  for (const auto& m : members.snapshot()->members()) {
    if (m->name != agent->node_name()) list.push_back(m);
  }
  agent->leave_sync(std::chrono::seconds(8));
  agent->stop();
  if (format == "json") {
    std::fputs(table::members_to_json(list).c_str(), stdout);
  } else {
    print_text(list);
  }
  return kExitOk;
}

}  // namespace haserf::cli
