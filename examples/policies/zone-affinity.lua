-- SPDX-License-Identifier: MIT
-- zone-affinity.lua: route a request to a member in the same zone (tag `zone`).
-- Load with `lua-load-per-thread` (see zone-affinity.cfg and docs/policies.md).
--
-- Fetches (all return "" when nothing fits; rules test `-m len gt 0`):
--
--   lua.haserf_zone_slot(BACKEND[,HEADER[,LOCAL_ZONE]])
--       server-template slot (in BACKEND) of a random member whose `zone` tag equals the
--       request header HEADER (default x-zone); when the header is absent or no member of that
--       zone has a slot, a member of LOCAL_ZONE; else "" -> HAProxy's own balancing over all
--       slots (= any alive member). For `use-server %[var(txn.x)]`.
--
--   lua.haserf_zone_ip([HEADER[,LOCAL_ZONE[,SELECT]]])
--       the same choice without slots, among the members matching SELECT ("k=v;k=v", default
--       HASERF_SELECT or role=backend), falling back to any of them: returns the member's IP
--       and leaves its service port (tag `port`) in txn.haserf_port, for `set-dst` and
--       `set-dst-port` in a backend with `server any 0.0.0.0:0`.
--
-- Members with weight=0 are never picked. The zone tag name is HASERF_ZONE_TAG (zone).

local P = require "haserf_policy"

local ZONE_TAG = os.getenv("HASERF_ZONE_TAG")
if ZONE_TAG == nil or ZONE_TAG == "" then ZONE_TAG = "zone" end

-- zone -> array of entries, from a list of entries; built once per version and key.
local function by_zone(entries, zone_of)
  local out = {}
  for _, e in ipairs(entries) do
    local z = zone_of(e)
    if z then
      out[z] = out[z] or {}
      table.insert(out[z], e)
    end
  end
  return out
end

local function random_of(list)
  if not list or #list == 0 then return nil end
  return list[math.random(#list)]
end

local function header(txn, name)
  local v = txn.f:req_hdr(name or "x-zone")
  if v == nil or v == "" then return nil end
  return v
end

P.fetch("haserf_zone_slot", function(txn, backend, hdr, local_zone)
  if not backend or backend == "" then return nil end
  local zones = P.slot_derived(backend, "zone", function(slot_of)
    local members = P.selected(P.backend_select_text(backend))
    return by_zone(P.with_slots(slot_of, members), function(e) return e.member.tags[ZONE_TAG] end)
  end)
  local z = header(txn, hdr)
  local e = z and random_of(zones[z])
  if not e and local_zone and local_zone ~= "" then e = random_of(zones[local_zone]) end
  return e and e.slot
end)

P.fetch("haserf_zone_ip", function(txn, hdr, local_zone, select)
  local sel = (select and select ~= "") and select or P.default_select_text
  local members = P.selected(sel)
  local zones = P.derived("zone-ip|" .. sel, function()
    return by_zone(members, function(m) return m.tags[ZONE_TAG] end)
  end)
  local z = header(txn, hdr)
  local m = z and random_of(zones[z])
  if not m and local_zone and local_zone ~= "" then m = random_of(zones[local_zone]) end
  if not m then m = random_of(members) end   -- no zone match: any selected member
  return m and P.dst(txn, m)
end)
