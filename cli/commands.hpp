// SPDX-License-Identifier: MIT
// The haserf subcommands. Each returns a process exit code (see args.hpp).
#pragma once

namespace haserf::cli {

int cmd_render(int argc, char** argv);
int cmd_members(int argc, char** argv);
int cmd_agent(int argc, char** argv);
int cmd_event(int argc, char** argv);
int cmd_query(int argc, char** argv);
int cmd_keys(int argc, char** argv);
int cmd_rtt(int argc, char** argv);

}  // namespace haserf::cli
