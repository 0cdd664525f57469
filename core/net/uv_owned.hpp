// SPDX-License-Identifier: MIT
// Heap objects that own several libuv handles (a connection's stream and its deadline timer).
//
// Rule: the owner is created with `open_handles` equal to the number of handles it starts,
// every handle's `data` points at the owner, and the owner is closed only through
// close_owned_handles(). Each close callback counts one handle down; the last one deletes the
// owner, so no callback can ever see a freed owner. Read buffers come from alloc_read_buffer()
// and are freed (delete[]) by the read callback that receives them.
#pragma once

#include <uv.h>

#include <initializer_list>

namespace haserf::net {

template <typename Owner>
void close_owned_handles(std::initializer_list<uv_handle_t*> handles) {
  for (uv_handle_t* h : handles) {
    if (uv_is_closing(h)) continue;
    uv_close(h, [](uv_handle_t* closed) {
      auto* owner = static_cast<Owner*>(closed->data);
      if (--owner->open_handles == 0) delete owner;
    });
  }
}

inline void alloc_read_buffer(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
  buf->base = new char[suggested];
  buf->len = suggested;
}

}  // namespace haserf::net
