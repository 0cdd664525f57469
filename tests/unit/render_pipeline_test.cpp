// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "core/render/pipeline.hpp"
#include "core/table/table.hpp"
#include "tests/unit/temp_dir.hpp"

using namespace haserf;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

render::PipelineJob job_for(const std::string& out, std::string text, std::string exec) {
  render::PipelineJob job;
  job.tmpl = render::load_template(std::move(text), "t.mustache", {}).tmpl;
  job.out = out;
  job.exec = std::move(exec);
  return job;
}

// A folder with the config file's path and an empty cluster to render.
struct Site {
  TempDir dir;
  std::string out = dir.path + "/haproxy.cfg";
  table::MembershipTable table;
  table::SnapshotPtr snap = table.snapshot();
  render::PipelineResult run(std::string text, std::string exec,
                             const std::atomic<bool>* cancel = nullptr) {
    auto job = job_for(out, std::move(text), std::move(exec));
    job.cancel = cancel;
    return render::render_to_file(job, snap.get());
  }
};
}  // namespace

TEST_CASE("pipeline: a failed reload puts the running config back and keeps the rejected one",
          "[render][pipeline]") {
  Site site;
  const std::string& out = site.out;
  REQUIRE(site.run("good {{version}}\n", "true").outcome == render::PipelineOutcome::kWritten);
  const std::string good = slurp(out);

  // The reload command fails (HAProxy 2.7+ answered Success=0): the file that runs is the old.
  auto failed = site.run("cannot start\n", "exit 3");
  CHECK(failed.outcome == render::PipelineOutcome::kExecFailed);
  CHECK(slurp(out) == good);
  CHECK(slurp(out + ".rejected") == "cannot start\n");
  CHECK(failed.message.find("restored to the running config") != std::string::npos);

  // The next good render writes and reloads as usual; the backup is the running config.
  auto next = site.run("next\n", "true");
  CHECK(next.outcome == render::PipelineOutcome::kWritten);
  CHECK(slurp(out) == "next\n");
  CHECK(slurp(out + ".bak") == good);
}

TEST_CASE("pipeline: an exec cut short by the process stopping is no failed reload",
          "[render][pipeline]") {
  Site site;
  REQUIRE(site.run("old\n", "true").ok());
  std::atomic<bool> stopping{true};
  auto r = site.run("new\n", "sleep 5", &stopping);
  CHECK(r.outcome == render::PipelineOutcome::kWritten);
  CHECK(slurp(site.out) == "new\n");
  CHECK(r.message.find("exec interrupted") != std::string::npos);
}
