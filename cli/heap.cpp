// SPDX-License-Identifier: MIT
#include "cli/heap.hpp"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace haserf::cli {

void prefer_large_heap_pages() {
  // Virtual reservation only: pages count once touched. brk heap growth within it stays one
  // mapping, so the advice below covers every later allocation.
  constexpr std::size_t kReserve = std::size_t{512} << 20;
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  mallopt(M_MMAP_THRESHOLD, 256 << 20);  // big buffers on the heap, reused after free
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // above the reservation: freeing never gives it back
  mallopt(M_TOP_PAD, static_cast<int>(kReserve));
  // Larger than the heap's current free top: the heap grows now, by the pad.
  void* probe = std::malloc(std::size_t{1} << 20);
  const auto top = reinterpret_cast<std::uintptr_t>(sbrk(0));
  const auto start = (reinterpret_cast<std::uintptr_t>(probe) + kHuge - 1) & ~(kHuge - 1);
  if (top > start) {
    (void)madvise(reinterpret_cast<void*>(start), top - start, MADV_HUGEPAGE);
  }
  std::free(probe);
  mallopt(M_TOP_PAD, 64 << 20);
}

}  // namespace haserf::cli
