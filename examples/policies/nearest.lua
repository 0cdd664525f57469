-- SPDX-License-Identifier: MIT
-- nearest.lua: route to the members nearest to this HAProxy by estimated round trip time.
-- Load with `lua-load-per-thread` (see nearest.cfg and docs/policies.md).
--
-- Every member's network coordinate (Vivaldi, as serf computes it; learnt from the gossip
-- probes) predicts its round trip time from us: haserf.members() carries it as `rtt_ms`. No
-- balancer measures this for every server without probing each one itself.
--
-- Fetches (all return "" when nothing fits; rules test `-m len gt 0`):
--
--   lua.haserf_nearest_slot(BACKEND[,K[,MAX_MS]])
--       server-template slot (in BACKEND) of a member drawn at random among the K (default
--       2) nearest members that hold a slot, ignoring members estimated farther than MAX_MS
--       (default: no bound). "" when no such member has a coordinate yet (a fresh start, or
--       peers that disable coordinates): HAProxy's own balancing then serves every slot.
--
--   lua.haserf_nearest_ip([SELECT[,K[,MAX_MS]]])
--       the same choice without slots, among the members matching SELECT ("k=v;k=v", default
--       HASERF_SELECT or role=backend): the member's IP, its service port in txn.haserf_port.
--
-- Estimates move a little with every probe; they are re-read at most once a second per
-- thread (HASERF_NEAREST_REFRESH_MS), so a request costs a table lookup and a short sort of
-- the candidates. Drawing among K > 1 spreads load over near peers instead of piling it on
-- the single nearest one.

local M = {}

-- entries: array; rtt_of(entry) -> ms or nil. The K nearest with an estimate (within max_ms),
-- nearest first.
function M.nearest(entries, rtt_of, k, max_ms)
  local known = {}
  for _, e in ipairs(entries) do
    local r = rtt_of(e)
    if r and r == r and (not max_ms or r <= max_ms) then known[#known + 1] = {e = e, rtt = r} end
  end
  table.sort(known, function(a, b) return a.rtt < b.rtt end)
  local out = {}
  for i = 1, math.min(k, #known) do out[i] = known[i].e end
  return out
end

-- One of the K nearest, at random; nil when none has an estimate.
function M.pick(entries, rtt_of, k, max_ms)
  local near = M.nearest(entries, rtt_of, k, max_ms)
  if #near == 0 then return nil end
  return near[math.random(#near)]
end

local function number_arg(v, default, what)
  if v == nil or v == "" then return default end
  local n = tonumber(v)
  if not n or n <= 0 then error(what .. " must be a positive number, got " .. tostring(v)) end
  return n
end

if core then   -- inside HAProxy (the file is also loaded by a plain-Lua test)
  local P = require "haserf_policy"
  local haserf = require "haserf"
  local REFRESH_MS = math.tointeger(tonumber(os.getenv("HASERF_NEAREST_REFRESH_MS") or "")) or 1000

  -- member name -> rtt_ms, re-read at most every REFRESH_MS.
  local rtt = {read_at = nil, of = {}}
  local function rtt_of_name(name)
    local t = P.now_ms()
    if rtt.read_at == nil or t - rtt.read_at >= REFRESH_MS then
      local of = {}
      for _, m in ipairs(haserf.members({self = false})) do of[m.name] = m.rtt_ms end
      rtt = {read_at = t, of = of}
    end
    return rtt.of[name]
  end

  -- The chosen member's estimate goes to txn.haserf_rtt_ms (for a header or a log line).
  local function choose(txn, entries, name_of, k, max_ms)
    local e = M.pick(entries, function(x) return rtt_of_name(name_of(x)) end,
                     math.floor(number_arg(k, 2, "K")), number_arg(max_ms, nil, "MAX_MS"))
    if e then txn:set_var("txn.haserf_rtt_ms", string.format("%.3f", rtt_of_name(name_of(e)))) end
    return e
  end

  P.fetch("haserf_nearest_slot", function(txn, backend, k, max_ms)
    if not backend or backend == "" then return nil end
    local entries = P.slot_derived(backend, "nearest", function(slot_of)
      return P.with_slots(slot_of, P.selected(P.backend_select_text(backend)))
    end)
    local e = choose(txn, entries, function(x) return x.member.name end, k, max_ms)
    return e and e.slot
  end)

  P.fetch("haserf_nearest_ip", function(txn, select, k, max_ms)
    local sel = (select and select ~= "") and select or P.default_select_text
    local m = choose(txn, P.selected(sel), function(x) return x.name end, k, max_ms)
    return m and P.dst(txn, m)
  end)
end

return M
