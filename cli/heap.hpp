// SPDX-License-Identifier: MIT
// Heap settings for a one-shot render of a large member list (haserf render -m).
#pragma once

namespace haserf::cli {

// A render of 10,000 members touches about 25 MB of fresh heap, and on virtual machines the
// first touch of every 4 KiB page is a fault that costs more than the rendering itself
// (measured: docs/performance.md, "Rendering"). This reserves the heap's growth in one range
// and asks for transparent huge pages there (madvise; harmless where THP is off or "always"),
// and keeps large blocks on that heap so freed ones are reused instead of unmapped. Not for
// long-running commands: it trades a little RSS for fewer page faults.
void prefer_large_heap_pages();

}  // namespace haserf::cli
