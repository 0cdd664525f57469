-- SPDX-License-Identifier: MIT
-- haserf.glue with a fake HAProxy and a fake module: start, takeover, restored slots kept
-- until the view is complete, soft-stop, handover, restart after a failure.
local T = require "testlib"
local F = require "fakes"
local config = require "haserf.config"
local Glue = require "haserf.glue"

local function new_glue(env_extra, files)
  local env = {HASERF_BIND = "127.0.0.1:7946", HASERF_DRAIN_MS = "1000", HASERF_READY_GRACE_MS = "3000"}
  for k, v in pairs(env_extra or {}) do env[k] = v end
  local m = F.module()
  local cfg = config.load(function(k) return env[k] end, m, {})
  local host = {logs = {}, stop = false, files = files or {}}
  host.now_ms = function() return 0 end
  host.log = function(level, msg) host.logs[#host.logs + 1] = level .. " " .. msg end
  host.stopping = function() return host.stop end
  host.read_file = function(p) return host.files[p] end
  host.write_file = function(p, text) host.files[p] = text return true end
  local g = Glue.new(cfg, m, host)
  return g, m, host
end

local function logged(host, part)
  for _, l in ipairs(host.logs) do if l:find(part, 1, true) then return l end end
end

-- A cold start: start, wait for the member, join, fill slots.
local g, m, host = new_glue({HASERF_JOIN = "10.0.0.7:7946", HASERF_PEERS_FILE = "/peers"},
                            {["/peers"] = "10.0.0.8:7946\n127.0.0.1:7946\n"})
local servers = F.servers(2)
g:init({nodes = {servers = servers}})
T.check("init drives the backend", g.backends.nodes ~= nil)
g:tick(0)
T.eq("the first tick starts the member", #m.starts, 1)
T.eq("join list: configured seeds plus the peers file, without ourselves",
     table.concat(m.starts[1].join, ","), "10.0.0.7:7946,10.0.0.8:7946")
T.eq("handover on by default", m.starts[1].handover, "sibling")
g:tick(10)
T.eq("waiting while the member starts", g.phase, "waiting")
m.phase = "running"
m.st.join_done, m.st.joined = true, 1
m.set_members({F.member("web1", "10.0.0.1")})
g:tick(20)
T.eq("running", g.phase, "running")
T.check("the start is logged at info", logged(host, "info haserf: member started on 127.0.0.1:7946"))
T.eq("a member is routed", servers.s1.state, "ready")
T.check("the join is logged at notice", logged(host, "notice haserf: nodes/s1: member web1"))
T.check("the slot table is handed to whoever peeks", m.app and m.app:find("S\tnodes\ts1\tweb1", 1, true))
T.contains("the peers file lists the alive members", host.files["/peers"], "10.0.0.1:7946")

-- A rejected member is logged once.
m.set_members({F.member("web1", "10.0.0.1"), F.member("x", "10.0.0.2", "alive", nil, "field tags.port is not a port")})
g:tick(30)
m.set_members({F.member("web1", "10.0.0.1"), F.member("x", "10.0.0.2", "alive", nil, "field tags.port is not a port"),
               F.member("web2", "10.0.0.3")})
g:tick(40)
local n = 0
for _, l in ipairs(host.logs) do if l:find("member x rejected", 1, true) then n = n + 1 end end
T.eq("a rejection is logged once, as a warning", n, 1)
T.check("the rejection names the reason", logged(host, "warn haserf: nodes: member x rejected, routed nowhere: field tags.port"))

-- Soft-stop: the module is told (it hands over or leaves); then the successor takes over.
host.stop = true
g:tick(600)
T.eq("soft-stop: the module is told once", m.soft_stops, 1)
g:tick(1200)
T.eq("still once", m.soft_stops, 1)
m.phase, m.st.handed_over_to = "handed-over", 4243
T.eq("after the handover the task ends", g:tick(1300), false)
T.check("the handover is logged at notice", logged(host, "notice haserf: member handed over to worker 4243"))
for _, l in ipairs(host.logs) do
  T.check("nothing expected is logged as an alert: " .. l, not l:find("^err"))
end

-- A new worker: restored slots from its predecessor are routed at once and kept until the
-- member's view is complete (here: the takeover gives it at once).
local g2, m2, host2 = new_glue()
m2.predecessor = "S\tnodes\ts2\tweb1\t10.0.0.1\t3000\t1\tready\nH\t1700000000\trender\tok\tfine"
local servers2 = F.servers(2)
g2:init({nodes = {servers = servers2}})
T.eq("restored before the first request", servers2.s2.state, "ready")
T.check("the restore is logged", logged(host2, "restored 1 slots from the previous worker"))
T.eq("the render history came along", g2.reload.history[1].message, "fine")
g2:tick(0)
m2.phase = "running"
m2.st.took_over_from = 4243
m2.set_members({F.member("web1", "10.0.0.1")})
g2:tick(10)
T.eq("after the takeover web1 keeps its slot", g2.backends.nodes.slot_of.web1, "s2")
T.check("the takeover is logged at notice", logged(host2, "took over from worker 4243 (reload): no leave, no join"))

-- HAProxy 2.9+ applies set_addr later (in the worker's first scheduler turns): a restored
-- slot stays in maintenance until its address shows, then gets its state at once (the task
-- yields instead of sleeping meanwhile), and never serves from the placeholder address.
local g5, m5 = new_glue()
m5.predecessor = "S\tnodes\ts1\tweb1\t10.0.0.1\t3000\t1\tready\n" ..
                 "S\tnodes\ts2\tweb2\t10.0.0.2\t3000\t1\tdrain"
local servers5 = F.servers(2)
servers5.s1.async, servers5.s2.async = true, true
g5:init({nodes = {servers = servers5}})
T.eq("async address: restored slot not ready before its address applies", servers5.s1.state, "maint")
T.eq("async address: draining slot not drained before its address applies", servers5.s2.state, "maint")
T.eq("the glue knows it waits", g5.restore_waiting, true)
g5:tick(0)
T.eq("still waiting while HAProxy has not applied it", servers5.s1.state, "maint")
servers5.s1:apply()
g5:tick(1)
T.eq("ready as soon as the address shows", servers5.s1.state, "ready")
T.eq("the other still waits", g5.restore_waiting, true)
servers5.s2:apply()
g5:tick(2)
T.eq("the draining one drains once its address shows", servers5.s2.state, "drain")
T.eq("nothing left to wait for", g5.restore_waiting, false)

-- Without a takeover or an answered join, restored slots survive an incomplete view until the
-- grace is over.
local g3, m3 = new_glue({HASERF_JOIN = "10.0.0.7:7946"})
m3.predecessor = "S\tnodes\ts1\told\t10.0.0.9\t3000\t1\tready"
local servers3 = F.servers(2)
g3:init({nodes = {servers = servers3}})
g3:tick(0)
m3.phase = "running"
m3.st.join_done, m3.st.joined = true, 0  -- every seed down
m3.set_members({})
g3:tick(100)
T.eq("incomplete view: the restored slot stays routed", servers3.s1.state, "ready")
g3:tick(3100)
T.eq("after the grace: a member nobody knows is dropped", servers3.s1.state, "maint")

-- A member that fails to start is retried; one that left while running is started again.
local g4, m4, host4 = new_glue()
g4:init({nodes = {servers = F.servers(1)}})
g4:tick(0)
m4.phase, m4.err = "failed", "cannot listen on TCP 127.0.0.1:7946: address already in use"
g4:tick(10)
T.eq("a failed start goes back to starting", g4.phase, "starting")
T.check("the failure is logged with the reason", logged(host4, "address already in use"))
g4:tick(500)
T.eq("not retried before the retry period", #m4.starts, 1)
g4:tick(1010)
T.eq("retried after the period", #m4.starts, 2)

-- Soft-stopped while the start is retried: no more starts, the task ends.
m4.phase, m4.err = "failed", "address already in use"
g4:tick(1020)
T.eq("failed again: back to starting", g4.phase, "starting")
host4.stop = true
T.eq("a stopping worker never starts its member", g4:tick(5000), false)
T.eq("no start after the stop", #m4.starts, 2)
T.eq("stopped", g4.phase, "stopped")
T.eq("nothing to soft-stop", m4.soft_stops, 0)

-- Soft-stopped while the member is still starting (taking over): the module is told at once,
-- and the task ends when the member is gone.
local g5, m5, host5 = new_glue()
g5:init({nodes = {servers = F.servers(1)}})
g5:tick(0)
g5:tick(10)
T.eq("waiting", g5.phase, "waiting")
host5.stop = true
T.eq("still waiting for the member", g5:tick(600), true)
T.eq("the module is told while it starts", m5.soft_stops, 1)
m5.phase = "left"
T.eq("the member left: the task ends", g5:tick(610), false)
T.eq("stopped after the leave", g5.phase, "stopped")
T.check("the soft-stop is logged", logged(host5, "soft-stop: the member hands over"))
-- Membership changes reach the slots through a watch: a change costs what changed. The peers
-- file is written at most every 5 s. A sync that fails starts the next one from the whole
-- table (a new watch).
do
  local g5, m5, host5 = new_glue({HASERF_PEERS_FILE = "/peers"})
  local t = 0
  host5.now_ms = function() return t end
  g5:init({nodes = {servers = F.servers(3)}})
  g5:tick(0)
  m5.phase, m5.st.join_done, m5.st.joined = "running", true, 0
  local list = {}
  for i = 1, 1000 do list[i] = F.member(string.format("n%04d", i), "10.2." .. (i // 256) .. "." .. (i % 256)) end
  m5.set_members(list)
  local seen = {}
  local slots = require "haserf.slots"
  local update, sync = slots.update, slots.sync
  slots.update = function(b, changed, removed, ...) seen[#seen + 1] = #changed + #removed; return update(b, changed, removed, ...) end
  slots.sync = function(b, members, ...)  -- calls slots.update itself: not counted there
    seen[#seen + 1] = "full " .. #members
    local counted = slots.update
    slots.update = update
    local busy = sync(b, members, ...)
    slots.update = counted
    return busy
  end
  t = 10 g5:tick(t)
  T.eq("the first sync takes the whole table", table.concat(seen, ","), "full 1000")
  T.eq("1000 members: 3 slots filled in name order", g5.backends.nodes.member_of.s3, "n0003")
  T.contains("the peers file is written at once", host5.files["/peers"], "10.2.3.232:7946")
  local copy = {}
  for i, x in ipairs(list) do copy[i] = x end
  copy[500] = F.member("n0500", "10.9.9.9")
  m5.set_members(copy)
  t = 20 g5:tick(t)
  T.eq("one change among 1,000: one member reaches the slots", seen[#seen], 1)
  T.check("the peers file waits (5 s)", not host5.files["/peers"]:find("10.9.9.9", 1, true))
  t = 5010 g5:tick(t)
  T.contains("... then lists the change", host5.files["/peers"], "10.9.9.9:7946")
  local watches = m5.watches
  slots.update = function() error("boom") end
  copy = {table.unpack(copy, 2)}  -- n0001 gone
  m5.set_members(copy)
  t = 5020 g5:tick(t)
  slots.update = update
  T.check("a failed sync is counted", g5.errors > 0)
  t = 5030 g5:tick(t)
  T.eq("... and the next sync starts from a new watch", m5.watches, watches + 1)
  T.eq("... with the whole table", seen[#seen], "full 999")
  T.eq("... which puts the slots right (n0001's slot goes to the next)", g5.backends.nodes.member_of.s1, "n0004")
  slots.update, slots.sync = update, sync
end

T.finish()
