-- SPDX-License-Identifier: MIT
-- haserf_policy.lua: shared helpers for the custom balancing policies in examples/policies/
-- (zone-affinity.lua, weighted.lua, chash.lua). A plain Lua module: `require "haserf_policy"`
-- with `lua-prepend-path "/path/to/examples/policies/?.lua"` in the global section.
--
-- Made for sample fetches loaded with `lua-load-per-thread` (one copy of this module per
-- thread's Lua state; no global Lua lock on the request path). Everything here:
--   * never blocks: it reads haserf's process-wide snapshot (haserf.members(), haserf.version())
--     and HAProxy's in-memory server objects, nothing else;
--   * rebuilds nothing per request: members and every derived table (zones, cumulative
--     weights, hash ring, slot map) are cached per haserf.version() and rebuilt only when the
--     membership moved;
--   * never raises into HAProxy: P.fetch() wraps a policy in pcall and turns an error (or no
--     pick) into "" (see "Nothing picked" below).
--
-- Nothing picked: HAProxy 2.6 turns a `nil` returned by a Lua fetch into the boolean `false`,
-- a sample that is always "found". The fetches therefore return the empty string when they pick
-- nothing, and configs test `{ var(txn.x) -m len gt 0 }`, never `-m found`.
--
-- Knobs: the same environment variables as the glue (lua/haserf-haproxy.lua), read when the
-- file is loaded: HASERF_SELECT (default role=backend) and HASERF_SELECT_<BACKEND>,
-- HASERF_PORT_TAG (port), HASERF_DEFAULT_PORT (80), HASERF_WEIGHT_TAG (weight).

local haserf = require "haserf"

local P = {}

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

-- "k=v,k=v" or "k=v;k=v" (fetch arguments cannot contain a comma) -> table.
function P.parse_select(s)
  local out = {}
  for item in string.gmatch(s or "", "[^,;]+") do
    local k, v = item:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
    if k and k ~= "" then out[k] = v end
  end
  return out
end

P.port_tag = env("HASERF_PORT_TAG", "port")
P.weight_tag = env("HASERF_WEIGHT_TAG", "weight")
P.default_port = math.tointeger(tonumber(env("HASERF_DEFAULT_PORT", "80"))) or 80
P.default_select_text = env("HASERF_SELECT", "role=backend")

-- The selection the glue uses for a backend's slots (HASERF_SELECT_<BACKEND>, HASERF_SELECT).
function P.backend_select_text(backend)
  return env("HASERF_SELECT_" .. backend:upper():gsub("[^%w]", "_"), P.default_select_text)
end

function P.member_port(m)
  local p = tonumber(m.tags[P.port_tag])
  if p and p >= 1 and p <= 65535 and p == math.floor(p) then return math.tointeger(p) end
  return P.default_port
end

-- Integer weight from the weight tag: absent or invalid -> 1; 0 = never picked.
function P.member_weight(m)
  local w = tonumber(m.tags[P.weight_tag])
  if w and w >= 0 and w == math.floor(w) then return math.tointeger(w) end
  return 1
end

local function matches(m, sel)
  for k, v in pairs(sel) do
    if m.tags[k] ~= v then return false end
  end
  return true
end

local function now_ms()
  local t = core.now()
  return t.sec * 1000 + t.usec // 1000
end
P.now_ms = now_ms

---------------------------------------------------------------------------------------------
-- The membership snapshot, cached per haserf.version()
---------------------------------------------------------------------------------------------
-- snap.members: alive and suspect members that are not rejected (the glue keeps suspect
-- members routed too), our
-- own node left out, sorted by name. snap.derived: per-version tables built by P.derived().

local snap = {version = nil, members = {}, derived = {}}

function P.snapshot()
  -- Version first, members second: if the table moves in between, the next call sees a new
  -- version and rebuilds (never a stale snapshot under a fresh version).
  local v = haserf.version()
  if v ~= snap.version then
    local list = {}
    for _, m in ipairs(haserf.members({self = false})) do
      -- A rejected member (unsafe or invalid fields, see `m.rejected`) is routed nowhere.
      if (m.status == "alive" or m.status == "suspect") and not m.rejected then
        m.tags = m.tags or {}
        list[#list + 1] = m
      end
    end
    snap = {version = v, members = list, derived = {}}
  end
  return snap
end

-- P.derived(key, builder): builder(members) once per version and key.
function P.derived(key, builder)
  local s = P.snapshot()
  local d = s.derived[key]
  if d == nil then
    d = builder(s.members)
    s.derived[key] = d
  end
  return d
end

-- Members matching a selection text ("role=backend;zone=a"), weight 0 left out.
function P.selected(select_text)
  return P.derived("sel|" .. select_text, function(members)
    local sel = P.parse_select(select_text)
    local out = {}
    for _, m in ipairs(members) do
      if matches(m, sel) and P.member_weight(m) > 0 then out[#out + 1] = m end
    end
    return out
  end)
end

---------------------------------------------------------------------------------------------
-- Slots: which server-template slot a member occupies in a backend
---------------------------------------------------------------------------------------------
-- The glue (lua/haserf-haproxy.lua) points a member's slot at the member's IP and service
-- port (tag `port`). This Lua state cannot see the glue's own member->slot table (the glue
-- runs in the shared state, we run per thread), so the map is derived from the servers
-- themselves: Server:get_addr() == member addr:port. It is rebuilt when the version moved,
-- and, because the glue applies a change a tick (HASERF_TICK_MS) after the version moved,
-- again at most every 100 ms while a selected member has no slot yet.

local servers_of = {}   -- backend -> {{name=, srv=}...}, read once per state
local slotmaps = {}     -- backend -> {version=, built=, complete=, slot_of={member name -> slot}}

local function backend_servers(backend)
  local list = servers_of[backend]
  if list then return list end
  list = {}
  local px = core.backends[backend]
  if px then
    for name, srv in pairs(px.servers) do list[#list + 1] = {name = name, srv = srv} end
    table.sort(list, function(a, b) return a.name < b.name end)
  end
  servers_of[backend] = list
  return list
end

local function hostport(addr, port)
  if addr:find(":", 1, true) then return "[" .. addr .. "]:" .. tostring(port) end
  return addr .. ":" .. tostring(port)
end

local function slotmap(backend)
  local s = P.snapshot()
  local sm = slotmaps[backend]
  local t = now_ms()
  if sm and sm.version == s.version and (sm.complete or t - sm.built < 100) then
    return sm
  end
  -- addr:port -> slots pointed there. A freed slot keeps its last address (in maintenance),
  -- and unused slots share the template's address: when a member's address has several
  -- slots, the first one not in maintenance wins (get_stats() is only paid for that case).
  local by_addr = {}
  local function index(a, e)
    local l = by_addr[a]
    if l then l[#l + 1] = e else by_addr[a] = {e} end
  end
  for _, e in ipairs(backend_servers(backend)) do
    local a = e.srv:get_addr()
    if a then
      index(a, e)
      -- An IPv6 address may be printed with or without brackets: index both spellings.
      local ip, port = a:match("^(.*):(%d+)$")
      if ip and ip:find(":", 1, true) and ip:sub(1, 1) ~= "[" then index(hostport(ip, port), e) end
    end
  end
  local function pick(l)
    if not l then return nil end
    if #l == 1 then return l[1] end
    for _, e in ipairs(l) do
      if not tostring(e.srv:get_stats().status or ""):find("MAINT", 1, true) then return e end
    end
    return l[1]
  end
  local slot_of, complete = {}, true
  local sel = P.parse_select(P.backend_select_text(backend))
  for _, m in ipairs(s.members) do
    if matches(m, sel) then
      local e = pick(by_addr[hostport(m.addr, P.member_port(m))])
      if e then slot_of[m.name] = e.name else complete = false end
    end
  end
  sm = {version = s.version, built = t, complete = complete, slot_of = slot_of, derived = {}}
  slotmaps[backend] = sm
  return sm
end

-- member name -> slot name in `backend`.
function P.slot_of(backend) return slotmap(backend).slot_of end

-- P.slot_derived(backend, key, builder): builder(slot_of) once per slot map (that is, once per
-- version, plus the re-checks while a member still waits for its slot).
function P.slot_derived(backend, key, builder)
  local sm = slotmap(backend)
  local d = sm.derived[key]
  if d == nil then
    d = builder(sm.slot_of)
    sm.derived[key] = d
  end
  return d
end

-- Members of `list` that occupy a slot, as {member=, slot=}, given a slot_of table.
function P.with_slots(slot_of, list)
  local out = {}
  for _, m in ipairs(list) do
    local slot = slot_of[m.name]
    if slot then out[#out + 1] = {member = m, slot = slot} end
  end
  return out
end

---------------------------------------------------------------------------------------------
-- Fetch registration
---------------------------------------------------------------------------------------------

P.errors = 0
local last_log = 0

-- Registers a sample fetch whose body runs under pcall; nil/false/error -> "".
function P.fetch(name, fn)
  core.register_fetches(name, function(txn, ...)
    local ok, r = pcall(fn, txn, ...)
    if ok then
      if r == nil or r == false then return "" end
      return r
    end
    P.errors = P.errors + 1
    local t = now_ms()
    if t - last_log >= 5000 then   -- rate-limited
      last_log = t
      pcall(core.Warning, "haserf policy " .. name .. ": " .. tostring(r))
    end
    return ""
  end)
end

-- For the no-slot pattern: the fetch returns the IP and leaves the port in txn.haserf_port.
function P.dst(txn, m)
  txn:set_var("txn.haserf_port", P.member_port(m))
  return m.addr
end

-- Seed the per-state generator (each per-thread state would otherwise draw the same sequence).
math.randomseed(os.time() + math.floor((os.clock() * 1e6) % 1e6) +
                (tonumber(tostring({}):match("0x(%x+)") or "0", 16) or 0) % 1000003)

return P
