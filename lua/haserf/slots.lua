-- SPDX-License-Identifier: MIT
-- haserf.slots: members into `server-template` slots, without reloads (docs/haproxy.md
-- "Slots"). Takes HAProxy Server objects (or test fakes with the same methods: set_addr,
-- get_addr, set_weight, get_weight, set_ready, set_drain, set_maint, get_stats) and never
-- touches `core`.
--
-- A backend's state, per slot: which member it serves (member_of / slot_of, stable across
-- changes), what was applied to the server (addr, port, weight, state), whether a new address
-- is still on its way (HAProxy 2.9+ applies set_addr asynchronously: a slot is made ready only
-- once get_addr() shows the new address) and, for a member that left, since when it drains.
local M = {}

-- Natural order: s2 < s10.
function M.natural_less(a, b)
  local pa, na = a:match("^(.-)(%d+)$")
  local pb, nb = b:match("^(.-)(%d+)$")
  if pa and pb and pa == pb then return tonumber(na) < tonumber(nb) end
  return a < b
end

-- Failed members freed this recently count for the isolation guard (see M.sync).
M.GUARD_WINDOW_MS = 60000

function M.new_backend(name, servers, select)
  local b = {name = name, select = select or {}, slots = {}, servers = {}, member_of = {},
             slot_of = {}, applied = {}, default_weight = {}, draining = {}, unconfirmed = {},
             failed_at = {}, wanted = 0, unplaced = 0, sel = {}, alive = 0, cand = {}, cand_n = 0,
             -- moves whenever what M.export shows of a slot may have changed
             revision = 0}
  for sname, srv in pairs(servers) do
    b.slots[#b.slots + 1] = sname
    b.servers[sname] = srv
    b.default_weight[sname] = tonumber(srv:get_weight()) or 1
    b.applied[sname] = {}
  end
  table.sort(b.slots, M.natural_less)
  return b
end

local function matches(m, sel)
  for k, v in pairs(sel) do
    if not m.tags or m.tags[k] ~= v then return false end
  end
  return true
end
M.matches = matches

local function set_state(b, slot, state)
  local srv, ap = b.servers[slot], b.applied[slot]
  if ap.state == state then return false end
  if state == "ready" then srv:set_ready()
  elseif state == "drain" then srv:set_drain()
  else srv:set_maint() end
  ap.state = state
  b.revision = b.revision + 1
  return true
end

-- The port and weight a member's tags give (the table's policy already rejected bad values).
function M.member_port(m, ctx)
  return math.tointeger(tonumber(m.tags and m.tags[ctx.port_tag])) or ctx.default_port
end

local function member_weight(b, slot, m, ctx)
  return math.tointeger(tonumber(m.tags and m.tags[ctx.weight_tag])) or b.default_weight[slot]
end

-- HAProxy has applied this address to the server (2.9+ applies set_addr a little later).
local function shows(srv, addr, port) return srv:get_addr() == addr .. ":" .. tostring(port) end

local function free(b, slot, why, ctx)
  local m = b.member_of[slot]
  set_state(b, slot, "maint")
  b.revision = b.revision + 1
  b.draining[slot] = nil
  b.unconfirmed[slot] = nil
  if m then
    b.slot_of[m] = nil
    b.member_of[slot] = nil
    ctx.log("notice", "%s/%s: member %s %s: slot freed (maint)", b.name, slot, m, why)
  end
end

-- Points a slot at `m` (address, port, weight) and makes it ready once HAProxy applied the
-- address. Returns true while the address is still on its way.
local function assign(b, slot, m, ctx)
  local srv, ap = b.servers[slot], b.applied[slot]
  local port = M.member_port(m, ctx)
  if ap.addr ~= m.addr or ap.port ~= port then
    -- A change asked for earlier may still be on its way (2.9+): the address shown now could
    -- be replaced by it, so the new one must show in two looks, a sync apart.
    ap.in_flight = ap.addr ~= nil and ap.confirmed == false
    srv:set_addr(m.addr, port)  -- returns a message, not a status: not checked
    ap.addr, ap.port, ap.confirmed = m.addr, port, false
    b.revision = b.revision + 1
  end
  local w = member_weight(b, slot, m, ctx)
  if ap.weight ~= w then
    srv:set_weight(tostring(w))
    ap.weight = w
    b.revision = b.revision + 1
  end
  if not ap.confirmed then
    if not shows(srv, m.addr, port) then
      set_state(b, slot, "maint")  -- never a request to the previous address
      -- Asked again while it waits: 2.9+ compares a new address with the applied one, so a
      -- member that moved back to it while a change was pending would otherwise never be.
      srv:set_addr(m.addr, port)
      return true
    end
    if ap.in_flight then
      ap.in_flight = false
      set_state(b, slot, "maint")
      return true
    end
    ap.confirmed = true
  end
  set_state(b, slot, "ready")
  return false
