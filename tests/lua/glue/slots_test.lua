-- SPDX-License-Identifier: MIT
-- haserf.slots with fake servers: assignment, stable mapping, drains, rejection, asynchronous
-- addresses, a partial view, and the slot table handed to the next worker.
local T = require "testlib"
local F = require "fakes"
local slots = require "haserf.slots"

local logs = {}
local function ctx(extra)
  local c = {port_tag = "port", weight_tag = "weight", default_port = 80, drain_ms = 5000,
             partial = false, rejected = function(b, m) logs[#logs + 1] = "rejected " .. m.name end,
             log = function(level, fmt, ...) logs[#logs + 1] = level .. " " .. string.format(fmt, ...) end}
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end
local function logged(part)
  for _, l in ipairs(logs) do if l:find(part, 1, true) then return true end end
  return false
end

T.check("natural order: s2 before s10", slots.natural_less("s2", "s10"))

local servers = F.servers(10)
local b = slots.new_backend("nodes", servers, {role = "backend"})
T.eq("slots sorted naturally", table.concat(b.slots, ","), "s1,s2,s3,s4,s5,s6,s7,s8,s9,s10")

-- Joins fill slots in order; the port and weight come from tags.
local a = F.member("a", "10.0.0.1", "alive", {role = "backend", port = "3000", weight = "7"})
local c = F.member("c", "10.0.0.3")
local other = F.member("lb2", "10.0.0.9", "alive", {role = "lb"})
slots.sync(b, {a, c, other}, 0, ctx())
T.eq("a takes s1", b.slot_of.a, "s1")
T.eq("c takes s2", b.slot_of.c, "s2")
T.eq("a non-selected member takes no slot", b.slot_of.lb2, nil)
T.eq("s1 points at a's port", servers.s1:get_addr(), "10.0.0.1:3000")
T.eq("s1 has a's weight", servers.s1.weight, 7)
T.eq("s1 is ready", servers.s1.state, "ready")
T.eq("free slots stay in maintenance", servers.s3.state, "maint")
T.eq("c without a weight tag keeps the slot's weight", servers.s2.weight, 1)

-- Mapping is stable: a new member never moves the others.
local bb = F.member("b", "10.0.0.2")
slots.sync(b, {bb, a, c}, 10, ctx())
T.eq("a keeps s1", b.slot_of.a, "s1")
T.eq("c keeps s2", b.slot_of.c, "s2")
T.eq("b takes the next free slot", b.slot_of.b, "s3")

-- A rejected member is routed nowhere (never on a default port), and says why once per sync.
local bad = F.member("bad", "10.0.0.4", "alive", {role = "backend", port = "abc"},
                     "field tags.port is not a port (1-65535): \"abc\"")
slots.sync(b, {bb, a, c, bad}, 20, ctx())
T.eq("a rejected member takes no slot", b.slot_of.bad, nil)
T.check("the glue is told about the rejection", logged("rejected bad"))
-- A member that becomes rejected loses its slot.
local c_bad = F.member("c", "10.0.0.3", "alive", {role = "backend", port = "x"}, "field tags.port is not a port")
slots.sync(b, {bb, a, c_bad}, 30, ctx())
T.eq("a member rejected later loses its slot", b.slot_of.c, nil)
T.eq("its slot goes to maintenance", servers.s2.state, "maint")
T.check("the freeing is logged with the reason", logged("member c rejected (field tags.port is not a port): slot freed"))

-- Graceful leave: drain, then maintenance once the grace is over (or no session is left).
servers.s3.scur = 2
slots.sync(b, {F.member("b", "10.0.0.2", "leaving"), a}, 100, ctx())
T.eq("leaving: the slot drains", servers.s3.state, "drain")
T.eq("the member keeps its slot while draining", b.slot_of.b, "s3")
local busy = slots.sync(b, {F.member("b", "10.0.0.2", "left"), a}, 200, ctx())
T.check("sync says it wants another look while draining", busy)
T.eq("left: still draining inside the grace", servers.s3.state, "drain")
slots.sync(b, {F.member("b", "10.0.0.2", "left"), a}, 100 + 5000, ctx())
T.eq("after the grace: maintenance", servers.s3.state, "maint")
T.eq("the slot is free again", b.member_of.s3, nil)
-- Sessions gone before the grace ends: maintenance at once.
slots.sync(b, {F.member("d", "10.0.0.5"), a}, 6000, ctx())
local sd = b.slot_of.d
servers[sd].scur = 1
slots.sync(b, {F.member("d", "10.0.0.5", "leaving"), a}, 6010, ctx())
T.eq("d drains", servers[sd].state, "drain")
servers[sd].scur = 0
slots.sync(b, {F.member("d", "10.0.0.5", "left"), a}, 6020, ctx())
T.eq("no session left: maintenance before the grace ends", servers[sd].state, "maint")

-- A failed member: maintenance at once (health checks already stopped traffic).
slots.sync(b, {F.member("a", "10.0.0.1", "failed", a.tags)}, 7000, ctx())
T.eq("failed: maintenance at once", servers.s1.state, "maint")
T.eq("failed: the slot is free", b.member_of.s1, nil)

-- HAProxy 2.9+: set_addr applies later; the slot is made ready only once it did.
local aservers = F.servers(2)
for _, s in pairs(aservers) do s.async = true end
local ab = slots.new_backend("api", aservers, {role = "backend"})
busy = slots.sync(ab, {F.member("x", "10.0.1.1")}, 0, ctx())
T.eq("async: not ready while the old address is in place", aservers.s1.state, "maint")
T.check("async: sync asks to be called again", busy)
aservers.s1:apply()
busy = slots.sync(ab, {F.member("x", "10.0.1.1")}, 10, ctx())
T.eq("async: ready once get_addr() shows the new address", aservers.s1.state, "ready")
T.check("async: nothing left to wait for", not busy)

-- A partial view (just started, restored slots): absent members keep their slots.
local rservers = F.servers(3)
local rb = slots.new_backend("nodes", rservers, {role = "backend"})
local backends = {nodes = rb}
local n = slots.restore(backends, {
  "S\tnodes\ts1\told1\t10.0.2.1\t3000\t5\tready",
  "S\tnodes\ts2\told2\t10.0.2.2\t3000\t1\tdrain",
  "S\tnodes\ts9\tgone\t10.0.2.9\t3000\t1\tready",  -- that slot no longer exists
  "H\t1700000000\trender\tok\tmsg",                -- not a slot line
}, 0, ctx())
T.eq("restore: two slots restored", n, 2)
T.eq("restore: s1 points at old1", rservers.s1:get_addr(), "10.0.2.1:3000")
T.eq("restore: s1 ready at once", rservers.s1.state, "ready")
T.eq("restore: s1 weight", rservers.s1.weight, 5)
T.eq("restore: s2 keeps draining", rservers.s2.state, "drain")
rservers.s2.scur = 3
slots.sync(rb, {F.member("new", "10.0.2.5")}, 10, ctx({partial = true}))
T.eq("partial view: old1 keeps s1", rb.slot_of.old1, "s1")
T.eq("partial view: a new member takes a free slot", rb.slot_of.new, "s3")
slots.sync(rb, {F.member("new", "10.0.2.5"), F.member("old1", "10.0.2.1", "alive", {role = "backend", port = "3000", weight = "5"})}, 20, ctx())
T.eq("full view: old1 confirmed, still s1", rb.slot_of.old1, "s1")
T.eq("full view: old1 is not marked unconfirmed", rb.unconfirmed.s1, nil)
slots.sync(rb, {F.member("new", "10.0.2.5")}, 30, ctx())
T.eq("full view: a member gone from the table frees its slot", rb.slot_of.old1, nil)

-- Export -> restore round trip, with names that need escaping.
local eservers = F.servers(2)
local eb = slots.new_backend("web\tx", eservers, {})
slots.sync(eb, {F.member("n\\1", "10.0.3.1", "alive", {port = "8080"})}, 0, ctx())
local lines = slots.export({["web\tx"] = eb}, {"web\tx"})
T.eq("export: one line per used slot", #lines, 1)
local fresh = F.servers(2)
local fb = slots.new_backend("web\tx", fresh, {})
slots.restore({["web\tx"] = fb}, lines, 0, ctx())
T.eq("round trip: member name survives escaping", fb.member_of.s1, "n\\1")
T.eq("round trip: address and port", fresh.s1:get_addr(), "10.0.3.1:8080")


-- HAProxy 2.9+: a member that moves back to the applied address while a change is pending is
-- asked for again (HAProxy compares with the applied address and would ignore it).
do
  local srv = F.server("s1")
  srv.async = true
  local b = slots.new_backend("nodes", {s1 = srv}, {role = "backend"})
  local ctx = {port_tag = "port", weight_tag = "weight", default_port = 80, drain_ms = 1000,
               log = function() end}
  slots.sync(b, {F.member("m", "10.0.0.1")}, 0, ctx)
  srv:apply()
  slots.sync(b, {F.member("m", "10.0.0.1")}, 1, ctx)
  T.eq("pending: ready once applied", srv.state, "ready")
  slots.sync(b, {F.member("m", "10.0.0.2")}, 2, ctx)     -- moves: B pending
  slots.sync(b, {F.member("m", "10.0.0.1")}, 3, ctx)     -- back to A before B applied
  T.eq("A shows, but B is on its way: not ready yet", srv.state, "maint")
  srv:apply()                                             -- HAProxy applies B
  slots.sync(b, {F.member("m", "10.0.0.1")}, 4, ctx)     -- mismatch: asked again
  T.eq("maint while the address is wrong", srv.state, "maint")
  srv:apply()
  slots.sync(b, {F.member("m", "10.0.0.1")}, 5, ctx)
  T.eq("back on A and ready", srv:get_addr() .. " " .. srv.state, "10.0.0.1:3000 ready")
end

-- The isolation guard: most members failing at once keep their slots (health checks decide);
-- a few failures free slots as usual; the guard ends when members are alive again; off at 0.
do
  local function cluster(statuses)
    local list = {}
    for i, st in ipairs(statuses) do list[i] = F.member("g" .. i, "10.0.1." .. i, st) end
    return list
  end
  local function all(st, n) local t = {} for i = 1, n do t[i] = st end return t end
  local srv = F.servers(6)
  local g = slots.new_backend("nodes", srv, {role = "backend"})
  local gctx = ctx({panic_threshold = 50})
  slots.sync(g, cluster(all("alive", 6)), 0, gctx)
  slots.sync(g, cluster({"failed", "alive", "alive", "alive", "alive", "alive"}), 1, gctx)
  T.eq("guard: one of six failed is freed as usual", g.slot_of.g1, nil)
  T.eq("guard: stays off for one failure", g.guarded, nil)
  slots.sync(g, cluster(all("alive", 6)), 2, gctx)
  logs = {}
  slots.sync(g, cluster(all("failed", 6)), 3, gctx)
  T.eq("guard: every member failed at once: all keep their slots", slots.used(g), 6)
  T.eq("guard: their slots stay ready (health checks decide)", srv.s3.state, "ready")
  T.eq("guard: counts the failed members it keeps", g.guarded, 6)
  T.eq("guard: counts its activations", g.guard_activations, 1)
  T.check("guard: logged as a warning naming the knob",
          logged("warn nodes: isolation guard on: 6 of 6 members failed (more than 50%)") and
          logged("HASERF_PANIC_THRESHOLD"))
  slots.sync(g, cluster({"failed", "failed", "failed", "failed", "alive", "alive"}), 4, gctx)
  T.eq("guard: still on with 2 of 6 alive", g.guarded, 4)
  T.eq("guard: no new activation while it stays on", g.guard_activations, 1)
  slots.sync(g, cluster({"failed", "alive", "alive", "alive", "alive", "alive"}), 5, gctx)
  T.eq("guard: off once most are alive again", g.guarded, nil)
  T.check("guard: the end is logged", logged("nodes: isolation guard off: 5 members alive, 1 failed"))
  T.eq("guard: the member still failed is freed then", g.slot_of.g1, nil)
  T.eq("guard: its slot goes to maintenance", srv.s1.state, "maint")
  srv.s2.scur = 1  -- a session in flight: the drain lasts
  slots.sync(g, cluster({"left", "left", "left", "left", "alive", "alive"}), 6, gctx)
  T.eq("guard: graceful leaves are never held (they drain)", g.guarded, nil)
  T.eq("guard: a leaving member drains", srv.s2.state, "drain")
  -- A cut-off balancer sees its peers fail one by one: those freed before the guard turned
  -- on get their slots back (failed in the last GUARD_WINDOW_MS).
  local srv2 = F.servers(6)
  local one = slots.new_backend("nodes", srv2, {role = "backend"})
  local st = all("alive", 6)
  slots.sync(one, cluster(st), 0, gctx)
  for k = 1, 3 do
    st[k] = "failed"
    slots.sync(one, cluster(st), k * 1000, gctx)
  end
  T.eq("serial failures: the first three (half) are freed", slots.used(one), 3)
  T.eq("serial failures: no guard yet", one.guarded, nil)
  logs = {}
  st[4] = "failed"
  slots.sync(one, cluster(st), 4000, gctx)
  T.eq("serial failures: the fourth turns the guard on, for all four", one.guarded, 4)
  T.eq("serial failures: the three freed a moment ago are back in slots", slots.used(one), 6)
  T.check("serial failures: a member brought back is logged as such", logged("back in its slot (isolation guard)"))
  T.eq("serial failures: they are routed (health checks decide)", srv2.s1.state, "ready")
  local late = slots.new_backend("nodes", F.servers(6), {role = "backend"})
  st = all("alive", 6)
  slots.sync(late, cluster(st), 0, gctx)
  for k = 1, 3 do st[k] = "failed" end
  slots.sync(late, cluster(st), 1000, gctx)
  st[4] = "failed"
  slots.sync(late, cluster(st), 1000 + slots.GUARD_WINDOW_MS, gctx)
  T.eq("failures older than the window do not count (1 failed of 3 left)", late.guarded, nil)
  -- A member that failed, came back and failed again counts from its latest failure, even
  -- when nothing else changed in between (no sync saw it in its slot again): found by
  -- tests/faults/partition_test.sh (one backend cut off and healed, then the balancer cut
  -- off within the minute: that backend was never brought back).
  local again = slots.new_backend("nodes", F.servers(4), {role = "backend"})
  st = all("alive", 4)
  slots.sync(again, cluster(st), 0, gctx)
  st[1] = "failed"
  slots.sync(again, cluster(st), 1000, gctx)
  st[1] = "alive"
  slots.sync(again, cluster(st), 2000, gctx)              -- back in a slot
  st[1] = "failed"
  slots.sync(again, cluster(st), 50000, gctx)             -- fails again: freed
  st[2] = "failed"
  slots.sync(again, cluster(st), 55000, gctx)
  T.eq("failed again: two freed, no guard yet", again.guarded, nil)
  st[3] = "failed"
  slots.sync(again, cluster(st), 62000, gctx)             -- 61 s after its first failure
  T.eq("failed again: the guard counts it (3 of 4 failed)", again.guarded, 3)
  T.check("failed again: it is back in a slot", again.slot_of.g1 ~= nil)
  T.eq("failed again: every member is in a slot", slots.used(again), 4)
  -- Brought back into a slot that last held another member, on HAProxy 2.9+ (addresses
  -- apply later): routed once the address shows, while the guard stays on (found by
  -- faults.partition.3.0: after a swap of two members' slots, the guard kept them in maint).
  local asrv = F.servers(5)
  for _, s in pairs(asrv) do s.async = true end
  local swap = slots.new_backend("nodes", asrv, {role = "backend"})
  local function settle(sts, t)  -- syncs until HAProxy applied every address asked for
    for _ = 1, 3 do
      slots.sync(swap, cluster(sts), t, gctx)
      for _, s in pairs(asrv) do s:apply() end
    end
    slots.sync(swap, cluster(sts), t, gctx)
  end
  settle(all("alive", 5), 0)
  settle({"failed", "failed", "alive", "alive", "alive"}, 1000)  -- g1, g2 freed (s1, s2)
  settle({"failed", "alive", "alive", "alive", "alive"}, 2000)   -- g2 back: takes s1
  T.eq("swap: set up (g2 in s1)", swap.slot_of.g2, "s1")
  settle({"failed", "failed", "alive", "alive", "alive"}, 3000)  -- g2 freed again, from s1
  T.eq("swap: no guard for 2 of 5 failed", swap.guarded, nil)
  settle({"failed", "failed", "failed", "failed", "alive"}, 4000)
  T.eq("swap: guard on for 4 of 5", swap.guarded, 4)
  T.eq("swap: g1 back in s1, which last held g2", swap.slot_of.g1, "s1")
  local routed = {}
  for _, slot in ipairs(swap.slots) do routed[#routed + 1] = asrv[slot].state end
  T.eq("swap: every slot routed once its address applied (2.9+), guard still on",
       table.concat(routed, " "), "ready ready ready ready ready")
  local off = slots.new_backend("nodes", F.servers(6), {role = "backend"})
  slots.sync(off, cluster(all("alive", 6)), 0, ctx({panic_threshold = 0}))
  slots.sync(off, cluster(all("failed", 6)), 1, ctx({panic_threshold = 0}))
  T.eq("guard off (0): every failed member is freed", slots.used(off), 0)
end

-- Changes (slots.update, what the glue feeds from haserf.watch) and whole lists (slots.sync)
-- lead to the same slots, in random histories of joins, tag and status changes, rejections
-- and removals; the counts kept between syncs (alive, waiting members) match a recount.
do
  local seed = tonumber(os.getenv("HASERF_TEST_SEED") or "") or os.time()
  math.randomseed(seed)
  local statuses = {"alive", "alive", "alive", "suspect", "leaving", "left", "failed"}
  local function recount(b)
    local alive, cand = 0, 0
    for name, m in pairs(b.sel) do
      if not m.rejected and m.status == "alive" then
        alive = alive + 1
        if not b.slot_of[name] then cand = cand + 1 end
      end
    end
    return alive, cand
  end
  local mismatch
  for round = 1, 40 do
    local quiet = ctx({panic_threshold = round % 2 == 0 and 50 or 0, log = function() end})
    local by_list = slots.new_backend("nodes", F.servers(6), {role = "backend"})
    local by_change = slots.new_backend("nodes", F.servers(6), {role = "backend"})
    local cluster, before = {}, {}  -- name -> member (a new table for every change, as the module's)
    local last_rev, last_text
    for step = 1, 60 do
      for _ = 1, math.random(1, 4) do
        local name = "m" .. math.random(1, 14)
        local r = math.random()
        if r < 0.1 and cluster[name] then
          cluster[name] = nil
        else
          local tags = {role = math.random() < 0.85 and "backend" or "lb", port = "3000"}
          cluster[name] = F.member(name, "10.0.1." .. math.random(1, 3), statuses[math.random(#statuses)],
                                   tags, math.random() < 0.05 and "field tags.port is not a port" or nil)
        end
      end
      -- What a watch reports: the members that are new objects, the names that are gone.
      local list, changed, removed = {}, {}, {}
      for name, m in pairs(cluster) do
        list[#list + 1] = m
        if before[name] ~= m then changed[#changed + 1] = m end
      end
      for name in pairs(before) do if not cluster[name] then removed[#removed + 1] = name end end
      before = {}
      for name, m in pairs(cluster) do before[name] = m end
      local now = step * 7000
      slots.sync(by_list, list, now, quiet)
      slots.update(by_change, changed, removed, now, quiet)
      for _, slot in ipairs(by_list.slots) do
        if by_list.member_of[slot] ~= by_change.member_of[slot] or
           by_list.servers[slot].state ~= by_change.servers[slot].state then
          mismatch = mismatch or string.format("seed %d round %d step %d slot %s: %s/%s vs %s/%s", seed,
            round, step, slot, tostring(by_list.member_of[slot]), by_list.servers[slot].state,
            tostring(by_change.member_of[slot]), by_change.servers[slot].state)
        end
      end
      -- The export: its cached lines are what fresh ones would be, and it does not change
      -- while the revision stays (the glue skips it then).
      local text = table.concat(slots.export({nodes = by_change}, {"nodes"}), "\n")
      local cached = by_change.lines
      by_change.lines = nil
      local fresh = table.concat(slots.export({nodes = by_change}, {"nodes"}), "\n")
      by_change.lines = cached
      if text ~= fresh or (by_change.revision == last_rev and text ~= last_text) then
        mismatch = mismatch or string.format("seed %d round %d step %d: export %q, fresh %q, before %q",
                                             seed, round, step, text, fresh, tostring(last_text))
      end
      last_rev, last_text = by_change.revision, text
      local alive, cand = recount(by_change)
      if alive ~= by_change.alive or cand ~= by_change.cand_n or by_change.unplaced ~= by_list.unplaced
         or by_change.guarded ~= by_list.guarded then
        mismatch = mismatch or string.format("seed %d round %d step %d: counts %d/%d kept %d/%d", seed,
                                             round, step, alive, cand, by_change.alive, by_change.cand_n)
      end
    end
  end
  T.check("changes and whole lists give the same slots, counts and slot table", mismatch == nil, mismatch)
end

-- A change costs what changed: with 10,000 members known, one change touches one member
-- (counted through the selector's reads of its tags), and waiting members take free slots
-- in name order.
do
  local reads = 0
  local function member(i, status)
    local tags = setmetatable({}, {__index = function(_, k)
      reads = reads + 1
      return ({role = "backend", port = "3000"})[k]
    end})
    return {name = string.format("n%05d", i), addr = "10.1.0.1", port = 7946,
            status = status or "alive", tags = tags}
  end
  local big = slots.new_backend("nodes", F.servers(4), {role = "backend"})
  local all = {}
  for i = 10000, 1, -1 do all[#all + 1] = member(i) end
  slots.update(big, all, {}, 0, ctx())
  T.eq("10,000 members: the first 4 by name have the slots",
       table.concat({big.member_of.s1, big.member_of.s2, big.member_of.s3, big.member_of.s4}, ","),
       "n00001,n00002,n00003,n00004")
  T.eq("10,000 members: 9,996 wait", big.unplaced, 9996)
  reads = 0
  slots.update(big, {member(5000, "failed")}, {}, 1000, ctx())
  T.eq("one change among 10,000: only its tags are read (settled slots are passed over)", reads, 1)
  reads = 0
  slots.update(big, {member(2, "failed")}, {}, 2000, ctx())
  T.eq("a slotted member fails: the next by name takes its slot", big.member_of.s2, "n00005")
  T.eq("... and the waiting count follows", big.unplaced, 9994)
  slots.update(big, {}, {"n00003"}, 3000, ctx())
  T.eq("a removed member's slot goes to the next waiting one", big.member_of.s3, "n00006")
  T.eq("alive count kept", big.alive, 9997)
end

T.finish()
