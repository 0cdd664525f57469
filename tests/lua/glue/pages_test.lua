-- SPDX-License-Identifier: MIT
-- haserf.pages: every value escaped in the page, well-formed metrics, rejected members shown.
local T = require "testlib"
local pages = require "haserf.pages"

local view = {
  stats = {node = "lb<1>", phase = "running", started = true, joined = 2, took_over_from = 0,
           version = 7, members = 3, alive = 3, packets_received = 10, unsafe_dropped = 4},
  members = {{name = "a", addr = "10.0.0.1", port = 7946, status = "alive", tags = {note = "<b>x</b>"}},
             {name = "evil", addr = "10.0.0.2", port = 7946, status = "alive", tags = {port = "x y"},
              rejected = "field tags.port has unsafe value \"x y\""}},
  rows = {{backend = "nodes", slot = "s1", member = "a", state = "ready", addr = "10.0.0.1:3000", weight = 1},
          {backend = "nodes", slot = "s2", state = "maint", addr = ""}},
  reload = {state = "ok", ok = 1, failed = 0, unchanged = 0, message = "wrote <x>", finished_at = 1700000000.5,
            duration = 0.25, last_result = "ok"},
  build = {version = "0.1.0", commit = "abc\"1", lua = "5.4"}, haproxy_version = "3.0.11", base = "/haserf/",
  history = {{time = 0, what = "render", result = "ok", message = "<script>"}},
  phase = "running", errors = 0, join = {"10.0.0.1:7946", "10.0.0.2:7946"},
  backends = {nodes = {slots = 2, used = 1, draining = 0, unplaced = 0}},
}

local page = pages.page(view)
T.contains("title escaped", page, "haserf: lb&lt;1&gt;")
T.contains("tags escaped", page, "note=&lt;b&gt;x&lt;/b&gt;")
T.contains("history escaped", page, "&lt;script&gt;")
T.check("no raw markup from data", not page:find("<script>", 1, true) and not page:find("<b>x", 1, true))
T.contains("a rejected member shows why", page, '<td class="rejected">rejected: field tags.port has unsafe value &quot;x y&quot;</td>')
T.contains("the join status", page, "joined: yes (2 of 2)")
view.stats.took_over_from = 4242
T.contains("a takeover is shown", pages.page(view), "took over from worker 4242 (reload)")

T.contains("links beside the page's own path", page, '<a href="/haserf/members.json">')

local metrics = pages.metrics(view)
T.contains("build info, label values escaped", metrics,
           'haserf_build_info{version="0.1.0",commit="abc\\"1",lua="5.4",haproxy="3.0.11"} 1')
T.contains("slot info joins HAProxy's exporter labels", metrics,
           'haserf_slot_info{proxy="nodes",server="s1",member="a"} 1')
T.check("no slot info for an empty slot", not metrics:find('server="s2"', 1, true))
T.contains("last reload time", metrics, "haserf_last_reload_timestamp_seconds 1700000000.5")
T.contains("last reload duration", metrics, "haserf_last_reload_duration_seconds 0.25")
T.contains("last reload success", metrics, "haserf_last_reload_success 1")
view.reload.last_result = "failed"
T.contains("last reload failed", pages.metrics(view), "haserf_last_reload_success 0")
T.contains("a stats() counter exported", metrics, "haserf_packets_received_total 10")

-- Every metric is documented in docs/haproxy.md's table, and every documented one exists.
local src = package.searchpath("haserf.pages", package.path):gsub("lua/haserf/pages%.lua$", "")
local f = assert(io.open(src .. "docs/haproxy.md"))
local doc = f:read("a")
f:close()
local exported, undocumented = {}, {}
for name in metrics:gmatch("# TYPE ([%w_]+)") do
  exported[name] = true
  if not doc:find("| `" .. name .. "`", 1, true) and not doc:find("| `" .. name .. "{", 1, true) then
    undocumented[#undocumented + 1] = name
  end
end
T.eq("every metric is in docs/haproxy.md's table", table.concat(undocumented, ","), "")
local stale = {}
for name in doc:gmatch("\n| `(haserf_[%w_]+)") do
  if not exported[name] then stale[#stale + 1] = name end
end
T.eq("every metric in docs/haproxy.md's table exists", table.concat(stale, ","), "")
T.contains("rejected members counted", metrics, "haserf_members_rejected 1")
T.contains("unsafe drops exported", metrics, "haserf_unsafe_dropped_total 4")
T.contains("slots by state", metrics, 'haserf_slots{backend="nodes",state="used"} 1')
T.contains("takeover gauge", metrics, "haserf_took_over 1")
local bad = {}
for line in metrics:gmatch("[^\n]+") do
  if not line:match("^#") and not line:match('^[a-z_]+{?[^}]*}? %-?[%d.e+]+$') then bad[#bad + 1] = line end
end
T.eq("every metrics line is well-formed", #bad, 0)

local cli = pages.cli(view)
T.contains("cli: members", cli, "evil")
T.contains("cli: rejection", cli, "REJECTED: field tags.port")
T.contains("cli: slots", cli, "slot nodes/s1 ready a 10.0.0.1:3000")
T.finish()
