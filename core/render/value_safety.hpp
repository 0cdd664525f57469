// SPDX-License-Identifier: MIT
// Which operator-given values may be interpolated into an HAProxy config line. Members are
// judged by the table's MemberPolicy (core/table/member_policy.hpp), the same for every
// consumer; variables come from the operator, not the network.
#pragma once

#include <string_view>

namespace haserf::render {

// User variables: only control characters (which would break the line structure) are refused.
bool is_safe_var_value(std::string_view s);

}  // namespace haserf::render
