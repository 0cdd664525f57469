-- haserf-haproxy.lua: makes HAProxy a member of a Serf cluster and drives server-template
-- slots from the membership. Loaded with `lua-load` (Lua 5.3 and 5.4).
--
-- Configured from the global section with `setenv HASERF_* ...` placed BEFORE `lua-load`
-- (see docs/haproxy.md for every knob). Nothing happens when this file is loaded (it also
-- runs in the master and in `haproxy -c`): the member is started from the first run of the
-- sync task, in the worker. Every piece of glue runs under pcall: a Lua error is logged and
-- never takes HAProxy down.

local haserf = require "haserf"

local M = {}   -- internal state, exposed as the global `haserf_glue` for debugging

---------------------------------------------------------------------------------------------
-- Configuration (read in the body: setenv lines before lua-load are already applied)
---------------------------------------------------------------------------------------------

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function split_list(s)
  local out = {}
  if not s then return out end
  for item in string.gmatch(s, "[^,]+") do
    item = trim(item)
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

-- "k=v,k=v" -> table; errors name the knob.
local function split_kv(s, knob)
  local out = {}
  for _, item in ipairs(split_list(s)) do
    local k, v = item:match("^([^=]+)=(.*)$")
    if not k then error(string.format("haserf: %s: '%s' is not key=value", knob, item), 0) end
    out[trim(k)] = trim(v)
  end
  return out
end

local function num(knob, default)
  local v = env(knob)
  if v == nil then return default end
  local n = tonumber(v)
  if not n then error(string.format("haserf: %s must be a number, got '%s'", knob, v), 0) end
  return n
end

local cfg = {
  bind = env("HASERF_BIND"),
  advertise = env("HASERF_ADVERTISE"),
  join = split_list(env("HASERF_JOIN")),
  node = env("HASERF_NODE"),
  tags = split_kv(env("HASERF_TAGS"), "HASERF_TAGS"),
  encrypt = env("HASERF_ENCRYPT"),
  profile = env("HASERF_PROFILE"),
  select = split_kv(env("HASERF_SELECT", "role=backend"), "HASERF_SELECT"),
  port_tag = env("HASERF_PORT_TAG", "port"),
  weight_tag = env("HASERF_WEIGHT_TAG", "weight"),
  default_port = math.tointeger(num("HASERF_DEFAULT_PORT", 80)) or
                 error("haserf: HASERF_DEFAULT_PORT must be an integer", 0),
  backends = split_list(env("HASERF_BACKENDS", "nodes")),
  template = env("HASERF_TEMPLATE"),
  out = env("HASERF_OUT"),
  vars = split_kv(env("HASERF_VARS"), "HASERF_VARS"),
  reload_mode = env("HASERF_RELOAD", "none"),
  check = env("HASERF_CHECK", "haproxy -c -f {}"),
  slot_step = math.tointeger(num("HASERF_SLOT_STEP", 4)),
  debounce_ms = num("HASERF_DEBOUNCE_MS", 500),
  min_interval_ms = num("HASERF_RELOAD_INTERVAL_MS", 5000),
  tick_ms = num("HASERF_TICK_MS", 10),
  template_poll_ms = num("HASERF_TEMPLATE_POLL_MS", 1000),
  start_retry_ms = num("HASERF_START_RETRY_MS", 1000),
  peers_file = env("HASERF_PEERS_FILE"),
}

if not cfg.bind then
  error("haserf: HASERF_BIND is required: add `setenv HASERF_BIND IP:PORT` to the global " ..
        "section, before `lua-load`", 0)
end
if #cfg.backends == 0 then error("haserf: HASERF_BACKENDS is empty", 0) end
if not cfg.slot_step or cfg.slot_step < 1 then error("haserf: HASERF_SLOT_STEP must be >= 1", 0) end
-- Per-backend selection: HASERF_SELECT_<BACKEND> (upper case, non-alnum -> _) overrides.
cfg.select_of = {}
for _, b in ipairs(cfg.backends) do
  local key = "HASERF_SELECT_" .. b:upper():gsub("[^%w]", "_")
  local s = env(key)
  cfg.select_of[b] = s and split_kv(s, key) or cfg.select
