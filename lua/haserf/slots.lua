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
             failed_at = {}, wanted = 0, unplaced = 0}
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
  end
  local w = member_weight(b, slot, m, ctx)
  if ap.weight ~= w then
    srv:set_weight(tostring(w))
    ap.weight = w
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

-- Brings one backend in line with `members` (haserf.members(): name, addr, status, tags,
-- rejected). ctx: port_tag, weight_tag, default_port, drain_ms, log(level, fmt, ...),
-- rejected(backend, member) (called for every rejected selected member), partial (the member
-- list may be incomplete: a slot whose member is absent keeps it), panic_threshold (percent,
-- 0 or nil = no isolation guard; b.guarded = how many failed members it keeps, or nil). Returns true while some
-- slot waits for something (an address to apply, a drain to end): call again soon even if
-- the membership did not change.
function M.sync(b, members, now, ctx)
  local seen, alive, pending, failed = {}, 0, {}, {}
  for _, m in ipairs(members) do
    if matches(m, b.select) then
      seen[m.name] = true
      local slot = b.slot_of[m.name]
      local st = m.status
      if m.rejected then
        if ctx.rejected then ctx.rejected(b, m) end
        if slot then free(b, slot, "rejected (" .. m.rejected .. ")", ctx) end
      elseif st == "alive" or st == "suspect" then
        if st == "alive" then alive = alive + 1 end
        if slot then
          b.draining[slot] = nil
          b.unconfirmed[slot] = nil
          assign(b, slot, m, ctx)
        elseif st == "alive" then
          pending[#pending + 1] = m
        end
      elseif st == "leaving" or st == "left" then
        if slot then start_drain(b, slot, m, now, st, ctx) end
      elseif slot then  -- failed, none: nothing to wait for (unless the guard says so)
        failed[#failed + 1] = {slot = slot, status = st, m = m}
      elseif st == "failed" and now - (b.failed_at[m.name] or -math.huge) < M.GUARD_WINDOW_MS then
        failed[#failed + 1] = {status = st, m = m}  -- freed a moment ago: the guard may bring it back
      end
    end
  end
  -- The isolation guard (Envoy's panic threshold): when fewer than panic_threshold % of the
  -- members that hold or want a slot are alive, the failures more likely mean that *we* are
  -- cut off from the cluster than that most backends died at once. The failed ones keep
  -- their slots and routing; HAProxy's health checks decide, not the gossip view. A cut-off
  -- balancer sees its peers fail one by one over seconds: those freed in the last
  -- GUARD_WINDOW_MS count too, and get a slot back when the guard turns on.
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
      b.draining[f.slot] = nil
      b.unconfirmed[f.slot] = nil
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
  -- Members gone from the table (reaped). While the view is partial (just started, not yet
  -- synced with the cluster), a restored slot keeps its member.
  for slot, name in pairs(b.member_of) do
    if not seen[name] then
      if ctx.partial then
        b.unconfirmed[slot] = true
      elseif not b.draining[slot] then
        free(b, slot, "removed", ctx)
      end
    end
  end
  -- Drains end after the grace, or as soon as the slot has no session left.
  for slot, d in pairs(b.draining) do
    if now - d.since >= ctx.drain_ms or sessions(b, slot) == 0 then
      free(b, slot, d.why .. ", drained", ctx)
    end
  end
  -- New members take free slots in order, then the failed members the guard brings back.
  local alive_pending = #pending
  for _, m in ipairs(readmit) do pending[#pending + 1] = m end
  local i = 1
  for _, slot in ipairs(b.slots) do
    if i > #pending then break end
    if not b.member_of[slot] then
      local m = pending[i]
      b.member_of[slot] = m.name
      b.slot_of[m.name] = slot
      local waiting = assign(b, slot, m, ctx)
      ctx.log("notice", "%s/%s: member %s (%s:%d) %s: %s", b.name, slot, m.name, m.addr,
              M.member_port(m, ctx), i > alive_pending and "back in its slot (isolation guard)" or "joined",
              waiting and "ready once the address applies" or "ready")
      i = i + 1
    end
  end
  if i - 1 > alive_pending then i = alive_pending + 1 end  -- unplaced counts alive members only
  for _, slot in ipairs(b.slots) do
    if not b.member_of[slot] then set_state(b, slot, "maint") end
  end
  b.wanted = alive
  local unplaced = alive_pending - (i - 1)
  if unplaced > 0 and unplaced ~= b.unplaced then
    ctx.log("warn", "%s: %d alive members have no free slot (%d slots)", b.name, unplaced, #b.slots)
  end
  b.unplaced = unplaced
  local busy = next(b.draining) ~= nil
  for _, ap in pairs(b.applied) do
    if ap.confirmed == false and ap.state ~= "ready" then busy = true end
  end
  return busy
end

-- ---- the slot table as text, handed to the next worker (haserf.set_app_state) ----------

local function esc(s) return (tostring(s or ""):gsub("[\t\n\\]", {["\t"] = "\\t", ["\n"] = "\\n", ["\\"] = "\\\\"})) end
local function unesc(s) return (s:gsub("\\(.)", {t = "\t", n = "\n", ["\\"] = "\\"})) end
M.escape, M.unescape = esc, unesc

-- "S <tab> backend <tab> slot <tab> member <tab> addr <tab> port <tab> weight <tab> state"
function M.export(backends, order)
  local out = {}
  for _, bname in ipairs(order) do
    local b = backends[bname]
    for _, slot in ipairs(b.slots) do
      local m, ap = b.member_of[slot], b.applied[slot]
      if m and ap.addr then
        out[#out + 1] = table.concat({"S", esc(bname), esc(slot), esc(m), esc(ap.addr),
                                      tostring(ap.port), tostring(ap.weight or ""),
                                      b.draining[slot] and "drain" or (ap.state or "maint")}, "\t")
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
