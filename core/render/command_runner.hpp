// SPDX-License-Identifier: MIT
// Runs the user's --check / --exec commands (and later HAProxy's `haproxy -c`) with a time
// bound, capturing what they print, so a hung check can never stall re-rendering.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace haserf::render {

struct CommandResult {
  bool started = false;
  bool timed_out = false;
  int exit_code = -1;  // valid when started && !timed_out; 128+N when killed by signal N
  std::string output;  // stdout and stderr, interleaved, at most 64 KiB (the tail is kept)
  bool ok() const { return started && !timed_out && exit_code == 0; }
  // "exit 1: <last line of output>", "timed out after 30s", "cannot start: ..."
  std::string describe() const;
};

// What a command reads and how much of what it prints is kept.
struct CommandIo {
  // Written to the command's stdin (a pipe), which is then closed; without it stdin is
  // /dev/null. A command that exits without reading it is fine. The caller must ignore
  // SIGPIPE (haserf agent and the HAProxy module do).
  const std::string* input = nullptr;
  std::size_t max_output = 65536;  // the tail is kept
};

// Runs `argv` (argv[0] looked up in PATH). Extra environment variables are added to ours.
// The command inherits no descriptor but stdin (our pipe: the input, or at end of file at
// once; never /dev/null, which a chroot may lack), stdout and stderr (a pipe to us): inside
// HAProxy, a listener or socket of the host must never leak into a child.
// On timeout, or as soon as `*cancel` becomes true (checked every 50 ms), the process group
// gets SIGTERM, then SIGKILL one second later.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::map<std::string, std::string>& env = {},
                          const std::atomic<bool>* cancel = nullptr, const CommandIo& io = {});

// Runs `command` with /bin/sh -c.
CommandResult run_shell(const std::string& command, std::chrono::milliseconds timeout,
                        const std::map<std::string, std::string>& env = {},
                        const std::atomic<bool>* cancel = nullptr, const CommandIo& io = {});

}  // namespace haserf::render
