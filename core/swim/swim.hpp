// SPDX-License-Identifier: MIT
// Door of the swim room: the memberlist state machine and what it plugs into.
#pragma once

#include "core/swim/broadcast_queue.hpp"
#include "core/swim/delegate.hpp"
#include "core/swim/memberlist.hpp"
#include "core/swim/scheduler.hpp"
