-- SPDX-License-Identifier: MIT
-- haserf.glue: the HAProxy member's task. Starts the member (taking over from the previous
-- worker, or joining), keeps the slots in line with the membership, hands the slot table to
-- the next worker, and renders on structural changes (docs/haproxy.md "What the glue does").
-- HAProxy itself comes in through `host`, so the whole task runs under plain Lua in the tests:
--   host.now_ms()            milliseconds, monotonic enough (core.now())
--   host.log(level, msg)     level: "info", "notice", "warn", "err"
--   host.stopping()          true once HAProxy soft-stops this worker (core.get_info())
--   host.read_file(path)     a file's text, or nil
--   host.write_file(path, text)  atomically; true or nil, err
--   host.haproxy_version()   HAProxy's version, for haserf_build_info (optional)
local slots = require "haserf.slots"
local reload = require "haserf.reload"
local config = require "haserf.config"

local Glue = {}
Glue.__index = Glue

local STOP_CHECK_MS = 500   -- core.get_info() builds a 70-field table: not on every tick
local BUSY_SYNC_MS = 100    -- re-sync period while an address applies or a drain runs
local PEERS_SAVE_MS = 5000  -- the peers file is for a cold start: written at most this often

function Glue.new(cfg, haserf, host)
  local self = setmetatable({cfg = cfg, haserf = haserf, host = host, backends = {}, order = {},
                             phase = "starting", errors = 0, last_err_log = {},
                             last_version = nil, start_error = nil, next_start = 0,
                             started_at = nil, ready = false, restored = 0, busy = false,
                             next_busy_sync = 0, next_stop_check = 0, stopping = false,
                             rejected_logged = {}, app_text = nil, peers_text = nil,
                             -- haserf.watch(): what changed since the last sync (nil until
                             -- the first); peers: name -> gossip address of alive members
                             watch = nil, peers = {}, peers_due = false, next_peers_save = 0},
                        Glue)
  self.reload = reload.new(cfg, haserf, host.read_file, function(...) self:log(...) end)
  self.ctx = {port_tag = cfg.port_tag, weight_tag = cfg.weight_tag, default_port = cfg.default_port,
              drain_ms = cfg.drain_ms, partial = true, panic_threshold = cfg.panic_threshold,
              log = function(...) self:log(...) end,
              rejected = function(b, m) self:note_rejected(b, m) end}
  return self
end

function Glue:log(level, fmt, ...)
  local ok, msg = pcall(string.format, fmt, ...)
  pcall(self.host.log, level, "haserf: " .. (ok and msg or fmt))
end

-- Rate-limited error log (one per 5 s per place), counting every error.
function Glue:report_error(where, err)
  self.errors = self.errors + 1
  local t = self.host.now_ms()
  if not self.last_err_log[where] or t - self.last_err_log[where] >= 5000 then
    self.last_err_log[where] = t
    self:log("err", "%s: %s", where, tostring(err))
  end
end

function Glue:safe(where, fn, ...)
  local ok, a, b = pcall(fn, ...)
  if not ok then
    self:report_error(where, a)
    return nil
  end
  return a, b
end

-- Logged once per member and reason: a rejected member is routed and rendered nowhere.
function Glue:note_rejected(b, m)
  if self.rejected_logged[m.name] == m.rejected then return end
  self.rejected_logged[m.name] = m.rejected
  self:log("warn", "%s: member %s rejected, routed nowhere: %s", b.name, m.name, m.rejected)
end

-- ---- register_init: before the worker serves anything ----------------------------------

local function split_lines(text)
  local out = {}
  for line in (text or ""):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

