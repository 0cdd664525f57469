-- SPDX-License-Identifier: MIT
-- examples/policies/nearest.lua's choice, without HAProxy: the K nearest with an estimate,
-- the bound, members without an estimate never chosen.
local T = require "testlib"
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "../../../examples/policies/?.lua;" .. package.path
local nearest = require "nearest"

local members = {{name = "a", rtt = 3.0}, {name = "b", rtt = 0.5}, {name = "c"},
                 {name = "d", rtt = 1.2}, {name = "e", rtt = 0 / 0}}
local function rtt_of(m) return m.rtt end
local function names(list)
  local out = {}
  for i, m in ipairs(list) do out[i] = m.name end
  return table.concat(out, " ")
end
T.eq("the 2 nearest, nearest first", names(nearest.nearest(members, rtt_of, 2)), "b d")
T.eq("K larger than the known: every member with an estimate", names(nearest.nearest(members, rtt_of, 9)), "b d a")
T.eq("the bound leaves out the far ones", names(nearest.nearest(members, rtt_of, 9, 1.5)), "b d")
T.eq("nothing within the bound: nothing", #nearest.nearest(members, rtt_of, 2, 0.1), 0)
local seen = {}
for _ = 1, 200 do seen[nearest.pick(members, rtt_of, 2).name] = true end
T.check("pick draws among the K nearest only, both of them", seen.b and seen.d and not seen.a and not seen.c and not seen.e)
T.eq("pick without any estimate: nil", nearest.pick({{name = "x"}}, rtt_of, 2), nil)
T.finish()
