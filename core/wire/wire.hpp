// SPDX-License-Identifier: MIT
// Door of core/wire: pure functions from bytes to memberlist/serf messages and back
// (docs/serf-wire-protocol.md). No sockets, clocks or threads.
#pragma once

#include "core/wire/codec.hpp"
#include "core/wire/crypto.hpp"
#include "core/wire/go_traps.hpp"
#include "core/wire/limits.hpp"
#include "core/wire/lzw.hpp"
#include "core/wire/messages.hpp"
#include "core/wire/packet.hpp"
#include "core/wire/stream.hpp"
