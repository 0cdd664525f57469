// SPDX-License-Identifier: MIT
// Writing generated config files so that a reader (HAProxy, a person, a crash) never sees
// half a file, and the previous version is kept.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace haserf::render {

enum class WriteOutcome { kWritten, kUnchanged, kFailed };

struct WriteResult {
  WriteOutcome outcome = WriteOutcome::kFailed;
  std::string error;    // set when kFailed: names the path and the failing step
  bool in_place = false;  // rename was impossible (EBUSY/EXDEV): wrote over the file instead
};

struct WriteOptions {
  bool keep_backup = true;  // copy the previous content to PATH.bak first
  // Seam for tests: the rename step (defaults to ::rename).
  std::function<int(const char* from, const char* to)> rename_fn;
};

// Writes `content` to `path`:
//  - byte-identical to what is there already: nothing is touched (kUnchanged);
//  - else a temp file in the same folder is written and fsync'ed, the old file is saved to
//    PATH.bak, and the temp file is renamed over PATH (then the folder is fsync'ed);
//  - if rename fails with EBUSY or EXDEV (a single-file bind mount), PATH is overwritten in
//    place instead, then fsync'ed.
// On failure nothing at PATH is changed (except in the in-place fallback, which has no
// atomic alternative) and the temp file is removed.
WriteResult write_file_atomic(const std::string& path, std::string_view content,
                              const WriteOptions& options = {});

// Reads a whole file; false (and `error`) when it cannot be read.
bool read_file(const std::string& path, std::string& out, std::string* error);

}  // namespace haserf::render
