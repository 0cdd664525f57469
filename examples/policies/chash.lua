-- SPDX-License-Identifier: MIT
-- chash.lua: consistent hashing of a request header (e.g. X-User) over the alive members.
-- Load with `lua-load-per-thread` (see chash.cfg and docs/policies.md).
--
-- A hash ring with HASERF_CHASH_VNODES (default 100) points per member, at
-- hash("NAME#i") for i = 1..VNODES; a key goes to the member owning the first point at or
-- after hash(key), wrapping around. hash = 32-bit FNV-1a followed by the murmur3 finaliser
-- (fmix32), so nearby strings ("a#1", "a#2") spread over the ring. The ring depends only on
-- member names, so every thread, every HAProxy (and a restart) computes the same ring: the
-- same key always lands on the same member, and a join or leave moves only about 1/N of
-- the keys (those of the arriving or departing member). Members with weight=0 are left out.
--
-- Fetches (all return "" when the header is absent or no member fits; rules test
-- `-m len gt 0`):
--
--   lua.haserf_chash_slot(BACKEND[,HEADER])
--       the server-template slot of BACKEND held by the key's member; HEADER default x-user.
--       The ring is built over the members that occupy a slot. For `use-server %[var(...)]`.
--
--   lua.haserf_chash_ip([HEADER[,SELECT]])
--       the key's member among those matching SELECT ("k=v;k=v", default HASERF_SELECT or
--       role=backend): its IP, with its service port in txn.haserf_port (`set-dst`,
--       `set-dst-port`, backend with `server any 0.0.0.0:0`).

local P = require "haserf_policy"

local VNODES = math.tointeger(tonumber(os.getenv("HASERF_CHASH_VNODES") or "")) or 100
if VNODES < 1 then VNODES = 100 end

local function hash(s)
  local h = 2166136261
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff
  end
  -- fmix32 (murmur3): avalanche the low-entropy tail of short keys.
  h = h ~ (h >> 16)
  h = (h * 0x85ebca6b) & 0xffffffff
  h = h ~ (h >> 13)
  h = (h * 0xc2b2ae35) & 0xffffffff
  h = h ~ (h >> 16)
  return h
end

-- Ring over items (name_of(item) gives the stable name): sorted points, owner per point.
local function ring(items, name_of)
  local pts = {}
  for _, it in ipairs(items) do
    local name = name_of(it)
    for i = 1, VNODES do pts[#pts + 1] = {hash(name .. "#" .. i), name, it} end
  end
  -- Ties (equal hashes) broken by name so that every state orders them alike.
  table.sort(pts, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local hashes, owners = {}, {}
  for i, p in ipairs(pts) do hashes[i] = p[1]; owners[i] = p[3] end
  return {hashes = hashes, owners = owners}
end

local function lookup(r, key)
  local n = #r.hashes
  if n == 0 then return nil end
  local h = hash(key)
  if h > r.hashes[n] then return r.owners[1] end   -- wrap around
  local lo, hi = 1, n
  while lo < hi do
    local mid = (lo + hi) // 2
    if r.hashes[mid] >= h then hi = mid else lo = mid + 1 end
  end
  return r.owners[lo]
end

local function key_of(txn, hdr)
  local v = txn.f:req_hdr(hdr or "x-user")
  if v == nil or v == "" then return nil end
  return v
end

P.fetch("haserf_chash_slot", function(txn, backend, hdr)
  if not backend or backend == "" then return nil end
  local key = key_of(txn, hdr)
  if not key then return nil end
  local r = P.slot_derived(backend, "chash", function(slot_of)
    local entries = P.with_slots(slot_of, P.selected(P.backend_select_text(backend)))
    return ring(entries, function(e) return e.member.name end)
  end)
  local e = lookup(r, key)
  return e and e.slot
end)

P.fetch("haserf_chash_ip", function(txn, hdr, select)
  local key = key_of(txn, hdr)
  if not key then return nil end
  local sel = (select and select ~= "") and select or P.default_select_text
  local r = P.derived("chash|" .. sel, function()
    return ring(P.selected(sel), function(m) return m.name end)
  end)
  local m = lookup(r, key)
  return m and P.dst(txn, m)
end)

-- For tests and tools: the same hash and ring outside HAProxy.
return {hash = hash, ring = ring, lookup = lookup}
