// SPDX-License-Identifier: MIT
// Door of the table room: the membership table, snapshots, change events, serf JSON.
#pragma once

#include "core/table/member_policy.hpp"
#include "core/table/members_json.hpp"
#include "core/table/membership_table.hpp"