end

-- The reload command, from the mode.
local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
do
  local mode = cfg.reload_mode
  if mode == "none" then
    cfg.reload_cmd = nil
  elseif mode == "signal" then
    -- The command runs in a shell spawned by the worker: $PPID is the worker, its parent is
    -- the master. SIGUSR2 to the master = reload.
    cfg.reload_cmd = "kill -USR2 \"$(cut -d' ' -f4 /proc/$PPID/stat)\""
  elseif mode:sub(1, 7) == "signal:" then
    cfg.reload_cmd = "kill -USR2 \"$(cat " .. shell_quote(mode:sub(8)) .. ")\""
  elseif mode:sub(1, 11) == "master-cli:" then
    cfg.reload_cmd = "echo reload | socat -t 5 - " .. shell_quote("unix-connect:" .. mode:sub(12))
  elseif mode:sub(1, 4) == "cmd:" then
    cfg.reload_cmd = mode:sub(5)
  else
    error("haserf: HASERF_RELOAD must be none, signal, signal:PIDFILE, master-cli:PATH or " ..
          "cmd:COMMAND, got '" .. mode .. "'", 0)
  end
  cfg.reload_enabled = cfg.template ~= nil and cfg.out ~= nil
end

M.cfg = cfg

---------------------------------------------------------------------------------------------
-- Small helpers
---------------------------------------------------------------------------------------------

local function now_ms()
  local t = core.now()
  return t.sec * 1000 + t.usec // 1000
end

local function log(level, fmt, ...)
  local ok, msg = pcall(string.format, fmt, ...)
  if not ok then msg = fmt end
  msg = "haserf: " .. msg
  pcall(function()
    if level == "err" then core.Alert(msg)
    elseif level == "warn" then core.Warning(msg)
    else core.Info(msg) end
  end)
end

-- Rate-limited error log (one per 5 s per key), counting every error.
M.errors = 0
local last_err_log = {}
local function report_error(where, err)
  M.errors = M.errors + 1
  local t = now_ms()
  if not last_err_log[where] or t - last_err_log[where] >= 5000 then
    last_err_log[where] = t
    log("err", "%s: %s", where, tostring(err))
  end
end

local function safe(where, fn, ...)
  local ok, a, b = pcall(fn, ...)
  if not ok then report_error(where, a); return nil end
  return a, b
end

-- Natural order: s2 < s10.
local function natural_less(a, b)
  local pa, na = a:match("^(.-)(%d+)$")
  local pb, nb = b:match("^(.-)(%d+)$")
  if pa and pb and pa == pb then return tonumber(na) < tonumber(nb) end
  return a < b
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local HISTORY_MAX = 20
M.history = {}   -- newest first: {time=, what=, result=, message=}
local function remember(what, result, message)
  table.insert(M.history, 1, {time = os.time(), what = what, result = result, message = message or ""})
  while #M.history > HISTORY_MAX do table.remove(M.history) end
end

---------------------------------------------------------------------------------------------
-- Slots
---------------------------------------------------------------------------------------------
-- M.backends[name] = {
--   name=, slots = {slot names in natural order}, servers = {slot -> Server},
--   member_of = {slot -> member name}, slot_of = {member name -> slot},
--   applied = {slot -> {addr=, port=, weight=, state="ready"|"drain"|"maint"}},
--   default_weight = {slot -> initial weight}, wanted = number of alive selected members }

M.backends = {}
M.backend_order = {}

