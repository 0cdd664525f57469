-- SPDX-License-Identifier: MIT
-- haserf-haproxy.lua: the one file HAProxy loads (`lua-load`, Lua 5.3 and 5.4). It makes
-- HAProxy a member of a Serf cluster and drives server-template slots from the membership
-- (docs/haproxy.md). The work lives in small modules next to this file (haserf/config.lua,
-- slots.lua, reload.lua, pages.lua, glue.lua), which take their HAProxy objects as arguments;
-- this file only wires them to HAProxy.
--
-- Configured with `setenv HASERF_* ...` in the global section BEFORE `lua-load`. Loading the
-- file (in the master, on every reload and in `haproxy -c`) checks every knob and raises an
-- error naming the bad one, registers things, and does nothing else: the member starts from
-- the task, in the worker.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path

local haserf = require "haserf"
local config = require "haserf.config"
local pages = require "haserf.pages"
local Glue = require "haserf.glue"

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  f:write(text)
  f:close()
  return os.rename(tmp, path)
end

-- The glue's levels as HAProxy's log severities (the syslog header and stderr's "[warning]").
local SEVERITY = {debug = core.debug, info = core.info, notice = core.notice, warn = core.warning,
                  err = core.err}
local min_rank = 0  -- HASERF_LOG_LEVEL, once the config is read
local function log(level, msg)
  if (config.LOG_LEVELS[level] or 2) >= min_rank then core.log(SEVERITY[level] or core.info, msg) end
end

local cfg, warnings = config.load(os.getenv, haserf, {read_file = read_file, lua_thread = core.thread,
                                                      config_files = haserf.config_files()})
-- Config warnings must reach whoever runs `haproxy -c`. Up to 2.8 core.Warning always writes
-- to stderr; 2.9+ (tune.lua.log.stderr auto) writes only to the configured loggers when there
-- are any, and messages sent while the file loads reach none: there the warning also goes to
-- stderr directly.
local direct_stderr = core.queue ~= nil  -- core.queue() came with 2.9
for _, w in ipairs(warnings) do
  pcall(core.Warning, "haserf: " .. w)
  if direct_stderr then io.stderr:write("[WARNING] haserf: " .. w .. "\n") end
end

min_rank = config.LOG_LEVELS[cfg.log_level]

local haproxy_version  -- for haserf_build_info: read once
local glue = Glue.new(cfg, haserf, {
  now_ms = function()
    local t = core.now()
    return t.sec * 1000 + t.usec // 1000
  end,
  log = log,
  stopping = function() return tonumber(core.get_info().Stopping) == 1 end,
  haproxy_version = function()
    haproxy_version = haproxy_version or tostring(core.get_info().Version)
    return haproxy_version
  end,
  read_file = read_file,
  write_file = write_file,
})

core.register_init(function()
  local ok, err = pcall(glue.init, glue, core.backends)
  if not ok then glue:report_error("init", err) end
end)

core.register_task(function()
  while true do
    local ok, more = pcall(glue.tick, glue, glue.host.now_ms())
    if not ok then glue:report_error("tick", more)
    elseif more == false then return end
    -- Restored slots waiting for HAProxy 2.9+ to apply their addresses: look again in the
    -- next scheduler turn, not a tick later, so they are ready within a millisecond or so.
    if glue.restore_waiting then core.yield() else core.msleep(cfg.tick_ms) end
  end
end)

-- `http-request lua.haserf-wait-ready if { nbsrv(BACKEND) eq 0 }` (in the backend): a request
-- that finds no usable server while this worker's restored slots still wait for HAProxy 2.9+
-- to apply their addresses (its first milliseconds after a reload) waits for them, at most
-- 2 s, instead of failing with 503. Otherwise it returns at once; the ACL keeps it off the
-- path of every request that has a server to go to.
core.register_action("haserf-wait-ready", {"http-req"}, function()
  local deadline = glue.host.now_ms() + 2000
  while glue.restore_waiting and glue.host.now_ms() < deadline do core.yield() end
end)

-- Pages (run under HAProxy's global Lua lock: keep them off hot paths). A builder returns the
-- body and, if it likes, more response headers.
local function service(name, builder, ctype)
  core.register_service(name, "http", function(applet)
    local ok, body, headers = pcall(builder, applet)
    local status, content_type = 200, ctype  -- per request: an error must not stick
    if not ok then
      glue:report_error("service " .. name, body)
      status, content_type, body, headers = 500, "text/plain; charset=utf-8", "haserf: internal error\n", nil
    end
    applet:set_status(status)
    applet:add_header("content-type", content_type)
    applet:add_header("content-length", tostring(#body))
    applet:add_header("cache-control", "no-store")
    for k, v in pairs(headers or {}) do applet:add_header(k, v) end
    applet:start_response()
    applet:send(body)
  end)
end

-- ?status=, ?name=, ?rejected=, ?offset=, ?limit= as on the page, but every member unless
-- ?limit is given: the body stays `serf members -format=json`'s for its consumers, and the
-- counts (which no page of the body carries) are headers.
service("haserf-members", function(applet)
  local q = pages.query(applet.qs, false)
  local json, matching, total = haserf.members_json(pages.members_filter(q))
  local headers = {["x-haserf-members-total"] = tostring(total),
                   ["x-haserf-members-matching"] = tostring(matching)}
  if #q.ignored > 0 then  -- bounded: a long query string must not overflow the response buffer
    headers["x-haserf-members-ignored"] = table.concat(q.ignored, ", "):gsub("%c", ""):sub(1, 200)
  end
  return json, headers
end, "application/json")
-- One page of members (?limit, default 100), built from the query string: the refresh
-- (content="2", no url) reloads the same address, query string included.
service("haserf-page", function(applet)
  local q = pages.query(applet.qs, true)
  local view = glue:view(pages.members_filter(q))
  view.base, view.query = applet.path, q  -- its links: BASE?..., BASE/members.json, BASE/metrics
  return pages.page(view)
end, "text/html; charset=utf-8")
service("haserf-metrics", function() return pages.metrics(glue:view()) end,
        "text/plain; version=0.0.4; charset=utf-8")

core.register_cli({"haserf", "members"}, "haserf members : list Serf members and slot mapping",
  function(applet)
    local ok, text = pcall(function() return pages.cli(glue:view({})) end)
    if not ok then
      glue:report_error("cli", text)
      text = "error: " .. tostring(text) .. "\n"
    end
    applet:send(text)
  end)

haserf_glue = glue  -- for debugging from a HAProxy Lua console
return glue
