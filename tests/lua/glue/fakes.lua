-- SPDX-License-Identifier: MIT
-- Stand-ins for HAProxy's Server objects and for the haserf C module, recording what the glue
-- does to them.
local F = {}

-- A Server: set_addr is applied at once, or (async = true, HAProxy 2.9+) only on apply().
function F.server(name, weight)
  local s = {name = name, addr = "127.0.0.1", port = 1, weight = weight or 1, state = "maint",
             scur = 0, calls = {}, async = false, pending = nil}
  function s:set_addr(a, p)
    self.calls[#self.calls + 1] = "set_addr " .. a .. ":" .. p
    if not self.async then
      self.addr, self.port = a, p
    elseif a == self.addr and p == self.port then
      return "nothing changed"  -- 2.9+ compares with the applied address; a pending one stays
    else
      self.pending = {a, p}
    end
    return "IP changed"
  end
  function s:apply() if self.pending then self.addr, self.port = self.pending[1], self.pending[2]; self.pending = nil end end
  function s:get_addr() return self.addr .. ":" .. tostring(self.port) end
  function s:set_weight(w) self.calls[#self.calls + 1] = "set_weight " .. w; self.weight = tonumber(w) end
  function s:get_weight() return self.weight end
  function s:set_ready() self.calls[#self.calls + 1] = "ready"; self.state = "ready" end
  function s:set_drain() self.calls[#self.calls + 1] = "drain"; self.state = "drain" end
  function s:set_maint() self.calls[#self.calls + 1] = "maint"; self.state = "maint" end
  function s:get_stats() return {scur = self.scur} end
  return s
end

function F.servers(n, prefix)
  local t = {}
  for i = 1, n do t[(prefix or "s") .. i] = F.server((prefix or "s") .. i) end
  return t
end

function F.member(name, ip, status, tags, rejected)
  return {name = name, addr = ip, port = 7946, status = status or "alive",
          tags = tags or {role = "backend", port = "3000"}, rejected = rejected}
end

-- The haserf C module as the glue sees it.
function F.module()
  local m = {list = {}, ver = 1, phase = "idle", err = nil, st = {took_over_from = 0,
             handed_over_to = 0, joined = -1, join_done = false}, app = nil, starts = {},
             soft_stops = 0, predecessor = nil, jobs = {}, job_state = "idle"}
  function m.start(opts) m.starts[#m.starts + 1] = opts; m.phase = "starting"; return true end
  function m.state() return m.phase, m.err end
  function m.status() local s = {} for k, v in pairs(m.st) do s[k] = v end s.phase = m.phase return s end
  function m.version() return m.ver end
  function m.members(filter)
    local out = {}
    for _, x in ipairs(m.list) do
      if not (filter and filter.status and x.status ~= filter.status) then out[#out + 1] = x end
    end
    return out
  end
  -- The rest of haserf.members' filter (name: a substring, rejected, offset, limit) over the
  -- status filter above; with a filter also the matching count and the total, as the module.
  local members_by_status = m.members
  function m.members(filter)
    local all = members_by_status(filter)
    if not filter then return all end
    local out, matching, offset = {}, 0, filter.offset or 0
    for _, x in ipairs(all) do
      if (not filter.name or x.name:find(filter.name, 1, true)) and
         (filter.rejected == nil or (x.rejected ~= nil) == filter.rejected) then
        matching = matching + 1
        if matching > offset and #out < (filter.limit or math.huge) then out[#out + 1] = x end
      end
    end
    return out, matching, #m.list
  end
  function m.set_members(list) m.list = list; m.ver = m.ver + 1 end
  -- haserf.watch(): what changed since the last look, by member object identity (the module
  -- compares its shared, immutable member objects the same way). m.watches counts them.
  m.watches = 0
  function m.watch()
    m.watches = m.watches + 1
    local w, seen = {}, {}
    function w.changes()
      local changed, removed, now = {}, {}, {}
      for _, x in ipairs(m.list) do
        now[x.name] = x
        if seen[x.name] ~= x then changed[#changed + 1] = x end
      end
      for name in pairs(seen) do if not now[name] then removed[#removed + 1] = name end end
      seen = now
      return changed, removed, m.ver
    end
    return w
  end
  function m.soft_stop() m.soft_stops = m.soft_stops + 1 end
  function m.set_app_state(s) m.app = s end
  function m.predecessor_state() if m.predecessor then return m.predecessor end return nil, "no predecessor" end
  function m.reload(job) m.jobs[#m.jobs + 1] = job; m.job_state = "running"; return true end
  function m.reload_status() return {state = m.job_state, message = "msg", ok = 0, failed = 0, unchanged = 0} end
  function m.stats() return {node = "lb", phase = m.phase, started = m.phase == "running", joined = m.st.joined,
                             took_over_from = m.st.took_over_from, version = m.ver, members = #m.list,
                             alive = #m.list} end
  function m.members_json() return "{}" end
  function m.build_info() return {version = "0.1.0", commit = "test", lua = "5.4"} end
  function m.env_names() return {} end
  function m.check_options() return true end
  return m
end

return F
