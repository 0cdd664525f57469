// Options shared by the subcommands that run a gossip member (members, agent, event,
// render --join): --bind, --advertise, --join, --node, --tag, --encrypt, --profile.
#pragma once

#include <string>
#include <vector>

#include "cli/args.hpp"
#include "core/net/agent.hpp"

namespace haserf::cli {

// Appended to a subcommand's own specs.
std::vector<OptionSpec> agent_option_specs();
extern const char* const kAgentOptionsHelp;

// Fills `config` from the options. Without --bind, binds port 0 (any) on the local address
// that routes to the first --join address. False with a message on bad values.
bool agent_config_from_args(const Args& args, net::AgentConfig& config, std::string& error);

}  // namespace haserf::cli
