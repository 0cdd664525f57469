// SPDX-License-Identifier: MIT
// core/render/command_runner: checks and reload commands run bounded, inherit nothing of the
// host but stdio, and die with the host's shutdown.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "core/render/command_runner.hpp"

using namespace haserf;
using namespace std::chrono_literals;

TEST_CASE("command runner: exit status, output tail and timeouts", "[render][command]") {
  auto ok = render::run_shell("echo hello; exit 0", 5s);
  CHECK(ok.ok());
  CHECK(ok.output == "hello\n");
  auto bad = render::run_shell("echo line1; echo 'ALERT: parsing [x:3]' >&2; exit 3", 5s);
  CHECK_FALSE(bad.ok());
  CHECK(bad.exit_code == 3);
  CHECK_THAT(bad.describe(), Catch::Contains("exit 3: line1 | ALERT: parsing [x:3]"));
  auto slow = render::run_shell("sleep 30", 200ms);
  CHECK(slow.timed_out);
  CHECK_FALSE(render::run_command({"/nonexistent/program"}, 1s).started);
}

TEST_CASE("command runner: a command inherits no descriptor of the host", "[render][command]") {
  // A descriptor without CLOEXEC, as HAProxy's listeners are.
  const int opened = ::open("/dev/null", O_RDONLY);
  REQUIRE(opened >= 0);
  const int leaky = ::dup2(opened, 77);  // a number ls would never use for itself
  ::close(opened);
  REQUIRE(leaky == 77);
  REQUIRE((::fcntl(leaky, F_GETFD) & FD_CLOEXEC) == 0);
  // ls lists its own view of /proc/self/fd: 0, 1, 2 and the directory it reads.
  auto r = render::run_shell("ls /proc/self/fd | tr '\\n' ' '", 5s);
  ::close(leaky);
  REQUIRE(r.ok());
  INFO(r.output);
  std::size_t n = 0;
  for (char c : r.output) n += c == ' ';
  CHECK(n <= 4);
  CHECK(r.output.find(" " + std::to_string(leaky) + " ") == std::string::npos);
}

TEST_CASE("command runner: cancellation kills the command at once", "[render][command]") {
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = render::run_shell("sleep 30", 60s, {}, &cancel);
  canceller.join();
  CHECK(r.timed_out);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("command runner: input goes to stdin: a command that ignores it is no problem",
          "[render][command]") {
  ::signal(SIGPIPE, SIG_IGN);  // as haserf agent and the HAProxy module do
  const std::string text = "line 1\nline 2\n";
  render::CommandIo io;
  io.input = &text;
  auto r = render::run_shell("cat", 10s, {}, nullptr, io);
  REQUIRE(r.ok());
  CHECK(r.output == text);
  // 4 MiB to a command that never reads: no hang, no crash.
  const std::string big(4u << 20, 'x');
  io.input = &big;
  r = render::run_shell("exit 0", 10s, {}, nullptr, io);
  CHECK(r.ok());
  // And one that reads all of it; only the tail of its output is kept.
  io.max_output = 100;
  r = render::run_shell("cat", 20s, {}, nullptr, io);
  CHECK(r.ok());
  CHECK(r.output == std::string(100, 'x'));
  // Empty input: stdin is at end of file at once.
  const std::string none;
  io.input = &none;
  r = render::run_shell("wc -c", 10s, {}, nullptr, io);
  CHECK(r.output.find('0') != std::string::npos);
}

TEST_CASE("command runner: without input, stdin is an empty pipe, not /dev/null",
          "[render][command]") {
  // Inside HAProxy's chroot there is usually no /dev/null: opening it made every check and
  // reload command fail to start ("/bin/sh: No such file or directory").
  const auto start = std::chrono::steady_clock::now();
  auto r = render::run_shell("cat; [ -p /dev/stdin ] && echo pipe", 10s);
  REQUIRE(r.ok());
  CHECK(r.output == "pipe\n");
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}