end

local function start_drain(b, slot, m, now, why, ctx)
  if not b.draining[slot] then
    b.draining[slot] = {since = now, why = why}
    b.revision = b.revision + 1
    if set_state(b, slot, "drain") then
      ctx.log("notice", "%s/%s: member %s %s: draining (grace %d ms)", b.name, slot, m.name, why,
              ctx.drain_ms)
    end
  end
end

local function sessions(b, slot)
  local ok, st = pcall(b.servers[slot].get_stats, b.servers[slot])
  return ok and type(st) == "table" and tonumber(st.scur) or nil
end

-- ---- what a backend knows of its members -------------------------------------------------
-- b.sel: name -> member, the selected members (matching b.select) as last reported, kept up to
-- date from changes (M.update), so a sync costs what changed plus the backend's slots, never
-- a walk of the whole cluster. b.alive: how many of them are alive and not rejected (the
-- isolation guard's and reload's count). b.cand: names of those alive, not rejected and
-- without a slot (the members waiting for one), b.cand_n their number.

local function wants_slot(b, name)
  local m = b.sel[name]
  return m ~= nil and not m.rejected and m.status == "alive" and b.slot_of[name] == nil
end

local function counts_alive(m) return m ~= nil and not m.rejected and m.status == "alive" end

-- Files `name` as a candidate or not, after its member or its slot changed.
local function classify(b, name)
  local want = wants_slot(b, name)
  if want and not b.cand[name] then
    b.cand[name], b.cand_n = true, b.cand_n + 1
  elseif not want and b.cand[name] then
    b.cand[name], b.cand_n = nil, b.cand_n - 1
  end
end

-- Takes in changed members (any, selected or not) and removed names. Returns the set of
-- their names.
local function take_in(b, changed, removed, ctx)
  local touched = {}
  for _, name in ipairs(removed) do
    touched[name] = true
    if counts_alive(b.sel[name]) then b.alive = b.alive - 1 end
    b.sel[name] = nil
    classify(b, name)
  end
  for _, m in ipairs(changed) do
    touched[m.name] = true
    local old = b.sel[m.name]
    local new = matches(m, b.select) and m or nil
    if counts_alive(old) then b.alive = b.alive - 1 end
    if counts_alive(new) then b.alive = b.alive + 1 end
    b.sel[m.name] = new
    classify(b, m.name)
    if new and new.rejected and ctx.rejected then ctx.rejected(b, new) end
  end
  return touched
end

-- A slot with nothing to do: its member did not change, is routed, and its address, weight
-- and state are applied (what assign() would find).
local function settled(b, slot, m, touched)
  if touched[m.name] or m.rejected or (m.status ~= "alive" and m.status ~= "suspect") then return false end
  local ap = b.applied[slot]
  return ap.confirmed == true and ap.state == "ready" and not b.draining[slot] and not b.unconfirmed[slot]
end

