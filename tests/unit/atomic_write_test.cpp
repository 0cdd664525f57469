// SPDX-License-Identifier: MIT
#include "core/render/atomic_write.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>

#include "tests/unit/temp_dir.hpp"

using namespace haserf::render;
namespace fs = std::filesystem;

namespace {
std::string slurp(const std::string& p) {
  std::string s;
  REQUIRE(read_file(p, s, nullptr));
  return s;
}
}  // namespace

TEST_CASE("atomic write: new, unchanged, changed with backup", "[write]") {
  TempDir dir;
  const auto out = dir.file("haproxy.cfg");
  REQUIRE(write_file_atomic(out, "one\n").outcome == WriteOutcome::kWritten);
  REQUIRE(slurp(out) == "one\n");
  REQUIRE(dir.entries() == 1);  // no temp file left, no backup of nothing

  struct stat before {};
  ::stat(out.c_str(), &before);
  REQUIRE(write_file_atomic(out, "one\n").outcome == WriteOutcome::kUnchanged);
  struct stat after {};
  ::stat(out.c_str(), &after);
  REQUIRE(before.st_ino == after.st_ino);  // untouched

  ::chmod(out.c_str(), 0640);
  REQUIRE(write_file_atomic(out, "two\n").outcome == WriteOutcome::kWritten);
  REQUIRE(slurp(out) == "two\n");
  REQUIRE(slurp(out + ".bak") == "one\n");
  ::stat(out.c_str(), &after);
  REQUIRE((after.st_mode & 0777) == 0640);  // permissions kept
  REQUIRE(dir.entries() == 2);
}

TEST_CASE("atomic write: EBUSY/EXDEV fall back to an in-place write", "[write]") {
  TempDir dir;
  const auto out = dir.file("bind-mounted.cfg");
  REQUIRE(write_file_atomic(out, "old\n").outcome == WriteOutcome::kWritten);
  for (int err : {EBUSY, EXDEV}) {
    WriteOptions opts;
    opts.rename_fn = [err](const char*, const char*) {
      errno = err;
      return -1;
    };
    const std::string content = "new " + std::to_string(err) + "\n";
    auto r = write_file_atomic(out, content, opts);
    REQUIRE(r.outcome == WriteOutcome::kWritten);
    REQUIRE(r.in_place);
    REQUIRE(slurp(out) == content);
  }
  REQUIRE(dir.entries() == 2);  // file + .bak, no temp files left
}

TEST_CASE("atomic write: other rename errors leave the old file alone", "[write]") {
  TempDir dir;
  const auto out = dir.file("x.cfg");
  write_file_atomic(out, "keep\n");
  WriteOptions opts;
  opts.rename_fn = [](const char*, const char*) {
    errno = EACCES;
    return -1;
  };
  auto r = write_file_atomic(out, "lost\n", opts);
  REQUIRE(r.outcome == WriteOutcome::kFailed);
  REQUIRE_THAT(r.error, Catch::Contains("x.cfg"));
  REQUIRE(slurp(out) == "keep\n");
}

TEST_CASE("atomic write: unwritable folder is a clear error, nothing written", "[write]") {
  auto r = write_file_atomic("/nonexistent-dir/haproxy.cfg", "x");
  REQUIRE(r.outcome == WriteOutcome::kFailed);
  REQUIRE_THAT(r.error, Catch::Contains("/nonexistent-dir"));
}
