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

-- HAProxy's `chroot`: what the job needs and the worker cannot find inside the chroot is
-- refused before the job, naming the path and the chroot; the running config is kept.
local files, dirs = {}, {}
local function chroot_reload(extra)
  local c = {}
  for k, v in pairs(cfg) do c[k] = v end
  for k, v in pairs(extra) do c[k] = v end
  local mm, clogs = F.module(), {}
  local rr = reload.new(c, mm, function(p) return files[p] end,
                        function(level, fmt, ...) clogs[#clogs + 1] = level .. " " .. string.format(fmt, ...) end,
                        function() return 1700000000 end, function(p) return dirs[p] == true end)
  local bb = slots.new_backend("nodes", F.servers(1), {})
  bb.wanted = 2
  return rr, mm, clogs, {nodes = bb}
end
local rc, mc, lc, bc = chroot_reload({chroot = "/var/lib/haproxy/", template = "/etc/haproxy/t.mustache",
                                      out = "/etc/haproxy/haproxy.cfg"})
rc:membership_changed(bc, order, 0)
rc:step(bc, order, 1000)
T.eq("chroot, template outside it: no job", #mc.jobs, 0)
T.eq("the refusal is remembered as a failure", rc.history[1].result, "failed")
T.eq("the refusal is counted (haserf_reloads_total{result=\"refused\"})", rc.refused, 1)
T.contains("the refusal names the template, the chroot and where the worker looked", lc[#lc],
           "warn reload refused (running config kept): HASERF_TEMPLATE /etc/haproxy/t.mustache is " ..
           "not readable inside HAProxy's chroot /var/lib/haproxy (the worker looks for " ..
           "/var/lib/haproxy/etc/haproxy/t.mustache)")
T.contains("the refusal says what renders need under chroot", rc.history[1].message,
           "need the template, HASERF_OUT's folder and /bin/sh inside the chroot")
local function refusals()
  local n = 0
  for _, l in ipairs(lc) do if l:find("reload refused", 1, true) then n = n + 1 end end
  return n
end
rc:membership_changed(bc, order, 2000)
rc:step(bc, order, 9000)
T.eq("a refusal is not retried with the same inputs", refusals(), 1)
files["/etc/haproxy/t.mustache"] = "t"
bc.nodes.wanted = 5  -- new inputs (8 slots): tried again
rc:membership_changed(bc, order, 10000)
rc:step(bc, order, 20000)
T.contains("template readable, HASERF_OUT's folder missing: refused, naming it", lc[#lc],
           "HASERF_OUT /etc/haproxy/haproxy.cfg cannot be written inside HAProxy's chroot " ..
           "/var/lib/haproxy (the worker looks for the folder /var/lib/haproxy/etc/haproxy)")
dirs["/etc/haproxy"] = true
bc.nodes.wanted = 9
rc:membership_changed(bc, order, 30000)
rc:step(bc, order, 40000)
T.contains("no /bin/sh in the chroot: refused, naming both commands", lc[#lc],
           "HASERF_CHECK and HASERF_RELOAD run with /bin/sh, which HAProxy's chroot /var/lib/haproxy " ..
           "does not have (the worker looks for /var/lib/haproxy/bin/sh)")
T.eq("still no job", #mc.jobs, 0)
dirs["/bin/sh"] = true
bc.nodes.wanted = 13
rc:membership_changed(bc, order, 50000)
rc:step(bc, order, 60000)
T.eq("everything inside the chroot: the job starts", #mc.jobs, 1)
local rn = chroot_reload({chroot = "/srv/ch", template = "/t", out = "o.cfg", reload_cmd = false})
files["/t"], dirs["."], dirs["/bin/sh"] = "t", nil, true
T.contains("a relative HASERF_OUT: its folder is the worker's current one", rn:chroot_problem(),
           "HASERF_OUT o.cfg cannot be written inside HAProxy's chroot /srv/ch (the worker looks for the folder /srv/ch/.)")
dirs["."], dirs["/bin/sh"] = true, false
T.contains("without a reload command only the check is named", rn:chroot_problem(),
           "HASERF_CHECK runs with /bin/sh, which HAProxy's chroot /srv/ch does not have")
local r0 = chroot_reload({chroot = "/", template = "/nowhere"})
T.eq("chroot / is no chroot", r0:chroot_problem(), nil)
local r00 = chroot_reload({template = "/nowhere"})
T.eq("no chroot: nothing checked (the job reports its own errors)", r00:chroot_problem(), nil)
T.finish()