local function init_backends()
  for _, bname in ipairs(cfg.backends) do
    local px = core.backends[bname]
    if not px then
      log("err", "backend '%s' (HASERF_BACKENDS) does not exist: not driven", bname)
    else
      local b = {name = bname, slots = {}, servers = {}, member_of = {}, slot_of = {},
                 applied = {}, default_weight = {}, wanted = 0, select = cfg.select_of[bname]}
      for sname, srv in pairs(px.servers) do
        b.slots[#b.slots + 1] = sname
        b.servers[sname] = srv
        b.default_weight[sname] = tonumber(srv:get_weight()) or 1
        b.applied[sname] = {}
      end
      table.sort(b.slots, natural_less)
      M.backends[bname] = b
      M.backend_order[#M.backend_order + 1] = bname
      log("info", "driving backend %s: %d slots, members with %s", bname, #b.slots,
          (function() local t = {} for k, v in pairs(b.select) do t[#t + 1] = k .. "=" .. v end
             table.sort(t) return table.concat(t, ",") end)())
    end
  end
end

local function set_state(b, slot, state)
  local srv = b.servers[slot]
  local ap = b.applied[slot]
  if ap.state == state then return end
  if state == "ready" then srv:set_ready()
  elseif state == "drain" then srv:set_drain()
  else srv:set_maint() end
  ap.state = state
end

local function free_slot(b, slot, why)
  local m = b.member_of[slot]
  set_state(b, slot, "maint")
  if m then
    b.slot_of[m] = nil
    b.member_of[slot] = nil
    log("info", "%s/%s: member %s %s: slot freed (maint)", b.name, slot, m, why)
  end
end

local function member_port(m)
  local p = tonumber(m.tags and m.tags[cfg.port_tag])
  if p and p >= 1 and p <= 65535 and p == math.floor(p) then return math.tointeger(p) end
  return cfg.default_port
end

local function member_weight(b, slot, m)
  local w = tonumber(m.tags and m.tags[cfg.weight_tag])
  if w and w >= 0 and w <= 256 and w == math.floor(w) then return math.tointeger(w) end
  return b.default_weight[slot]
end

-- Points a slot at an alive member and makes it ready.
local function assign(b, slot, m)
  local srv = b.servers[slot]
  local ap = b.applied[slot]
  local port = member_port(m)
  if ap.addr ~= m.addr or ap.port ~= port then
    srv:set_addr(m.addr, port)   -- returns a message, not a status (2.6): not checked
    ap.addr, ap.port = m.addr, port
  end
  local w = member_weight(b, slot, m)
  if ap.weight ~= w then
    srv:set_weight(tostring(w))
    ap.weight = w
  end
  set_state(b, slot, "ready")
end

local function matches(m, sel)
  for k, v in pairs(sel) do
    if not m.tags or m.tags[k] ~= v then return false end
  end
  return true
end

local function sync_backend(b, members)
  local seen = {}
  local alive = 0
  local pending = {}   -- alive members without a slot, in name order
  for _, m in ipairs(members) do
    if matches(m, b.select) then
      seen[m.name] = true
      local slot = b.slot_of[m.name]
      local st = m.status
      if st == "alive" or st == "suspect" then
        if st == "alive" then alive = alive + 1 end
        if slot then
          assign(b, slot, m)
        elseif st == "alive" then
          pending[#pending + 1] = m
        end
      elseif st == "leaving" then
        if slot and b.applied[slot].state ~= "drain" then
          set_state(b, slot, "drain")
          log("info", "%s/%s: member %s leaving: drain", b.name, slot, m.name)
        end
      elseif slot then   -- left, failed, none
        free_slot(b, slot, st)
      end
    end
  end
  -- Members gone from the table (reaped) free their slots.
  for slot, name in pairs(b.member_of) do
    if not seen[name] then free_slot(b, slot, "removed") end
  end
  -- New members take free slots in order.
  local i = 1
  for _, slot in ipairs(b.slots) do
    if i > #pending then break end
    if not b.member_of[slot] then
      local m = pending[i]
      b.member_of[slot] = m.name
      b.slot_of[m.name] = slot
      assign(b, slot, m)
      log("info", "%s/%s: member %s (%s:%d) joined: ready", b.name, slot, m.name, m.addr,
          member_port(m))
      i = i + 1
    end
  end
  -- Slots without a member stay in maintenance.
  for _, slot in ipairs(b.slots) do
    if not b.member_of[slot] then set_state(b, slot, "maint") end
  end
  b.wanted = alive
  b.unplaced = #pending - (i - 1)
  if b.unplaced > 0 then
    log("warn", "%s: %d alive members have no free slot (%d slots)", b.name, b.unplaced, #b.slots)
  end
end

local function sync_all()
  local members = haserf.members({self = false})
  for _, bname in ipairs(M.backend_order) do
    local b = M.backends[bname]
    local ok, err = pcall(sync_backend, b, members)
    if not ok then report_error("sync " .. bname, err) end
  end
end

---------------------------------------------------------------------------------------------
-- Structural changes: render -> check -> write -> reload, on the module's thread
---------------------------------------------------------------------------------------------

M.reload = {state = "idle", last_start = nil, last_change = nil, requested = nil,
            failed_sig = nil, in_flight = nil, template_text = nil, template_checked = 0}

local function slots_needed(b)
  local n = math.max(#b.slots, b.wanted or 0)
  return ((n + cfg.slot_step - 1) // cfg.slot_step) * cfg.slot_step
end

local function build_vars()
  local vars = {}
  for k, v in pairs(cfg.vars) do vars[k] = v end
  local first = true
  for _, bname in ipairs(M.backend_order) do
    local n = tostring(slots_needed(M.backends[bname]))
    vars["slots_" .. bname:gsub("[^%w_]", "_")] = n
    if first then vars.slots = n; first = false end
  end
  return vars
end

local function vars_signature(vars)
  local keys = {}
  for k in pairs(vars) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. vars[k] end
  return table.concat(parts, "\n")
end

local function structural_reason()
  for _, bname in ipairs(M.backend_order) do
    local b = M.backends[bname]
    if (b.wanted or 0) > #b.slots then
      return string.format("%s: %d alive members, %d slots", bname, b.wanted, #b.slots)
    end
  end
  return nil
end

local function request_reload(reason, t)
  local r = M.reload
  if not r.requested then log("info", "reload wanted: %s", reason) end
  r.requested = reason
  r.last_change = t
end

local function poll_template(t)
  local r = M.reload
  if not cfg.template or t - r.template_checked < cfg.template_poll_ms then return end
  r.template_checked = t
  local text = read_file(cfg.template)
  if text == nil then return end
  if r.template_text == nil then
    r.template_text = text
  elseif text ~= r.template_text then
    r.template_text = text
    request_reload("template " .. cfg.template .. " changed", t)
  end
end

local function maybe_start_reload(t)
  local r = M.reload
  if r.in_flight then
    local st = haserf.reload_status()
    if st.state == "running" then return end
    r.in_flight = nil
    local result = st.state
    if result == "failed" then
      r.failed_sig = r.last_sig
      log("err", "reload failed (running config kept): %s", tostring(st.message))
    else
      r.failed_sig = nil
      log("info", "reload %s: %s", tostring(result), tostring(st.message or ""))
    end
    remember("render+check+reload", result, st.message)
    return
  end
  if not r.requested then return end
  if t - r.last_change < cfg.debounce_ms then return end
  if r.last_start and t - r.last_start < cfg.min_interval_ms then return end
  local vars = build_vars()
  local sig = vars_signature(vars) .. "\n--\n" .. (r.template_text or "")
  if sig == r.failed_sig then
    -- Same inputs as the last failed attempt: wait for something to change.
    r.requested = nil
    return
  end
  local job = {template = cfg.template, out = cfg.out, vars = vars, check = cfg.check,
               reload = cfg.reload_cmd}
  local ok, err = haserf.reload(job)
  if ok then
    log("info", "reload started (%s; slots %s)", r.requested, vars.slots or "?")
    r.in_flight = true
    r.last_start = t
    r.last_sig = sig
    r.requested = nil
  elseif err == "busy" then
    r.last_start = t   -- try again after the interval
  else
    r.requested = nil
    remember("render+check+reload", "failed", err)
    log("err", "reload could not start: %s", tostring(err))
  end
end

---------------------------------------------------------------------------------------------
-- Peers file: the addresses of the alive members, so that the next worker (after a reload)
-- or the next start rejoins them even when nobody lists HAProxy in its join list.
---------------------------------------------------------------------------------------------

local function hostport(addr, port)
  if addr:find(":", 1, true) then return "[" .. addr .. "]:" .. tostring(port) end
  return addr .. ":" .. tostring(port)
end

M.peers_text = nil
local function save_peers()
  if not cfg.peers_file then return end
  local lines = {}
  for _, m in ipairs(haserf.members({status = "alive", self = false})) do
    lines[#lines + 1] = hostport(m.addr, m.port)
  end
  if #lines == 0 then return end   -- keep the last non-empty list
  local text = table.concat(lines, "\n") .. "\n"
  if text == M.peers_text then return end
  local tmp = cfg.peers_file .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then report_error("peers file", err); return end
  f:write(text)
  f:close()
  local ok, err2 = os.rename(tmp, cfg.peers_file)
  if not ok then report_error("peers file", err2); return end
  M.peers_text = text
end

local function load_peers(join)
  if not cfg.peers_file then return join end
  local text = read_file(cfg.peers_file)
  if not text then return join end
  local out, seen = {}, {}
  for _, j in ipairs(join) do out[#out + 1] = j; seen[j] = true end
  for line in text:gmatch("[^\n]+") do
    line = trim(line)
    if line ~= "" and line ~= cfg.bind and not seen[line] then out[#out + 1] = line; seen[line] = true end
  end
  return out
end

---------------------------------------------------------------------------------------------
-- The task
---------------------------------------------------------------------------------------------

M.phase = "starting"    -- starting | running | stopping
M.last_version = nil
M.start_error = nil

local function try_start()
  local opts = {bind = cfg.bind, join = load_peers(cfg.join), tags = cfg.tags, handover = "sibling"}
  if cfg.advertise then opts.advertise = cfg.advertise end
  if cfg.node then opts.node = cfg.node end
  if cfg.encrypt then opts.encrypt = cfg.encrypt end
  if cfg.profile then opts.profile = cfg.profile end
  local ok, err = haserf.start(opts)
  if ok then
    log("info", "member started on %s (node %s), joining %s", cfg.bind, cfg.node or "<hostname>",
        #opts.join > 0 and table.concat(opts.join, ",") or "nobody")
    M.start_error = nil
    return true
  end
  if M.start_error ~= err then log("err", "cannot start the member: %s (retrying)", tostring(err)) end
  M.start_error = err
  return false
end

local function is_stopping()
  local info = core.get_info()
  return tonumber(info.Stopping) == 1
end

local next_start = 0
local function tick()
  local t = now_ms()
  if is_stopping() then
    M.phase = "stopping"
    log("info", "soft-stop: handing over to the new worker, or leaving")
    safe("soft_stop", haserf.soft_stop)
    return false
  end
  if M.phase == "starting" then
    if t < next_start then return true end
    if not try_start() then next_start = t + cfg.start_retry_ms; return true end
    M.phase = "waiting"
  end
  if M.phase == "waiting" then
    local st, err = haserf.state()
    if st == "failed" then
      log("err", "cannot start the member: %s (retrying)", tostring(err))
      M.phase = "starting"; next_start = t + cfg.start_retry_ms
      return true
    elseif st ~= "running" then return true end
    log("info", "member %s: %s", st, tostring(err or ""))
    M.phase = "running"
  end
  local v = haserf.version()
  if v ~= M.last_version then
    M.last_version = v
    if M.reload.requested then M.reload.last_change = t end
    sync_all()
    safe("peers file", save_peers)
    if cfg.reload_enabled then
      local reason = structural_reason()
      if reason then request_reload(reason, t) end
    end
  end
  if cfg.reload_enabled then
    safe("template", poll_template, t)
    safe("reload", maybe_start_reload, t)
  end
  return true
end

core.register_task(function()
  local ok, err = pcall(init_backends)
  if not ok then report_error("init", err) end
  while true do
    local ok2, more = pcall(tick)
    if not ok2 then report_error("tick", more)
    elseif more == false then return end
    core.msleep(cfg.tick_ms)
  end
end)

---------------------------------------------------------------------------------------------
-- Services: JSON, HTML page, Prometheus metrics, CLI
---------------------------------------------------------------------------------------------

local function truthy(v) return v == true or (tonumber(v) or 0) > 0 end

local function html(s)
  s = tostring(s == nil and "" or s)
  return (s:gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                             ['"'] = "&quot;", ["'"] = "&#39;"}))
end

local function respond(applet, status, ctype, body)
  applet:set_status(status)
  applet:add_header("content-type", ctype)
  applet:add_header("content-length", tostring(#body))
  applet:add_header("cache-control", "no-store")
  applet:start_response()
  applet:send(body)
end

local function service(name, builder, ctype)
  core.register_service(name, "http", function(applet)
    local ok, body = pcall(builder, applet)
    if ok then
      respond(applet, 200, ctype, body)
    else
      report_error("service " .. name, body)
      pcall(respond, applet, 500, "text/plain; charset=utf-8", "haserf: internal error\n")
    end
  end)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function tags_text(tags)
  local parts = {}
  for _, k in ipairs(sorted_keys(tags)) do parts[#parts + 1] = k .. "=" .. tostring(tags[k]) end
  return table.concat(parts, ", ")
end

local function fmt_time(t) return os.date("!%Y-%m-%d %H:%M:%SZ", t) end

local function slot_rows()
  local rows = {}
  for _, bname in ipairs(M.backend_order) do
    local b = M.backends[bname]
    for _, slot in ipairs(b.slots) do
      local ap = b.applied[slot]
      rows[#rows + 1] = {backend = bname, slot = slot, member = b.member_of[slot],
                         state = ap.state or "maint",
                         addr = ap.addr and (ap.addr .. ":" .. tostring(ap.port)) or "",
                         weight = ap.weight}
    end
  end
  return rows
end

M.STATUSES = {"alive", "suspect", "leaving", "left", "failed"}

-- The join status as people read it: joining, how many seeds answered, or no join list at all
-- (backends may have joined us instead).
local function join_text(stats)
  local n = tonumber(stats.joined)
  if #cfg.join == 0 then return "n/a (no join list; peers join us)" end
  if n == nil or n < 0 then return "joining" end
  if n == 0 then return "no (" .. html(stats.join_error or "") .. ")" end
  return "yes (" .. n .. " of " .. #cfg.join .. ")"
end

local function page()
  local out = {}
  local function w(...) for _, s in ipairs({...}) do out[#out + 1] = s end end
  local stats = haserf.stats()
  local members = haserf.members()
  w('<!DOCTYPE html>\n<html><head><meta charset="utf-8">',
    '<meta http-equiv="refresh" content="2"><title>haserf: ', html(stats.node), '</title>',
    '<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1.5em}',
    'td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#eee}',
    '.alive,.ready,.ok{color:#070}.failed{color:#b00}.leaving,.left,.drain,.suspect,.unchanged{color:#a60}',
    '.maint{color:#888}</style></head><body>\n')
  w('<h1>haserf on ', html(stats.node), '</h1>\n<p>phase ', html(M.phase),
    ', table version ', html(stats.version), ', ', html(stats.alive), ' alive of ',
    html(stats.members), ' members, joined: ', join_text(stats),
    stats.join_error and stats.join_error ~= "" and (' (' .. html(stats.join_error) .. ')') or '',
    M.start_error and (', start error: ' .. html(M.start_error)) or '', '</p>\n')
  w('<h2>Members</h2>\n<table><tr><th>name</th><th>address</th><th>status</th><th>tags</th></tr>\n')
  for _, m in ipairs(members) do
    w('<tr><td>', html(m.name), '</td><td>', html(m.addr), ':', html(m.port), '</td><td class="',
      html(m.status), '">', html(m.status), '</td><td>', html(tags_text(m.tags)), '</td></tr>\n')
  end
  w('</table>\n<h2>Slots</h2>\n<table><tr><th>backend/slot</th><th>member</th><th>state</th>',
    '<th>address</th><th>weight</th></tr>\n')
  for _, r in ipairs(slot_rows()) do
    w('<tr><td>', html(r.backend), '/', html(r.slot), '</td><td>', html(r.member or "-"),
      '</td><td class="', html(r.state), '">', html(r.state), '</td><td>', html(r.addr),
      '</td><td>', html(r.weight or ""), '</td></tr>\n')
  end
  w('</table>\n<h2>Renders and reloads</h2>\n')
  local rs = haserf.reload_status()
  w('<p>module: state ', html(rs.state), ', ok ', html(rs.ok), ', unchanged ', html(rs.unchanged),
    ', failed ', html(rs.failed), rs.message and (' - last message: ' .. html(rs.message)) or '',
    M.reload.requested and (' - pending: ' .. html(M.reload.requested)) or '', '</p>\n')
  w('<table><tr><th>time (UTC)</th><th>what</th><th>outcome</th><th>message</th></tr>\n')
  if #M.history == 0 then w('<tr><td colspan="4">none yet</td></tr>\n') end
  for _, h in ipairs(M.history) do
    w('<tr><td>', html(fmt_time(h.time)), '</td><td>', html(h.what), '</td><td class="',
      html(h.result), '">', html(h.result), '</td><td>', html(h.message), '</td></tr>\n')
  end
  w('</table>\n<h2>Counters</h2>\n<table>\n')
  for _, k in ipairs(sorted_keys(stats)) do
    w('<tr><th>', html(k), '</th><td>', html(stats[k]), '</td></tr>\n')
  end
  w('<tr><th>glue_errors</th><td>', html(M.errors), '</td></tr>\n</table>\n')
  w('<p><a href="members.json">members.json</a> &middot; <a href="metrics">metrics</a></p>\n',
    '</body></html>\n')
  return table.concat(out)
end

local function label(v)
  return (tostring(v):gsub('[\\"\n]', {["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n"}))
end

local function metrics()
  local out = {}
  local function metric(name, typ, help)
    out[#out + 1] = "# HELP " .. name .. " " .. help .. "\n# TYPE " .. name .. " " .. typ .. "\n"
  end
  local function val(name, labels, v)
    v = tonumber(v) or (v == true and 1) or 0
    out[#out + 1] = name .. (labels or "") .. " " .. string.format("%.17g", v) .. "\n"
  end
  local stats = haserf.stats()
  local counts = {}
  for _, s in ipairs(M.STATUSES) do counts[s] = 0 end
  for _, m in ipairs(haserf.members()) do counts[m.status] = (counts[m.status] or 0) + 1 end
  metric("haserf_up", "gauge", "1 when the gossip member runs in this worker")
  val("haserf_up", nil, truthy(stats.started) and 1 or 0)
  metric("haserf_joined", "gauge", "1 once the initial join succeeded")
  val("haserf_joined", nil, truthy(stats.joined) and 1 or 0)
  metric("haserf_members", "gauge", "Members known, by status (our own node included)")
  for _, s in ipairs(sorted_keys(counts)) do val("haserf_members", '{status="' .. label(s) .. '"}', counts[s]) end
  metric("haserf_table_version", "gauge", "Membership table version")
  val("haserf_table_version", nil, stats.version)
  local counters = {
    {"packets_received", "Gossip packets received"},
    {"packets_dropped", "Gossip packets dropped (bad CRC, decrypt, decode, queue full)"},
    {"packets_sent", "Gossip packets sent"},
    {"messages_dropped", "Memberlist messages dropped"},
    {"serf_messages_dropped", "Serf messages dropped"},
    {"probes", "Failure detector probes"},
    {"probe_failures", "Failed probes"},
    {"refutes", "Suspicions about us refuted"},
    {"push_pulls", "Push/pull state syncs"},
    {"events_received", "User events received"},
    {"events_dropped", "User events dropped from the queue"},
  }
  for _, c in ipairs(counters) do
    local name = "haserf_" .. c[1] .. "_total"
    metric(name, "counter", c[2])
    val(name, nil, stats[c[1]])
  end
  metric("haserf_awareness", "gauge", "Memberlist health awareness score (0 = healthy)")
  val("haserf_awareness", nil, stats.awareness)
  local rs = haserf.reload_status()
  metric("haserf_reloads_total", "counter", "Render/check/reload jobs by result")
  val("haserf_reloads_total", '{result="failed"}', rs.failed)
  val("haserf_reloads_total", '{result="ok"}', rs.ok)
  val("haserf_reloads_total", '{result="unchanged"}', rs.unchanged)
  metric("haserf_reload_running", "gauge", "1 while a render/check/reload job runs")
  val("haserf_reload_running", nil, rs.state == "running" and 1 or 0)
  metric("haserf_slots", "gauge", "server-template slots per backend, used or free")
  for _, bname in ipairs(M.backend_order) do
    local b = M.backends[bname]
    local used = 0
    for _ in pairs(b.member_of) do used = used + 1 end
    val("haserf_slots", '{backend="' .. label(bname) .. '",state="used"}', used)
    val("haserf_slots", '{backend="' .. label(bname) .. '",state="free"}', #b.slots - used)
  end
  metric("haserf_unplaced_members", "gauge", "Alive selected members without a free slot")
  for _, bname in ipairs(M.backend_order) do
    val("haserf_unplaced_members", '{backend="' .. label(bname) .. '"}', M.backends[bname].unplaced or 0)
  end
  metric("haserf_glue_errors_total", "counter", "Lua errors caught in the HAProxy glue")
  val("haserf_glue_errors_total", nil, M.errors)
  return table.concat(out)
end

service("haserf-members", function() return haserf.members_json() end, "application/json")
service("haserf-page", page, "text/html; charset=utf-8")
service("haserf-metrics", metrics, "text/plain; version=0.0.4; charset=utf-8")

-- `haserf members` on the stats socket.
core.register_cli({"haserf", "members"}, "haserf members : list Serf members and slot mapping",
  function(applet)
    local ok, err = pcall(function()
      local out = {}
      for _, m in ipairs(haserf.members()) do
        out[#out + 1] = string.format("%-24s %-22s %-8s %s\n", m.name, m.addr .. ":" .. tostring(m.port),
                                      m.status, tags_text(m.tags))
      end
      for _, r in ipairs(slot_rows()) do
        out[#out + 1] = string.format("slot %s/%s %s %s %s\n", r.backend, r.slot, r.state,
                                      r.member or "-", r.addr)
      end
      applet:send(table.concat(out))
    end)
    if not ok then report_error("cli", err); pcall(applet.send, applet, "error: " .. tostring(err) .. "\n") end
  end)

haserf_glue = M
return M
