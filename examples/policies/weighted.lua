-- SPDX-License-Identifier: MIT
-- weighted.lua: random pick weighted by the members' `weight` tag.
-- Load with `lua-load-per-thread` (see weighted.cfg and docs/policies.md).
--
-- Fetches (all return "" when nothing fits; rules test `-m len gt 0`):
--
--   lua.haserf_weighted_ip([SELECT])
--       a member matching SELECT ("k=v;k=v", default HASERF_SELECT or role=backend), drawn at
--       random with probability weight / sum of weights (tag `weight`, HASERF_WEIGHT_TAG:
--       integer, absent or invalid = 1, 0 = never). Returns its IP and leaves its service port
--       (tag `port`) in txn.haserf_port: `set-dst var(...)` + `set-dst-port var(txn.haserf_port)`
--       in a backend with `server any 0.0.0.0:0`. "" when no member has a weight > 0.
--
--   lua.haserf_weighted_slot(BACKEND)
--       the same draw among the members that occupy a server-template slot of BACKEND: the
--       slot name, for `use-server %[var(...)]`. (With slots, `balance roundrobin` already
--       honours the same weights, which the glue copies into each slot: this fetch is there
--       to be combined with other conditions.)

local P = require "haserf_policy"

-- Cumulative weights: {total=, cum={...}, items={...}}, built once per version.
local function cumulative(items, weight_of)
  local cum, list, total = {}, {}, 0
  for _, it in ipairs(items) do
    local w = weight_of(it)
    if w > 0 then
      total = total + w
      list[#list + 1] = it
      cum[#cum + 1] = total
    end
  end
  return {total = total, cum = cum, items = list}
end

-- Binary search of a random point in [1, total].
local function draw(t)
  if t.total <= 0 then return nil end
  local r = math.random(t.total)
  local lo, hi = 1, #t.cum
  while lo < hi do
    local mid = (lo + hi) // 2
    if t.cum[mid] >= r then hi = mid else lo = mid + 1 end
  end
  return t.items[lo]
end

P.fetch("haserf_weighted_ip", function(txn, select)
  local sel = (select and select ~= "") and select or P.default_select_text
  local t = P.derived("weighted|" .. sel, function()
    return cumulative(P.selected(sel), P.member_weight)
  end)
  local m = draw(t)
  return m and P.dst(txn, m)
end)

P.fetch("haserf_weighted_slot", function(txn, backend)
  if not backend or backend == "" then return nil end
  local t = P.slot_derived(backend, "weighted", function(slot_of)
    local entries = P.with_slots(slot_of, P.selected(P.backend_select_text(backend)))
    return cumulative(entries, function(e) return P.member_weight(e.member) end)
  end)
  local e = draw(t)
  return e and e.slot
end)
