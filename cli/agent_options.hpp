// SPDX-License-Identifier: MIT
// Options shared by the subcommands that run a gossip member (members, agent, event,
// render --join): --bind, --advertise, --join, --node, --tag, --encrypt, --profile.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "core/net/agent.hpp"
#include "core/rpc/rpc_client.hpp"

namespace haserf::cli {

// Appended to a subcommand's own specs.
std::vector<OptionSpec> agent_option_specs();
extern const char* const kAgentOptionsHelp;

// Parses the options of a member subcommand (`extra` plus the shared ones). Returns -1 to go
// on; otherwise the exit code, after printing "haserf CMD: ... (see 'haserf CMD --help')" for
// a usage error, or `help` and the shared options for --help.
int parse_member_command(const char* cmd, const char* help, int argc, char** argv,
                         const std::vector<OptionSpec>& extra, Args& args);

// Fills `config` from the options. Without --bind, binds port 0 (any) on the local address
// that routes to the first --join address. False with a message on bad values.
bool agent_config_from_args(const Args& args, net::AgentConfig& config, std::string& error);

// For the short-lived members of `members`, `event` and `render --join`: configures from the
// options (default node name "<host>-<cmd>-<pid>"), starts, and joins every --join address.
// On failure prints one line "haserf CMD: ..." to stderr, sets `exit_code` and returns null.
// `extra_keys`: added to the member's keyring as secondaries (haserf keys).
std::unique_ptr<net::Agent> start_transient_member(const char* cmd, const Args& args,
                                                   table::MembershipTable& table,
                                                   std::chrono::seconds join_timeout,
                                                   int& exit_code,
                                                   std::vector<std::string> extra_keys = {});

// For the short-lived members of `query` and `keys`: sends a query through `agent` and waits
// for its timeout (bounded, in case the loop stops). `callbacks.done` is the helper's own;
// `on_sent` runs on the loop thread once the query is out (before any answer). False with
// `error` when the member refused to send it.
bool query_and_wait(net::Agent& agent, const std::string& name, const std::string& payload,
                    const serf::QueryParams& params, serf::QueryCallbacks callbacks,
                    std::string& error, std::function<void()> on_sent = {});

// --rpc-addr / --rpc-auth, for the commands that ask a local agent (members, event, query,
// rtt) unless told to --join as a short-lived member.
std::vector<OptionSpec> rpc_option_specs();
extern const char* const kRpcOptionsHelp;
// Connects to --rpc-addr (default: HASERF_RPC_ADDR, SERF_RPC_ADDR, 127.0.0.1:7373) with
// --rpc-auth (default: HASERF_RPC_AUTH, SERF_RPC_AUTH). On failure prints "haserf CMD: ..."
// and returns false.
bool rpc_connect(const char* cmd, const Args& args, rpc::Client& client,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10));
// A member as the RPC protocol carries it, in the table's shape (for printing).
table::Member member_from_rpc(const wire::rpc::RpcMember& m);

}  // namespace haserf::cli
