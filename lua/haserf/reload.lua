-- SPDX-License-Identifier: MIT
-- haserf.reload: structural changes (more alive members than slots, an edited template) turn
-- into render -> check -> write -> reload jobs on the module's own thread, debounced and
-- rate-limited; a failed check keeps the running config and the same inputs are not retried
-- (docs/haproxy.md "What the glue does"). Takes the C module's reload/reload_status and a
-- file reader as arguments.
local M = {}
M.__index = M

local HISTORY_MAX = 20

-- Whether the worker can open a path (a file or a folder: fopen opens folders on Linux).
local function can_open(path)
  local f = io.open(path, "rb")
  if not f then return false end
  f:close()
  return true
end

-- haserf: {reload = fn(job), reload_status = fn()}; read_file(path) -> text or nil;
-- log(level, fmt, ...); clock() -> seconds (os.time) for the history; exists(path) -> boolean
-- (default: the worker can open it).
function M.new(cfg, haserf, read_file, log, clock, exists)
  return setmetatable({cfg = cfg, haserf = haserf, read_file = read_file, log = log,
                       clock = clock or os.time, exists = exists or can_open, history = {},
                       requested = nil, last_change = nil, last_start = nil, failed_sig = nil,
                       in_flight = nil, template_text = nil, template_checked = 0,
                       refused = 0}, M)
end

-- HAProxy's `chroot` (cfg.chroot, found in its config files when the glue loads): the worker
-- that renders reads the template, writes HASERF_OUT and runs the check and reload commands
-- with /bin/sh, all inside that folder. What is missing there would fail deep inside the job
-- with a bare "No such file or directory"; say instead which path, and where it was looked for.
-- Returns nil when nothing is missing (or there is no chroot).
function M:chroot_problem()
  local root = self.cfg.chroot
  if root == nil or root == "" or root:match("^/+$") then return nil end
  root = root:gsub("/+$", "")
  local function where(path) return root .. (path:sub(1, 1) == "/" and "" or "/") .. path end
  local problem
  local cfg = self.cfg
  local dir = cfg.out:match("^(.*)/[^/]*$")
  if dir == nil then dir = "." elseif dir == "" then dir = "/" end
  if self.read_file(cfg.template) == nil then
    problem = string.format("HASERF_TEMPLATE %s is not readable inside HAProxy's chroot %s " ..
                            "(the worker looks for %s)", cfg.template, root, where(cfg.template))
  elseif not self.exists(dir) then
    problem = string.format("HASERF_OUT %s cannot be written inside HAProxy's chroot %s " ..
                            "(the worker looks for the folder %s)", cfg.out, root, where(dir))
  elseif not self.exists("/bin/sh") then
    problem = string.format("%s with /bin/sh, which HAProxy's chroot %s does not have " ..
                            "(the worker looks for %s)",
                            cfg.reload_cmd and "HASERF_CHECK and HASERF_RELOAD run" or "HASERF_CHECK runs",
                            root, where("/bin/sh"))
  end
  if problem == nil then return nil end
  return problem .. "; rendered reloads need the template, HASERF_OUT's folder and /bin/sh " ..
         "inside the chroot: drop `chroot` to use them (slots need none)"
end

-- Newest first: {time=, what=, result=, message=}.
function M:remember(what, result, message, time)
  table.insert(self.history, 1, {time = time or self.clock(), what = what, result = result,
                                 message = message or ""})
  while #self.history > HISTORY_MAX do table.remove(self.history) end
end

