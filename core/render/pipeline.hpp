// SPDX-License-Identifier: MIT
// One render → check → atomic write → exec cycle: what `haserf render -o --check --exec` and
// the HAProxy glue's validated reload both do. The previous file is never replaced by output
// that failed to render or failed its check.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/render/renderer.hpp"
#include "core/table/membership_table.hpp"

namespace haserf::render {

struct PipelineJob {
  std::shared_ptr<const LoadedTemplate> tmpl;  // loaded and checked (load_template)
  Vars vars;
  RenderOptions options;
  std::string out;    // file to write
  std::string check;  // shell command run on the candidate ('{}' = its path); empty: none
  std::string exec;   // shell command run after `out` changed; empty: none
  std::chrono::milliseconds command_timeout = std::chrono::seconds(60);
  // Set from another thread to kill a running check/exec at once (process exit).
  const std::atomic<bool>* cancel = nullptr;
};

enum class PipelineOutcome {
  kWritten,
  kUnchanged,
  kRenderFailed,
  kCheckFailed,
  kWriteFailed,
  kExecFailed
};

struct PipelineResult {
  PipelineOutcome outcome = PipelineOutcome::kRenderFailed;
  std::string message;  // one line: what happened and why
  std::vector<std::string> warnings;
  std::size_t members = 0;   // members rendered
  std::size_t excluded = 0;  // members left out for unsafe values
  bool in_place = false;
  bool ok() const {
    return outcome == PipelineOutcome::kWritten || outcome == PipelineOutcome::kUnchanged;
  }
};

// `snapshot` null: no members, no built-in names (data and vars alone).
PipelineResult render_to_file(const PipelineJob& job, const table::Snapshot* snapshot);

}  // namespace haserf::render
