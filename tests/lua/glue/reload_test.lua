-- SPDX-License-Identifier: MIT
-- haserf.reload: structural changes become debounced, rate-limited render jobs; a failed
-- check is not retried with the same inputs; the history travels to the next worker.
local T = require "testlib"
local F = require "fakes"
local reload = require "haserf.reload"
local slots = require "haserf.slots"

local cfg = {slot_step = 4, vars = {dc = "par1"}, template = "/t", out = "/o", check = "true",
             reload_cmd = "reload!", debounce_ms = 500, min_interval_ms = 5000, template_poll_ms = 1000}
local m = F.module()
local template = "t1"
local logs = {}
local r = reload.new(cfg, m, function() return template end,
                     function(level, fmt, ...) logs[#logs + 1] = level .. " " .. string.format(fmt, ...) end,
                     function() return 1700000000 end)
local b = slots.new_backend("nodes", F.servers(2), {})
local backends, order = {nodes = b}, {"nodes"}

b.wanted = 2
r:membership_changed(backends, order, 0)
T.eq("as many members as slots: nothing to do", r.requested, nil)
b.wanted = 3
r:membership_changed(backends, order, 100)
T.contains("more members than slots: a render is wanted", r.requested, "nodes: 3 alive members, 2 slots")
r:step(backends, order, 300)
T.eq("debounce: nothing before 500 ms of quiet", #m.jobs, 0)
r:membership_changed(backends, order, 400)  -- another change restarts the quiet period
r:step(backends, order, 800)
T.eq("debounce restarts on every change", #m.jobs, 0)
r:step(backends, order, 900)
T.eq("a job starts once things are quiet", #m.jobs, 1)
T.eq("slots rounded up to the step", m.jobs[1].vars.slots_nodes, "4")
T.eq("the first backend's count is also 'slots'", m.jobs[1].vars.slots, "4")
T.eq("operator variables pass through", m.jobs[1].vars.dc, "par1")
T.eq("the reload command", m.jobs[1].reload, "reload!")
r:step(backends, order, 950)
T.eq("while running: no second job", #m.jobs, 1)
m.job_state = "failed"
r:step(backends, order, 1000)
T.eq("a failed job is remembered", r.history[1].result, "failed")
T.contains("a failed job is logged as a warning", logs[#logs], "warn reload failed (running config kept)")
-- Same inputs again: not retried.
r:membership_changed(backends, order, 2000)
r:step(backends, order, 9000)
T.eq("the same inputs are not retried after a failure", #m.jobs, 1)
-- The template changes: new inputs, a new job (after the interval).
r:poll_template(1000)  -- first read: the reference
template = "t2"
r:poll_template(1500)  -- not yet: polled every 1000 ms
r:poll_template(2500)
T.contains("a template edit is a structural change", r.requested, "template /t changed")
r:step(backends, order, 7000)
T.eq("a changed template is tried", #m.jobs, 2)
m.job_state = "ok"
r:step(backends, order, 7100)
T.eq("success is remembered", r.history[1].result, "ok")

-- The history goes to the next worker.
local lines = r:export(slots.escape)
local r2 = reload.new(cfg, m, function() return template end, function() end)
r2:restore(lines, slots.unescape)
T.eq("history restored in order", #r2.history, 2)
T.eq("newest first after restore", r2.history[1].result, "ok")
T.eq("time kept", r2.history[2].time, 1700000000)
T.finish()