function M:slots_needed(b)
  local n = math.max(#b.slots, b.wanted or 0)
  local step = self.cfg.slot_step
  return ((n + step - 1) // step) * step
end

function M:vars(backends, order)
  local vars = {}
  for k, v in pairs(self.cfg.vars) do vars[k] = v end
  for i, bname in ipairs(order) do
    local n = tostring(self:slots_needed(backends[bname]))
    vars["slots_" .. bname:gsub("[^%w_]", "_")] = n
    if i == 1 then vars.slots = n end
  end
  return vars
end

local function signature(vars, template_text)
  local keys = {}
  for k in pairs(vars) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. vars[k] end
  return table.concat(parts, "\n") .. "\n--\n" .. (template_text or "")
end

function M:request(reason, now)
  if not self.requested then self.log("info", "reload wanted: %s", reason) end
  self.requested = reason
  self.last_change = now
end

-- Membership moved: a requested render waits until things are quiet again.
function M:membership_changed(backends, order, now)
  if self.requested then self.last_change = now end
  for _, bname in ipairs(order) do
    local b = backends[bname]
    if (b.wanted or 0) > #b.slots then
      self:request(string.format("%s: %d alive members, %d slots", bname, b.wanted, #b.slots), now)
      return
    end
  end
end

function M:poll_template(now)
  if now - self.template_checked < self.cfg.template_poll_ms then return end
  self.template_checked = now
  local text = self.read_file(self.cfg.template)
  if text == nil then return end
  if self.template_text == nil then
    self.template_text = text
  elseif text ~= self.template_text then
    self.template_text = text
    self:request("template " .. self.cfg.template .. " changed", now)
  end
end

-- Collects a finished job, or starts one when a request is due.
function M:step(backends, order, now)
  local h = self.haserf
  if self.in_flight then
    local st = h.reload_status()
    if st.state == "running" then return end
    self.in_flight = nil
    if st.state == "failed" then
      self.failed_sig = self.last_sig
      self.log("warn", "reload failed (running config kept): %s", tostring(st.message))
    else
      self.failed_sig = nil
      self.log("notice", "reload %s: %s", tostring(st.state), tostring(st.message or ""))
    end
    self:remember("render+check+reload", st.state, st.message)
    return
  end
  if not self.requested then return end
  if now - self.last_change < self.cfg.debounce_ms then return end
  if self.last_start and now - self.last_start < self.cfg.min_interval_ms then return end
  local vars = self:vars(backends, order)
  local sig = signature(vars, self.template_text)
  if sig == self.failed_sig then
    -- Same inputs as the last failed attempt: wait for something to change.
    self.requested = nil
    return
  end
  local refused = self:chroot_problem()
  if refused then
    -- Like a failed check: nothing written, not retried until the inputs change.
    self.requested, self.failed_sig = nil, sig
    self.refused = self.refused + 1  -- haserf_reloads_total{result="refused"}: no job ran
    self:remember("render+check+reload", "failed", refused)
    self.log("warn", "reload refused (running config kept): %s", refused)
    return
  end
  local ok, err = h.reload({template = self.cfg.template, out = self.cfg.out, vars = vars,
                            check = self.cfg.check, reload = self.cfg.reload_cmd})
  if ok then
    self.log("notice", "reload started (%s; slots %s)", self.requested, vars.slots or "?")
    self.in_flight, self.last_start, self.last_sig, self.requested = true, now, sig, nil
  elseif err == "busy" then
    self.last_start = now  -- try again after the interval
  else
    self.requested = nil
    self:remember("render+check+reload", "failed", err)
    self.log("warn", "reload could not start: %s", tostring(err))
  end
end

-- ---- the history as text, handed to the next worker with the slots ------------------------

function M:export(escape)
  local out = {}
  for i = #self.history, 1, -1 do  -- oldest first: restore() re-inserts in order
    local h = self.history[i]
    out[#out + 1] = table.concat({"H", tostring(h.time), escape(h.what), escape(h.result),
                                  escape(h.message)}, "\t")
  end
  return out
end

function M:restore(lines, unescape)
  for _, line in ipairs(lines) do
    local f = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = unescape(field) end
    if f[1] == "H" and tonumber(f[2]) then self:remember(f[3], f[4], f[5], tonumber(f[2])) end
  end
end

return M
