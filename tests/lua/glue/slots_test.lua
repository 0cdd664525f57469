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
  local off = slots.new_backend("nodes", F.servers(6), {role = "backend"})
  slots.sync(off, cluster(all("alive", 6)), 0, ctx({panic_threshold = 0}))
  slots.sync(off, cluster(all("failed", 6)), 1, ctx({panic_threshold = 0}))
  T.eq("guard off (0): every failed member is freed", slots.used(off), 0)
end

T.finish()
