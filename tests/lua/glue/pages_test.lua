-- SPDX-License-Identifier: MIT
-- haserf.pages: every value escaped in the page, well-formed metrics, rejected members shown.
local T = require "testlib"
local pages = require "haserf.pages"

local view = {
  stats = {node = "lb<1>", phase = "running", started = true, joined = 2, took_over_from = 0,
           version = 7, members = 3, alive = 3, suspect = 0, leaving = 0, left = 0, failed = 0,
           rejected = 1, packets_received = 10, unsafe_dropped = 4},
  members = {{name = "a", addr = "10.0.0.1", port = 7946, status = "alive", tags = {note = "<b>x</b>"}},
             {name = "evil", addr = "10.0.0.2", port = 7946, status = "alive", tags = {port = "x y"},
              rejected = "field tags.port has unsafe value \"x y\""}},
  rows = {{backend = "nodes", slot = "s1", member = "a", state = "ready", addr = "10.0.0.1:3000", weight = 1},
          {backend = "nodes", slot = "s2", state = "maint", addr = ""}},
  reload = {state = "ok", ok = 1, failed = 0, unchanged = 0, refused = 2, message = "wrote <x>", finished_at = 1700000000.5,
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
T.contains("reloads refused before any job (chroot)", metrics, 'haserf_reloads_total{result="refused"} 2')
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

-- The members' counts come from stats(), not from a Lua table per member: a scrape builds none.
local counted = pages.metrics({stats = {members = 10000, alive = 7000, suspect = 3, leaving = 0, left = 652,
                                        failed = 2345, rejected = 2},
                               rows = {}, backends = {}, errors = 0})
T.contains("metrics: members by status from stats()", counted, 'haserf_members{status="failed"} 2345')
T.contains("metrics: rejected members from stats()", counted, "haserf_members_rejected 2")
T.check("metrics: no 'none' status while the statuses add up", not counted:find('status="none"', 1, true))
T.contains("metrics: a status outside the five is still counted", pages.metrics(
  {stats = {members = 2, alive = 1}, rows = {}, backends = {}, errors = 0}), 'haserf_members{status="none"} 1')

-- ---- the members listing's query string ----
local q = pages.query("status=failed&name=web-&offset=200&limit=100", true)
T.eq("query: status", q.status, "failed")
T.eq("query: name", q.name, "web-")
T.eq("query: offset", q.offset, 200)
T.eq("query: limit", q.limit, 100)
T.eq("query: nothing ignored", #q.ignored, 0)
q = pages.query(nil, true)
T.check("query: none gives the page's defaults",
        q.status == nil and q.name == nil and q.rejected == nil and q.offset == 0 and q.limit == 100)
T.eq("query: members.json lists every member by default", pages.query("", false).limit, nil)
T.eq("query: members.json may ask for counts only", pages.query("limit=0", false).limit, 0)
T.eq("query: percent-decoding, + as a space", pages.query("name=we%62%2D1+%3Cx%3E", true).name, "web-1 <x>")
T.eq("query: a broken escape is taken literally", pages.query("name=a%zz%4", true).name, "a%zz%4")
T.eq("query: the last value counts", pages.query("status=left&status=failed", true).status, "failed")
T.eq("query: ?rejected=1", pages.query("rejected=1", true).rejected, true)
T.eq("query: ?rejected=no", pages.query("rejected=no", true).rejected, false)
T.eq("query: a limit above the page's maximum is lowered to it", pages.query("limit=50000", true).limit, 1000)
T.eq("query: members.json has no maximum", pages.query("limit=50000", false).limit, 50000)
q = pages.query("status=zombie&name=" .. string.rep("x", 300) .. "&rejected=maybe&offset=-1&limit=abc&" ..
                "statu=failed&offset=99999999999999999999&limit=0&limit=1.5", true)
T.check("query: bad values fall back to the defaults",
        q.status == nil and q.name == nil and q.rejected == nil and q.offset == 0 and q.limit == 100,
        string.format("%s %s %s %s %s", q.status, q.name, q.rejected, q.offset, q.limit))
T.eq("query: every bad value is named", #q.ignored, 9)
T.eq("query: the name of an unknown key", q.ignored[6], "statu=failed")
local keys = {}
for k in pairs(pages.members_filter(pages.query("status=alive&name=a&rejected=0&offset=5&limit=7&x=1", true))) do
  keys[#keys + 1] = k
end
table.sort(keys)
T.eq("query: the module's filter has only the keys it knows", table.concat(keys, ","), "limit,name,offset,rejected,status")
T.eq("count_text", pages.count_text(1234567) .. " " .. pages.count_text(999) .. " " .. pages.count_text(nil),
     "1,234,567 999 0")

-- ---- one page of 10,000 members ----
local rows = {}
for i = 201, 300 do rows[#rows + 1] = {name = "web-" .. i, addr = "10.1.0." .. (i % 250), port = 7946,
                                       status = "failed", tags = {}} end
local big = {}
for k, v in pairs(view) do big[k] = v end
big.stats = {node = "lb", phase = "running", version = 9, members = 10000, alive = 7000, suspect = 3,
             leaving = 0, left = 652, failed = 2345, rejected = 2}
big.members, big.matching, big.total = rows, 2345, 10000
big.base = "/haserf"
big.query = pages.query("status=failed&name=web-&offset=200", true)
local paged = pages.page(big)
T.contains("page: which rows of how many", paged,
           "members 201&ndash;300 of 2,345 matching status failed, name contains &quot;web-&quot; (10,000 in all)")
T.contains("page: counts by status over the whole table, each a filter", paged,
           '<a class="failed" href="/haserf?status=failed&amp;name=web-">failed 2,345</a>')
T.contains("page: the rejected count links to the rejected members", paged,
           '<a class="rejected" href="/haserf?status=failed&amp;name=web-&amp;rejected=1">rejected 2</a>')
T.contains("page: previous keeps the filter", paged,
           '<a href="/haserf?status=failed&amp;name=web-&amp;offset=100">previous</a>')
T.contains("page: next keeps the filter", paged, '<a href="/haserf?status=failed&amp;name=web-&amp;offset=300">next</a>')
T.contains("page: last", paged, '<a href="/haserf?status=failed&amp;name=web-&amp;offset=2300">last</a>')
T.contains("page: first", paged, '<a href="/haserf?status=failed&amp;name=web-">first</a>')
T.contains("page: back to all members", paged, '<a href="/haserf">all members</a>')
T.contains("page: the rows shown", paged, "<td>web-300</td>")
local n = 0
for _ in paged:gmatch("<tr><td>web%-") do n = n + 1 end
T.eq("page: only the page's rows", n, 100)
T.contains("page: the slot table stays complete", paged, "<td>nodes/s2</td>")
big.query = pages.query("offset=20&limit=50", true)
big.members, big.matching = {rows[1]}, 100
paged = pages.page(big)
T.contains("page: from an offset between pages, next and last agree", paged,
           '<a href="/haserf?offset=70&amp;limit=50">next</a> &middot; <a href="/haserf?offset=70&amp;limit=50">last</a>')
-- A refresh without url= reloads the address it was given, query string included.
T.contains("page: the refresh keeps the query string", paged, '<meta http-equiv="refresh" content="2">')
T.check("page: no url in the refresh", not paged:find("content=\"2;", 1, true))

big.query = pages.query("name=%3Cscript%3E&limit=10&offset=0&bad=%3Cb%3E", true)
big.members, big.matching = {}, 0
paged = pages.page(big)
T.contains("page: the name filter escaped", paged, "no members matching name contains &quot;&lt;script&gt;&quot;")
T.contains("page: ignored values escaped", paged, "ignored: bad=%3Cb%3E")
T.check("page: no raw markup from the query string", not paged:find("<script>", 1, true))
T.check("page: no previous/next when everything fits", not paged:find(">next<", 1, true) and
        not paged:find(">previous<", 1, true))
big.query = pages.query("name=a%20b%26c&limit=10&offset=20", true)
big.members, big.matching = {}, 15
paged = pages.page(big)
T.contains("page: an offset past the end says so", paged, "no members from 21 on, of 15")
T.contains("page: previous from past the end is the last page; link values percent-encoded, then HTML-escaped",
           paged, '<a href="/haserf?name=a%20b%26c&amp;offset=10&amp;limit=10">previous</a>')

-- ---- the glue builds only the rows a page shows ----
local F = require "fakes"
local config = require "haserf.config"
local Glue = require "haserf.glue"
local fm = F.module()
local list = {}
for i = 1, 250 do list[i] = F.member(string.format("web-%03d", i), "10.0.0.1", i % 2 == 0 and "alive" or "failed") end
fm.set_members(list)
local built = 0
local members_of = fm.members
fm.members = function(filter)
  local out, matching, total = members_of(filter)
  built = built + #out
  return out, matching, total
end
local glue = Glue.new(config.load(function(k) return ({HASERF_BIND = "127.0.0.1:7946"})[k] end, fm, {}), fm,
                      {now_ms = function() return 0 end, log = function() end, stopping = function() return false end,
                       read_file = function() end, write_file = function() return true end})
local gv = glue:view(pages.members_filter(pages.query("status=failed&name=web-1&offset=10&limit=20", true)))
T.eq("glue view: only the page's rows", #gv.members, 20)
T.eq("glue view: the rows from the offset on", gv.members[1].name, "web-121")
T.eq("glue view: the matching count", gv.matching, 50)
T.eq("glue view: the total", gv.total, 250)
built = 0
gv = glue:view()
T.check("glue view without a filter (the metrics): no member rows built", built == 0 and #gv.members == 0)

local cli = pages.cli(view)
T.contains("cli: members", cli, "evil")
T.contains("cli: rejection", cli, "REJECTED: field tags.port")
T.contains("cli: slots", cli, "slot nodes/s1 ready a 10.0.0.1:3000")
T.finish()