-- HAProxy <= 3.0 runs this in the master, before it forks the worker (3.1+: in the worker,
-- before its threads): the driven backends' servers, then the previous worker's slot table
-- applied at once, so the new worker routes from its very first request.
function Glue:init(proxies)
  for _, bname in ipairs(self.cfg.backends) do
    local px = proxies and proxies[bname]
    if not px then
      self:log("err", "backend '%s' (HASERF_BACKENDS) does not exist: not driven", bname)
    else
      local b = slots.new_backend(bname, px.servers, self.cfg.select_of[bname])
      self.backends[bname] = b
      self.order[#self.order + 1] = bname
      local sel = {}
      for k, v in pairs(b.select) do sel[#sel + 1] = k .. "=" .. v end
      table.sort(sel)
      self:log(#b.slots > 0 and "info" or "warn", "driving backend %s: %d slots, members with %s",
               bname, #b.slots, table.concat(sel, ","))
    end
  end
  local text, err = self.haserf.predecessor_state(self.cfg.bind, 500)
  if text then
    local lines = split_lines(text)
    self.restored = slots.restore(self.backends, lines, self.host.now_ms(), self.ctx)
    self.restore_waiting = self.restored > 0
    self.reload:restore(lines, slots.unescape)
    self:log("notice", "restored %d slots from the previous worker", self.restored)
  elseif err and not err:find("no predecessor", 1, true) then
    self:log("info", "no slot table from a previous worker: %s", tostring(err))
  end
end

-- ---- the task ----------------------------------------------------------------------------

local function hostport(addr, port)
  if addr:find(":", 1, true) then return "[" .. addr .. "]:" .. tostring(port) end
  return addr .. ":" .. tostring(port)
end

-- The peers file: the alive members' gossip addresses, so that a cold start rejoins them even
-- when nobody lists HAProxy in a join list. Kept from the changes; written at most every
-- PEERS_SAVE_MS (an O(members) text: never per change).
function Glue:note_peers(changed, removed)
  for _, name in ipairs(removed) do self.peers[name] = nil end
  for _, m in ipairs(changed) do
    self.peers[m.name] = m.status == "alive" and hostport(m.addr, m.port) or nil
  end
  if #changed > 0 or #removed > 0 then self.peers_due = true end
end

function Glue:save_peers(now)
  self.peers_due, self.next_peers_save = false, now + PEERS_SAVE_MS
  if not self.cfg.peers_file then return end
  local names, lines = {}, {}
  for name in pairs(self.peers) do names[#names + 1] = name end
  table.sort(names)
  for i, name in ipairs(names) do lines[i] = self.peers[name] end
  if #lines == 0 then return end  -- keep the last non-empty list
  local text = table.concat(lines, "\n") .. "\n"
  if text == self.peers_text then return end
  local ok, err = self.host.write_file(self.cfg.peers_file, text)
  if not ok then return self:report_error("peers file", err) end
  self.peers_text = text
end

function Glue:join_list()
  local out, seen = {}, {}
  for _, j in ipairs(self.cfg.join) do
    out[#out + 1] = j
    seen[j] = true
  end
  local text = self.cfg.peers_file and self.host.read_file(self.cfg.peers_file)
  for line in (text or ""):gmatch("[^\n]+") do
    line = config.trim(line)
    if line ~= "" and line ~= self.cfg.bind and not seen[line] then
      out[#out + 1] = line
      seen[line] = true
    end
  end
  return out
end

function Glue:start(now)
  local opts = config.start_options(self.cfg, self:join_list())
  local ok, err = self.haserf.start(opts)
  if ok then
    self.phase, self.started_at = "waiting", now
    return
  end
  if self.start_error ~= err then self:log("warn", "cannot start the member: %s (retrying)", tostring(err)) end
  self.start_error, self.next_start = err, now + self.cfg.start_retry_ms
end

-- The member's view is complete enough to take slots away: it took over the previous
-- worker's view, or its join answered, or the grace for restored slots is over.
function Glue:view_ready(now, status)
  if (status.took_over_from or 0) > 0 then return true end
  if status.join_done and (status.joined or 0) > 0 then return true end
  if self.restored == 0 and status.join_done then return true end
  return now - (self.started_at or now) >= self.cfg.ready_grace_ms
end

-- What changed since the last sync: members (selected anywhere or not), removed names, and
-- whether `changed` is the whole table (a new watch, or a module without watches): then
-- whatever is not in it is gone. Through a watch the cost follows the change.
function Glue:changes()
  if not self.haserf.watch then return self.haserf.members({self = false}), {}, true end
  local full = self.watch == nil
  if full then self.watch = self.haserf.watch({self = false}) end
  local changed, removed = self.watch:changes()
  return changed, removed, full
end

function Glue:sync(now, changed)
  local members, removed, full = self:changes()
  if full then self.peers = {} end  -- the whole table: whatever is not in it is gone
  self:note_peers(members, removed)
  local busy = false
  for _, bname in ipairs(self.order) do
    local b = self.backends[bname]
    local ok, more
    if full then
      ok, more = pcall(slots.sync, b, members, now, self.ctx)
    else
      ok, more = pcall(slots.update, b, members, removed, now, self.ctx)
    end
    if not ok then
      self:report_error("sync " .. bname, more)
      -- This backend may have taken in part of the changes: the next sync starts from the
      -- whole table (a new watch), which puts every backend right again.
      self.watch, self.last_version = nil, nil
    else
      busy = busy or more
    end
  end
  self.busy, self.next_busy_sync = busy, now + BUSY_SYNC_MS
  -- The next worker gets our slot table (and render history) the moment it asks.
  -- The slot lines are made again only when some backend's slots moved (revision).
  local revision = 0
  for _, bname in ipairs(self.order) do revision = revision + self.backends[bname].revision end
  if revision ~= self.slot_revision then
    self.slot_lines, self.slot_revision = slots.export(self.backends, self.order), revision
  end
  local lines = {}
  for i, l in ipairs(self.slot_lines) do lines[i] = l end
  for _, l in ipairs(self.reload:export(slots.escape)) do lines[#lines + 1] = l end
  local text = table.concat(lines, "\n")
  if text ~= self.app_text then
    self.haserf.set_app_state(text)
    self.app_text = text
  end
  if changed then
    if self.cfg.reload_enabled then self.reload:membership_changed(self.backends, self.order, now) end
  end
end

-- HAProxy soft-stops this worker (a reload or a stop): the member hands over or leaves. Looked
-- at in every phase, at most every STOP_CHECK_MS.
function Glue:check_stop(now)
  if self.stopping or now < self.next_stop_check then return end
  self.next_stop_check = now + STOP_CHECK_MS
  if not self.host.stopping() then return end
  self.stopping = true
  if self.phase == "starting" then
    self:log("notice", "soft-stop before the member started: nothing to hand over")
    return
  end
  self:log("notice", "soft-stop: the member hands over to the next worker (reload) or leaves (stop)")
  self.haserf.soft_stop()
end

-- The member stopped itself because another node has its name and the cluster sides with the
-- other one (serf's conflict resolution): starting it again would only repeat that. The slots
-- keep their last state; the operator must pick a unique HASERF_NODE and reload.
function Glue:name_conflict(err)
  if not (err and tostring(err):find("^name conflict")) then return false end
  self:log("err", "%s: the member is stopped; set HASERF_NODE to a name of its own and reload " ..
           "(the servers keep their last state)", tostring(err))
  self.phase = "conflict"
  return true
end

-- One tick of the task. Returns false once this worker's member is gone for good (handed
-- over to the next worker, or left at a stop): the task may end.
function Glue:tick(now)
  if self.restore_waiting then
    self.restore_waiting = slots.confirm_restored(self.backends, now, self.ctx)
  end
  self:check_stop(now)
  if self.phase == "starting" then
    -- A worker soft-stopped before its member ever started must not start one now: it
    -- would take the identity from the worker that replaced it.
    if self.stopping then
      self.phase = "stopped"
      return false
    end
    if now >= self.next_start then self:start(now) end
    return true
  end
  local state, err = self.haserf.state()
  if self.phase == "waiting" then
    if state == "starting" or state == "leaving" or state == "handing-over" then return true end
    if self.stopping and state ~= "running" then
      -- Soft-stopped while it started: whatever became of it, this worker is done.
      self.phase = state == "handed-over" and "handed-over" or "stopped"
      return false
    end
    if state == "failed" and self:name_conflict(err) then return false end
    if state ~= "running" then
      self:log("warn", "cannot start the member: %s (retrying)", tostring(err or state))
      self.start_error, self.phase, self.next_start = err or state, "starting", now + self.cfg.start_retry_ms
      return true
    end
    local st = self.haserf.status()
    self.start_error, self.phase = nil, "running"
    if st.warning and st.warning ~= "" and not self.warned then
      self.warned = true  -- once per worker: a reload's new worker says it again
      self:log("warn", "%s", st.warning)
    end
    if st.took_over_from > 0 then
      self:log("notice", "member %s took over from worker %d (reload): no leave, no join",
               tostring(self.cfg.node or "<hostname>"), st.took_over_from)
    else
      self:log("info", "member started on %s (node %s), joining %s", self.cfg.bind,
               tostring(self.cfg.node or "<hostname>"), #self.cfg.join > 0 and table.concat(self.cfg.join, ",") or "nobody")
    end
  end
  if state == "handed-over" then
    self:log("notice", "member handed over to worker %d (reload): this worker stops driving slots",
             self.haserf.status().handed_over_to)
    self.phase = "handed-over"
    return false
  elseif state == "left" or state == "stopped" or state == "failed" then
    if state == "failed" and self:name_conflict(err) then return false end
    if self.stopping then
      self.phase = "stopped"
      return false
    end
    self:log("warn", "member %s%s: starting again", state, err and (" (" .. err .. ")") or "")
    self.phase, self.next_start = "starting", now + self.cfg.start_retry_ms
    return true
  end
  if not self.ready and self:view_ready(now, self.haserf.status()) then
    self.ready, self.ctx.partial = true, false
    self.last_version = nil  -- re-sync without the restored-slot protection
  end
  local v = self.haserf.version()
  if v ~= self.last_version or (self.busy and now >= self.next_busy_sync) then
    local changed = v ~= self.last_version
    self.last_version = v
    self:sync(now, changed)
  end
  if self.peers_due and now >= self.next_peers_save then self:safe("peers file", self.save_peers, self, now) end
  if self.cfg.reload_enabled then
    self:safe("template", self.reload.poll_template, self.reload, now)
    self:safe("reload", self.reload.step, self.reload, self.backends, self.order, now)
  end
  return true
end

-- What the pages show.
-- `filter` (a haserf.members filter, offset and limit included) picks the member rows:
-- view.members, with view.matching (before offset and limit) and view.total. Without one there
-- are no rows: the metrics count from stats(), and a page of 100 out of 10,000 members builds
-- 100 Lua tables under HAProxy's global Lua lock, not 10,000.
function Glue:view(filter)
  local view = {stats = self.haserf.stats(), members = {}, matching = 0, total = 0,
                rows = slots.rows(self.backends, self.order), history = self.reload.history,
                requested = self.reload.requested, phase = self.phase,
                start_error = self.start_error, errors = self.errors, join = self.cfg.join,
                backends = {}}
  if filter then view.members, view.matching, view.total = self.haserf.members(filter) end
  if self.cfg.reload_enabled then
    view.reload = self.haserf.reload_status()
    view.reload.refused = self.reload.refused  -- refused before any job (a chroot that lacks a path)
  end
  view.build = self.haserf.build_info and self.haserf.build_info() or {}
  view.haproxy_version = self.host.haproxy_version and self.host.haproxy_version()
  for _, bname in ipairs(self.order) do
    local b = self.backends[bname]
    local draining = 0
    for _ in pairs(b.draining) do draining = draining + 1 end
    view.backends[bname] = {slots = #b.slots, used = slots.used(b), draining = draining,
                            unplaced = b.unplaced or 0, guarded = b.guarded,
                            guard_activations = b.guard_activations or 0}
  end
  return view
end

return Glue
