// SPDX-License-Identifier: MIT
#include "core/render/command_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace haserf::render {

std::string CommandResult::describe() const {
  if (!started) return "cannot start: " + output;
  if (timed_out) return "timed out";
  // The last few non-empty lines: `haproxy -c` puts the useful ALERT before its summary line.
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    std::string line = output.substr(start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
    start = end + 1;
  }
  std::string tail;
  const std::size_t first = lines.size() > 3 ? lines.size() - 3 : 0;
  for (std::size_t i = first; i < lines.size(); ++i) tail += (tail.empty() ? "" : " | ") + lines[i];
  if (tail.size() > 400) tail = "..." + tail.substr(tail.size() - 400);
  return "exit " + std::to_string(exit_code) + (tail.empty() ? "" : ": " + tail);
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::map<std::string, std::string>& env,
                          const std::atomic<bool>* cancel, const CommandIo& io) {
  CommandResult result;
  if (argv.empty()) {
    result.output = "empty command";
    return result;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result.output = std::strerror(errno);
    return result;
  }
  // stdin: a pipe carrying the input, or (no input) at end of file at once. Not /dev/null,
  // which a chroot (HAProxy's `chroot /var/lib/haproxy`) usually does not have: opening it
  // there would fail the spawn with a misleading "/bin/sh: No such file or directory".
  int in_fds[2] = {-1, -1};
  if (::pipe2(in_fds, O_CLOEXEC) != 0) {
    result.output = std::strerror(errno);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return result;
  }
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const auto eq = entry.find('=');
    if (eq != std::string::npos && env.count(entry.substr(0, eq))) continue;
    env_strings.push_back(entry);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_adddup2(&actions, in_fds[0], STDIN_FILENO);
  // Everything else the host has open (HAProxy's listeners, the master's socketpair) stays
  // behind, CLOEXEC or not.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group, default signal handling (our caller may block SIGTERM/SIGINT).
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(pipe_fds[1]);
  if (in_fds[0] >= 0) ::close(in_fds[0]);
  int in_fd = in_fds[1];  // ours: written without blocking, closed once all is written
  if (in_fd >= 0) ::fcntl(in_fd, F_SETFL, ::fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  const auto close_input = [&] {
    if (in_fd >= 0) ::close(in_fd);
    in_fd = -1;
  };
  if (rc != 0) {
    ::close(pipe_fds[0]);
    close_input();
    result.output = argv[0] + ": " + std::strerror(rc);
    return result;
  }
  result.started = true;
  std::size_t written = 0;
  if (in_fd >= 0 && (io.input == nullptr || io.input->empty())) close_input();

  auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto cancelled = [&] { return cancel != nullptr && cancel->load(); };
  bool killed = false;
  auto kill_deadline = deadline;
  char buf[4096];
  bool pipe_open = true;
  while (pipe_open) {
    const auto now = std::chrono::steady_clock::now();
    if (!killed && cancelled()) deadline = now;
    if (!killed && now >= deadline) {
      ::kill(-pid, SIGTERM);
      killed = true;
      result.timed_out = true;
      kill_deadline = now + std::chrono::seconds(1);
    } else if (killed && now >= kill_deadline) {
      ::kill(-pid, SIGKILL);
      break;
    }
    const auto wait_ms =
        std::min<std::chrono::milliseconds>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                (killed ? kill_deadline : deadline) - now),
                                            std::chrono::milliseconds(50));
    pollfd p[2] = {{pipe_fds[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    const int pr =
        ::poll(p, in_fd >= 0 ? 2 : 1, static_cast<int>(std::max<std::int64_t>(wait_ms.count(), 1)));
    if (pr < 0 && errno != EINTR) break;
    if (pr > 0 && in_fd >= 0 && p[1].revents != 0) {
      const ssize_t n = ::write(in_fd, io.input->data() + written, io.input->size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      // Done, or the command closed its stdin (EPIPE): either way, no more input.
      if (written == io.input->size() || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close_input();
      }
    }
    if (pr > 0 && p[0].revents != 0) {
      const ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
      if (n <= 0) {
        pipe_open = false;
      } else {
        result.output.append(buf, static_cast<std::size_t>(n));
        if (result.output.size() > io.max_output) {
          result.output.erase(0, result.output.size() - io.max_output);
        }
      }
    }
  }
  ::close(pipe_fds[0]);
  close_input();
  int status = 0;
  // The pipe closes when the command exits (or a grandchild keeps it: bounded above).
  while (true) {
    const pid_t w = ::waitpid(pid, &status, killed ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (w == 0) {
      if (std::chrono::steady_clock::now() >= deadline || cancelled()) {
        ::kill(-pid, SIGKILL);
        killed = true;
        result.timed_out = true;
      } else {
        ::usleep(10000);
      }
    }
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
  return result;
}

CommandResult run_shell(const std::string& command, std::chrono::milliseconds timeout,
                        const std::map<std::string, std::string>& env,
                        const std::atomic<bool>* cancel, const CommandIo& io) {
  return run_command({"/bin/sh", "-c", command}, timeout, env, cancel, io);
}

}  // namespace haserf::render