-- The first `k` names of `set` in name order (the members that wait longest alphabetically
-- come first, as in a full list): a selection when few are wanted, else a sort.
local function first_names(set, n, k)
  local out = {}
  if k <= 0 then return out end
  if k >= n or k > 8 then
    for name in pairs(set) do out[#out + 1] = name end
    table.sort(out)
    for i = #out, k + 1, -1 do out[i] = nil end
    return out
  end
  local taken = {}
  for i = 1, k do
    local best
    for name in pairs(set) do
      if not taken[name] and (best == nil or name < best) then best = name end
    end
    if best == nil then break end
    taken[best], out[i] = true, best
  end
  return out
end

-- Brings one backend in line with its members. `changed`: members (haserf.members() fields:
-- name, addr, status, tags, rejected) new or changed since the last call, selected or not;
-- `removed`: names gone from the table. ctx: port_tag, weight_tag, default_port, drain_ms,
-- log(level, fmt, ...), rejected(backend, member) (called for every changed rejected
-- selected member), partial (the member list may be incomplete: a slot whose member is absent
-- keeps it), panic_threshold (percent, 0 or nil = no isolation guard; b.guarded = how many
-- failed members it keeps, or nil). Returns true while some slot waits for something (an
-- address to apply, a drain to end): call again soon even if the membership did not change.
function M.update(b, changed, removed, now, ctx)
  local touched = take_in(b, changed or {}, removed or {}, ctx)
  local failed = {}
  -- The members with a slot, in slot order: O(slots), whatever the cluster's size; a settled
  -- slot whose member did not change is passed over.
  for _, slot in ipairs(b.slots) do
    local name = b.member_of[slot]
    local m = name and b.sel[name]
    if m and settled(b, slot, m, touched) then
      m, name = nil, nil  -- nothing to do
    end
    if m then
      local st = m.status
      if m.rejected then
        free(b, slot, "rejected (" .. m.rejected .. ")", ctx)
      elseif st == "alive" or st == "suspect" then
        if b.draining[slot] then b.draining[slot], b.revision = nil, b.revision + 1 end
        b.unconfirmed[slot] = nil
        assign(b, slot, m, ctx)
      elseif st == "leaving" or st == "left" then
        start_drain(b, slot, m, now, st, ctx)
      else  -- failed, none: nothing to wait for (unless the guard says so)
        failed[#failed + 1] = {slot = slot, status = st, m = m}
      end
    elseif name then
      -- Gone from the table (reaped), or no longer selected. While the view is partial (just
      -- started, not yet synced with the cluster), a restored slot keeps its member.
      if ctx.partial then
        b.unconfirmed[slot] = true
      elseif not b.draining[slot] then
        free(b, slot, "removed", ctx)
      end
    end
  end
  -- Failed members freed a moment ago (at most a few slots' worth), in name order: the guard
  -- may bring them back.
  local recent = {}
  for name, t in pairs(b.failed_at) do
    local m = b.sel[name]
    if m and not m.rejected and m.status == "failed" and not b.slot_of[name]
       and now - t < M.GUARD_WINDOW_MS then
      recent[#recent + 1] = name
    end
  end
  table.sort(recent)
  for _, name in ipairs(recent) do failed[#failed + 1] = {status = "failed", m = b.sel[name]} end
  -- The isolation guard (Envoy's panic threshold): when fewer than panic_threshold % of the
  -- members that hold or want a slot are alive, the failures more likely mean that *we* are
  -- cut off from the cluster than that most backends died at once. The failed ones keep
  -- their slots and routing; HAProxy's health checks decide, not the gossip view. A cut-off
  -- balancer sees its peers fail one by one over seconds: those freed in the last
  -- GUARD_WINDOW_MS count too, and get a slot back when the guard turns on.
  local alive = b.alive
  local threshold = ctx.panic_threshold or 0
  local guard = threshold > 0 and #failed > 0 and alive * 100 < threshold * (alive + #failed)
  if guard ~= (b.guarded ~= nil) then
    if guard then
      b.guard_activations = (b.guard_activations or 0) + 1
      ctx.log("warn", "%s: isolation guard on: %d of %d members failed (more than %d%%): " ..
              "they keep their slots and health checks decide (HASERF_PANIC_THRESHOLD)",
              b.name, #failed, alive + #failed, 100 - threshold)
    else
      ctx.log("notice", "%s: isolation guard off: %d members alive, %d failed", b.name, alive, #failed)
    end
  end
  b.guarded = guard and #failed or nil
  local readmit = {}
  for _, f in ipairs(failed) do
    if guard and f.slot then
      if b.draining[f.slot] then b.draining[f.slot], b.revision = nil, b.revision + 1 end
      b.unconfirmed[f.slot] = nil
      -- Kept routed: a member brought back into a slot that last held another one waits for
      -- its address (2.9+ applies it later); without this it would stay in maintenance for
      -- as long as the guard is on (found by faults.partition.3.0).
      assign(b, f.slot, f.m, ctx)
    elseif guard then
      readmit[#readmit + 1] = f.m
    elseif f.slot then
      free(b, f.slot, f.status, ctx)
      -- This failure's time: a member that failed before, came back and failed again may
      -- still have the older entry (it is only dropped by a later sync that sees it in its
      -- slot), which would leave it out of the guard's window too early.
      b.failed_at[f.m.name] = now
    end
  end
  for name, t in pairs(b.failed_at) do
    if now - t >= M.GUARD_WINDOW_MS or b.slot_of[name] then b.failed_at[name] = nil end
  end
  -- Drains end after the grace, or as soon as the slot has no session left.
  for slot, d in pairs(b.draining) do
    if now - d.since >= ctx.drain_ms or sessions(b, slot) == 0 then
      free(b, slot, d.why .. ", drained", ctx)
    end
  end
  -- Freed slots' members may be candidates again (a rejected one is not; a drained one left).
  for _, f in ipairs(failed) do classify(b, f.m.name) end
  -- New members take free slots in name order, then the failed members the guard brings back.
  local free_slots = {}
  for _, slot in ipairs(b.slots) do
    if not b.member_of[slot] then free_slots[#free_slots + 1] = slot end
  end
  local pending = {}
  for _, name in ipairs(first_names(b.cand, b.cand_n, #free_slots)) do pending[#pending + 1] = b.sel[name] end
  local alive_pending = #pending
  for _, m in ipairs(readmit) do pending[#pending + 1] = m end
  local placed = 0
  for i, m in ipairs(pending) do
    local slot = free_slots[i]
    if not slot then break end
    b.member_of[slot] = m.name
    b.slot_of[m.name] = slot
    b.revision = b.revision + 1
    classify(b, m.name)
    local waiting = assign(b, slot, m, ctx)
    ctx.log("notice", "%s/%s: member %s (%s:%d) %s: %s", b.name, slot, m.name, m.addr,
            M.member_port(m, ctx), i > alive_pending and "back in its slot (isolation guard)" or "joined",
            waiting and "ready once the address applies" or "ready")
    placed = i
  end
  for _, slot in ipairs(b.slots) do
    if not b.member_of[slot] then set_state(b, slot, "maint") end
  end
  b.wanted = alive
  local unplaced = b.cand_n
  if unplaced > 0 and unplaced ~= b.unplaced then
    ctx.log("warn", "%s: %d alive members have no free slot (%d slots)", b.name, unplaced, #b.slots)
  end
  b.unplaced = unplaced
  local busy = next(b.draining) ~= nil
  for _, ap in pairs(b.applied) do
    if ap.confirmed == false and ap.state ~= "ready" then busy = true end
  end
  return busy, placed
end

-- The same from a complete member list (what haserf.members() returns): members missing from
-- it are removed. O(members): for tests and callers without a watch.
function M.sync(b, members, now, ctx)
  local present, removed = {}, {}
  for _, m in ipairs(members) do present[m.name] = true end
  for name in pairs(b.sel) do
    if not present[name] then removed[#removed + 1] = name end
  end
  return M.update(b, members, removed, now, ctx)
end

-- ---- the slot table as text, handed to the next worker (haserf.set_app_state) ----------

local function esc(s) return (tostring(s or ""):gsub("[\t\n\\]", {["\t"] = "\\t", ["\n"] = "\\n", ["\\"] = "\\\\"})) end
local function unesc(s) return (s:gsub("\\(.)", {t = "\t", n = "\n", ["\\"] = "\\"})) end
M.escape, M.unescape = esc, unesc

-- "S <tab> backend <tab> slot <tab> member <tab> addr <tab> port <tab> weight <tab> state"
-- Each line is kept with the values it was made from and made again only when one of them
-- changed: the glue exports after every sync, and escaping every slot each time cost more
-- than the sync itself.
function M.export(backends, order)
  local out = {}
  for _, bname in ipairs(order) do
    local b = backends[bname]
    b.lines = b.lines or {}
    for _, slot in ipairs(b.slots) do
      local m, ap = b.member_of[slot], b.applied[slot]
      if m and ap.addr then
        local state = b.draining[slot] and "drain" or (ap.state or "maint")
        local c = b.lines[slot]
        if not (c and c.m == m and c.addr == ap.addr and c.port == ap.port and c.weight == ap.weight
                and c.state == state) then
          c = {m = m, addr = ap.addr, port = ap.port, weight = ap.weight, state = state,
               line = table.concat({"S", esc(bname), esc(slot), esc(m), esc(ap.addr), tostring(ap.port),
                                    tostring(ap.weight or ""), state}, "\t")}
          b.lines[slot] = c
        end
        out[#out + 1] = c.line
      end
    end
  end
  return out
end

-- A restored slot gets its restored state (ready, drain) once its address shows. Returns true
-- while it still waits. A slot that sync() confirmed meanwhile keeps what sync() gave it.
local function settle_restored(b, slot, now, ctx)
  local ap = b.applied[slot]
  if not ap.restore_state then return false end
  if not ap.confirmed then
    if not shows(b.servers[slot], ap.addr, ap.port) then return true end
    ap.confirmed = true
    local name = b.member_of[slot]
    if ap.restore_state == "drain" and name then
      start_drain(b, slot, {name = name}, now, "left", ctx)
    elseif ap.restore_state == "ready" then
      set_state(b, slot, "ready")
    end
  end
  ap.restore_state = nil
  return false
end

-- Applies slot lines from M.export of the previous worker, for slots that still exist.
-- Returns how many slots were restored.
function M.restore(backends, lines, now, ctx)
  local n = 0
  for _, line in ipairs(lines) do
    local f = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = unesc(field) end
    local b = f[1] == "S" and backends[f[2]]
    local slot = b and f[3]
    if b and b.servers[slot] and not b.member_of[slot] and not b.slot_of[f[4]] then
      local port, weight = math.tointeger(tonumber(f[6])), math.tointeger(tonumber(f[7]))
      if port then
        local m = {name = f[4], addr = f[5], tags = {}}
        b.member_of[slot], b.slot_of[m.name] = m.name, slot
        b.revision = b.revision + 1
        local srv, ap = b.servers[slot], b.applied[slot]
        srv:set_addr(m.addr, port)
        ap.addr, ap.port = m.addr, port
        if weight and weight ~= ap.weight then
          srv:set_weight(tostring(weight))
          ap.weight = weight
        end
        -- Up to 2.8 the address is applied at once (init runs before any traffic). 2.9+
        -- applies it in the worker's first scheduler turns: until get_addr() shows it, the
        -- slot stays in maintenance (a ready slot would send requests and health checks to
        -- the template's placeholder address, and a failed check marks it down for `inter`).
        ap.confirmed, ap.restore_state = false, f[8]
        settle_restored(b, slot, now, ctx)
        b.unconfirmed[slot] = true
        n = n + 1
      end
    end
  end
  return n
end

-- Restored slots whose address HAProxy (2.9+) has not applied yet: each gets its restored
-- state as soon as get_addr() shows the address. Returns true while some are still waiting
-- (the caller looks again at once, yielding in between).
function M.confirm_restored(backends, now, ctx)
  local waiting = false
  for _, b in pairs(backends) do
    for slot in pairs(b.applied) do
      if settle_restored(b, slot, now, ctx) then waiting = true end
    end
  end
  return waiting
end

-- One row per slot, for pages and the CLI.
function M.rows(backends, order)
  local rows = {}
  for _, bname in ipairs(order) do
    local b = backends[bname]
    for _, slot in ipairs(b.slots) do
      local ap = b.applied[slot]
      rows[#rows + 1] = {backend = bname, slot = slot, member = b.member_of[slot],
                         state = b.draining[slot] and "drain" or ap.state or "maint",
                         addr = ap.addr and (ap.addr .. ":" .. tostring(ap.port)) or "",
                         weight = ap.weight, unconfirmed = b.unconfirmed[slot] or nil}
    end
  end
  return rows
end

function M.used(b)
  local n = 0
  for _ in pairs(b.member_of) do n = n + 1 end
  return n
end

return M
