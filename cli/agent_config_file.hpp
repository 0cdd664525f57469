// SPDX-License-Identifier: MIT
// serf agent's JSON configuration (-config-file, -config-dir) for haserf agent, so that a
// serf agent's existing config runs unchanged: each key becomes the haserf agent option it
// means, or a value applied to the agent's configuration directly (limits and timeouts).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace haserf::cli {

struct AgentFileConfig {
  // haserf agent option -> values, in file order (repeatable options accumulate).
  std::map<std::string, std::vector<std::string>> options;
  // serf settings without a command-line option of ours.
  std::optional<std::size_t> query_size_limit, query_response_size_limit, user_event_size_limit;
  std::optional<std::chrono::milliseconds> reconnect_interval, reconnect_timeout, tombstone_timeout,
      broadcast_timeout;
  std::optional<bool> leave_on_terminate, skip_leave_on_interrupt, disable_coordinates;
  // Keys serf knows that haserf accepts and ignores (logged once at start).
  std::vector<std::string> ignored;
  std::vector<std::string> files;  // read, in order
};

// Reads one file and merges it over `into` (later files win; lists and tags accumulate, as
// serf's MergeConfig). False with "FILE: ..." on unreadable JSON, an unknown key (serf:
// "Config has invalid keys"), or a value of the wrong type.
bool read_agent_config_file(const std::string& path, AgentFileConfig& into, std::string& error);
// Every *.json file of `dir`, in lexical order (serf -config-dir). Other files are skipped.
bool read_agent_config_dir(const std::string& dir, AgentFileConfig& into, std::string& error);

}  // namespace haserf::cli
