// SPDX-License-Identifier: MIT
#include "core/render/pipeline.hpp"

#include <unistd.h>

#include "core/render/atomic_write.hpp"
#include "core/render/command_runner.hpp"

namespace haserf::render {
namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

}  // namespace

PipelineResult render_to_file(const PipelineJob& job, const table::Snapshot* snapshot) {
  PipelineResult result;
  auto rendered = render(*job.tmpl, snapshot, job.vars, job.options);
  result.warnings = std::move(rendered.warnings);
  result.excluded = rendered.excluded;
  result.members = snapshot ? snapshot->size() - rendered.excluded : 0;
  if (!rendered.ok()) {
    result.outcome = PipelineOutcome::kRenderFailed;
    result.message = rendered.error;
    return result;
  }
  std::string current;
  const bool had_previous = read_file(job.out, current, nullptr);
  const bool same = had_previous && current == rendered.output;
  if (same) {
    result.outcome = PipelineOutcome::kUnchanged;
    result.message = job.out + " unchanged";
    return result;
  }
  WriteOptions no_backup;  // the candidate and a restore: the .bak stays the running config
  no_backup.keep_backup = false;
  if (!job.check.empty()) {
    // The candidate sits next to `out` so relative paths in the config resolve the same.
    const std::string candidate = job.out + ".candidate";
    auto cw = write_file_atomic(candidate, rendered.output, no_backup);
    if (cw.outcome == WriteOutcome::kFailed) {
      result.outcome = PipelineOutcome::kWriteFailed;
      result.message = cw.error;
      return result;
    }
    auto check = run_shell(replace_all(job.check, "{}", candidate), job.command_timeout,
                           {{"HASERF_CANDIDATE", candidate}}, job.cancel);
    ::unlink(candidate.c_str());
    if (!check.ok()) {
      result.outcome = PipelineOutcome::kCheckFailed;
      result.message = "check failed (" + check.describe() + "); " + job.out + " kept as it was";
      return result;
    }
  }
  const auto written = write_file_atomic(job.out, rendered.output);
  if (written.outcome == WriteOutcome::kFailed) {
    result.outcome = PipelineOutcome::kWriteFailed;
    result.message = written.error;
    return result;
  }
  if (written.outcome == WriteOutcome::kUnchanged) {
    result.outcome = PipelineOutcome::kUnchanged;
    result.message = job.out + " unchanged";
    return result;
  }
  result.in_place = written.in_place;
  result.outcome = PipelineOutcome::kWritten;
  result.message = "wrote " + job.out + " (" +
                   (snapshot ? "version " + std::to_string(snapshot->version()) + ": " +
                                   std::to_string(result.members) + " members, " +
                                   std::to_string(result.excluded) + " left out"
                             : std::string("no members")) +
                   (written.in_place ? ", in place: rename not possible" : "") + ")";
  if (!job.exec.empty()) {
    auto exec = run_shell(job.exec, job.command_timeout, {{"HASERF_OUT", job.out}}, job.cancel);
    if (!exec.ok() && job.cancel != nullptr && job.cancel->load()) {
      // This process is stopping while the command ran: with a master-CLI reload that is the
      // reload it asked for replacing it (HAProxy 2.7+ answers only once the new worker runs,
      // and soft-stops this one at the same time). Not a failure, and nothing to restore.
      result.message += "; exec interrupted: this process is stopping";
    } else if (!exec.ok()) {
      result.outcome = PipelineOutcome::kExecFailed;
      result.message += "; exec failed (" + exec.describe() + ")";
      // The reload did not take: the running config is still the previous one, so that is
      // what `out` holds again (the last good, and what the next reload would load). The
      // rejected config stays beside it for the operator.
      if (had_previous) {
        const auto kept = write_file_atomic(job.out + ".rejected", rendered.output, no_backup);
        const auto restored = write_file_atomic(job.out, current, no_backup);
        if (restored.outcome == WriteOutcome::kFailed) {
          result.message += "; could not restore the previous config: " + restored.error;
        } else {
          result.message += "; " + job.out + " restored to the running config" +
                            (kept.outcome == WriteOutcome::kFailed
                                 ? std::string()
                                 : ", the rejected one kept in " + job.out + ".rejected");
        }
      }
    } else {
      result.message += "; exec ran";
    }
  }
  return result;
}

}  // namespace haserf::render
