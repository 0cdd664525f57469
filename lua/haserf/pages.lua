-- SPDX-License-Identifier: MIT
-- haserf.pages: what operators read: the members page (HTML), Prometheus metrics and the
-- stats-socket CLI text. Pure functions of a `view` the glue assembles:
--   view.stats      haserf.stats()
--   view.members    one page of haserf.members(filter); view.matching, view.total its counts
--   view.query      M.query(qs): the page's filter and paging (the members table's links)
--   view.rows       haserf.slots rows
--   view.reload     haserf.reload_status() (may be nil)
--   view.history    render/reload history (newest first)
--   view.requested  a pending render's reason, or nil
--   view.phase, view.start_error, view.errors, view.join (cfg.join), view.backends (name ->
--   {slots, used, draining, unplaced, guarded, guard_activations})
--   view.build      haserf.build_info(); view.haproxy_version; view.base (the page's path)
local M = {}

local function html(s)
  s = tostring(s == nil and "" or s)
  return (s:gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                             ['"'] = "&quot;", ["'"] = "&#39;"}))
end
M.html = html

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

function M.tags_text(tags)
  local parts = {}
  for _, k in ipairs(sorted_keys(tags)) do parts[#parts + 1] = k .. "=" .. tostring(tags[k]) end
  return table.concat(parts, ", ")
end

local function fmt_time(t) return os.date("!%Y-%m-%d %H:%M:%SZ", t) end

M.STATUSES = {"alive", "suspect", "leaving", "left", "failed"}
M.STATUS_SET = {}
for _, st in ipairs(M.STATUSES) do M.STATUS_SET[st] = true end

-- 12345 -> "12,345": member counts people read at a glance.
local function count_text(n)
  local s = tostring(math.tointeger(tonumber(n) or 0) or n)
  local int = s:match("^%-?%d+$") and s
  if not int then return s end
  return (int:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^(%-?),", "%1"))
end
M.count_text = count_text

-- ---- the members listing's query string ------------------------------------------------
-- ?status=failed&name=web-&rejected=1&offset=200&limit=100 selects the rows of the members
-- page and of members.json (docs/haproxy.md "Endpoints"). Whatever a value, the result is a
-- listing: a value that does not read falls back to its default and is named in `ignored`
-- (the page shows it), never an error.

M.PAGE_LIMIT = 100       -- the page's rows when ?limit is not given
M.PAGE_MAX_LIMIT = 1000  -- and at most (a larger ?limit is lowered to it)
local MAX_NAME = 256     -- a longer ?name is no node name anyone typed
local MAX_DIGITS = 9     -- offsets and limits below a billion: plain Lua integers on 5.3

local function unescape(s)
  s = s:gsub("+", " ")  -- how HTML forms encode a space
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function escape(s)
  return (tostring(s):gsub("[^%w%-._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function uint(v)
  if #v > MAX_DIGITS or not v:match("^%d+$") then return nil end
  return math.tointeger(tonumber(v))
end

local BOOLEANS = {["1"] = true, ["true"] = true, yes = true, ["0"] = false, ["false"] = false,
                  no = false}

-- `qs`: applet.qs (without the "?"; nil or "" for none). `page`: true for the HTML page (a
-- default and a maximum limit), false for members.json (every member unless ?limit is given,
-- as `serf members -format=json` consumers expect; ?limit=0 gives only the counts).
-- Returns {status=, name=, rejected=, offset=, limit=, ignored = {"limit=abc", ...}}.
function M.query(qs, page)
  local q = {offset = 0, limit = page and M.PAGE_LIMIT or nil, ignored = {}}
  local seen = {}
  for pair in tostring(qs or ""):gmatch("[^&;]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k, v = unescape(k), unescape(v)
    local ok = true
    if k == "status" then
      ok = v == "" or M.STATUS_SET[v] ~= nil
      q.status = ok and v ~= "" and v or nil
    elseif k == "name" then
      ok = #v <= MAX_NAME
      q.name = ok and v ~= "" and v or nil
    elseif k == "rejected" then
      ok = v == "" or BOOLEANS[v] ~= nil
      if ok then q.rejected = BOOLEANS[v] end
    elseif k == "offset" then
      ok = uint(v) ~= nil
      q.offset = uint(v) or 0
    elseif k == "limit" then
      local n = uint(v)
      ok = n ~= nil and (n > 0 or not page)
      q.limit = ok and (page and math.min(n, M.PAGE_MAX_LIMIT) or n) or (page and M.PAGE_LIMIT or nil)
    else
      ok = false
    end
    -- The last value of a key counts; an ignored one is named once.
    if not ok and not seen[pair] then q.ignored[#q.ignored + 1] = pair end
    seen[pair] = true
  end
  return q
end

-- The haserf.members / haserf.members_json filter of a query (no unknown keys: the module
-- refuses them).
function M.members_filter(q)
  return {status = q.status, name = q.name, rejected = q.rejected, offset = q.offset, limit = q.limit}
end

-- The page's own query string for `q` with `changes` (M.DROP: leave a key out), defaults left
-- out: the members table's links keep every filter but the one they change.
M.DROP = {}
local function query_string(q, changes)
  local v = {}
  for _, k in ipairs({"status", "name", "rejected", "offset", "limit"}) do
    local x = changes[k]
    if x == nil then x = q[k] end
    if x ~= M.DROP then v[k] = x end
  end
  local out = {}
  local function add(k, x) out[#out + 1] = k .. "=" .. escape(x) end
  if v.status then add("status", v.status) end
  if v.name then add("name", v.name) end
  if v.rejected ~= nil then add("rejected", v.rejected and "1" or "0") end
  if v.offset and v.offset > 0 then add("offset", v.offset) end
  if v.limit and v.limit ~= M.PAGE_LIMIT then add("limit", v.limit) end
  return #out > 0 and "?" .. table.concat(out, "&") or ""
end
M.query_string = query_string

-- What the listing is filtered by, for people: `status failed, name contains "web-"`, escaped.
local function filter_text(q)
  local parts = {}
  if q.status then parts[#parts + 1] = "status " .. html(q.status) end
  if q.name then parts[#parts + 1] = "name contains &quot;" .. html(q.name) .. "&quot;" end
  if q.rejected == true then parts[#parts + 1] = "rejected" end
  if q.rejected == false then parts[#parts + 1] = "not rejected" end
  return table.concat(parts, ", ")
end

-- The join status as people read it: joining, how many seeds answered, a takeover, or no
-- join list at all (backends may have joined us instead).
local function join_text(view)
  local stats = view.stats
  if (tonumber(stats.took_over_from) or 0) > 0 then
    return "took over from worker " .. html(stats.took_over_from) .. " (reload)"
  end
  local n = tonumber(stats.joined)
  if #view.join == 0 then return "n/a (no join list; peers join us)" end
  if n == nil or n < 0 then return "joining" end
  if n == 0 then return "no (" .. html(stats.join_error or "") .. ")" end
  return "yes (" .. n .. " of " .. #view.join .. ")"
end

-- The members: counts by status over the whole table (each a link to its rows), then one
-- page of the rows the query selects, with links to the pages around it. Only the shown rows
-- were built (view.members); view.matching and view.total are the module's counts.
local function members_section(view, w)
  local q = view.query or M.query(nil, true)
  local stats = view.stats
  local base = html(view.base or "")
  local function href(changes)
    local qs = query_string(q, changes)
    return base .. html(qs ~= "" and qs or (base == "" and "?" or ""))
  end
  w('<h2>Members</h2>\n<p>all ', count_text(stats.members), ' members: ')
  for i, st in ipairs(M.STATUSES) do
    w(i > 1 and ', ' or '', '<a class="', st, '" href="', href({status = st, offset = M.DROP}), '">',
      st, ' ', count_text(stats[st]), '</a>')
  end
  w(', <a class="rejected" href="', href({rejected = true, offset = M.DROP}), '">rejected ',
    count_text(stats.rejected), '</a></p>\n')
  local members, offset = view.members or {}, q.offset or 0
  local matching = tonumber(view.matching) or #members
  local filter = filter_text(q)
  local total = tonumber(view.total) or tonumber(stats.members) or 0
  local limit = q.limit or M.PAGE_LIMIT
  -- The last page in steps of `limit` from this one, so that next and last agree (from 0
  -- when the offset is past the end).
  local last = offset < matching and offset + (matching - 1 - offset) // limit * limit or
               math.max(0, (matching - 1) // limit * limit)
  w('<p>')
  if #members > 0 then
    w('members ', count_text(offset + 1), '&ndash;', count_text(offset + #members), ' of ',
      count_text(matching))
  elseif matching > 0 then
    w('no members from ', count_text(offset + 1), ' on, of ', count_text(matching))
  else
    w('no members')
  end
  if filter ~= "" then
    w(' matching ', filter, ' (', count_text(total), ' in all) &middot; <a href="',
      href({status = M.DROP, name = M.DROP, rejected = M.DROP, offset = M.DROP}), '">all members</a>')
  end
  local links = {}
  if offset > 0 then
    links[#links + 1] = '<a href="' .. href({offset = M.DROP}) .. '">first</a>'
    local prev = offset >= matching and last or math.max(0, offset - limit)
    links[#links + 1] = '<a href="' .. href({offset = prev}) .. '">previous</a>'
  end
  if offset + limit < matching then
    links[#links + 1] = '<a href="' .. href({offset = offset + limit}) .. '">next</a>'
    links[#links + 1] = '<a href="' .. href({offset = last}) .. '">last</a>'
  end
  if #links > 0 then w(' &middot; ', table.concat(links, ' &middot; ')) end
  if #q.ignored > 0 then
    local names = {}
    for i, pair in ipairs(q.ignored) do names[i] = html(pair) end
    w(' &middot; <span class="failed">ignored: ', table.concat(names, ', '), '</span>')
  end
  w('</p>\n<table><tr><th>name</th><th>address</th><th>status</th><th>tags</th><th>routing</th></tr>\n')
  for _, m in ipairs(members) do
    w('<tr><td>', html(m.name), '</td><td>', html(m.addr), ':', html(m.port), '</td><td class="',
      html(m.status), '">', html(m.status), '</td><td>', html(M.tags_text(m.tags)), '</td>')
    if m.rejected then
      w('<td class="rejected">rejected: ', html(m.rejected), '</td></tr>\n')
    else
      w('<td>ok</td></tr>\n')
    end
  end
  w('</table>\n<p class="maint">Filter with the address: ?status=failed&amp;name=web-&amp;',
    'rejected=1&amp;offset=200&amp;limit=500 (name: a part of it; limit: at most ',
    M.PAGE_MAX_LIMIT, ')</p>\n')
end

function M.page(view)
  local out = {}
  local function w(...) for _, s in ipairs({...}) do out[#out + 1] = s end end
  local stats = view.stats
  -- No url in the refresh: the browser reloads the address it shows, query string included
  -- (the members table's filter and page).
  w('<!DOCTYPE html>\n<html><head><meta charset="utf-8">',
    '<meta http-equiv="refresh" content="2"><title>haserf: ', html(stats.node), '</title>',
    '<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1.5em}',
    'td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#eee}',
    '.alive,.ready,.ok{color:#070}.failed,.rejected{color:#b00}',
    '.leaving,.left,.drain,.suspect,.unchanged{color:#a60}.maint{color:#888}</style></head><body>\n')
  w('<h1>haserf on ', html(stats.node), '</h1>\n<p>phase ', html(view.phase), ' (member ',
    html(stats.phase), '), table version ', html(stats.version), ', ', count_text(stats.alive),
    ' alive of ', count_text(stats.members), ' members, joined: ', join_text(view),
    stats.join_error and stats.join_error ~= "" and (' (' .. html(stats.join_error) .. ')') or '',
    view.start_error and (', start error: ' .. html(view.start_error)) or '', '</p>\n')
  for _, bname in ipairs(sorted_keys(view.backends)) do
    local g = view.backends[bname].guarded
    if g then
      w('<p class="failed"><b>Isolation guard on for ', html(bname), '</b>: ', html(g),
        ' failed members keep their slots (most of the backend failed at once: more likely this ',
        'balancer is cut off from the cluster); health checks decide.</p>\n')
    end
  end
  members_section(view, w)
  w('<h2>Slots</h2>\n<table><tr><th>backend/slot</th><th>member</th><th>state</th>',
    '<th>address</th><th>weight</th></tr>\n')
  for _, r in ipairs(view.rows) do
    w('<tr><td>', html(r.backend), '/', html(r.slot), '</td><td>', html(r.member or "-"),
      r.unconfirmed and ' (restored, awaiting the cluster view)' or '',
      '</td><td class="', html(r.state), '">', html(r.state), '</td><td>', html(r.addr),
      '</td><td>', html(r.weight or ""), '</td></tr>\n')
  end
  w('</table>\n<h2>Renders and reloads</h2>\n')
  local rs = view.reload
  if rs then
    w('<p>module: state ', html(rs.state), ', ok ', html(rs.ok), ', unchanged ', html(rs.unchanged),
      ', failed ', html(rs.failed), rs.message and (' - last message: ' .. html(rs.message)) or '',
      view.requested and (' - pending: ' .. html(view.requested)) or '', '</p>\n')
  end
  w('<table><tr><th>time (UTC)</th><th>what</th><th>outcome</th><th>message</th></tr>\n')
  if #view.history == 0 then w('<tr><td colspan="4">none yet</td></tr>\n') end
  for _, h in ipairs(view.history) do
    w('<tr><td>', html(fmt_time(h.time)), '</td><td>', html(h.what), '</td><td class="',
      html(h.result), '">', html(h.result), '</td><td>', html(h.message), '</td></tr>\n')
  end
  w('</table>\n<h2>Counters</h2>\n<table>\n')
  for _, k in ipairs(sorted_keys(stats)) do
    w('<tr><th>', html(k), '</th><td>', html(stats[k]), '</td></tr>\n')
  end
  w('<tr><th>glue_errors</th><td>', html(view.errors), '</td></tr>\n</table>\n')
  -- Served at BASE (/haserf), its neighbours are BASE/members.json and BASE/metrics.
  local base = html(tostring(view.base or ""):gsub("/+$", ""))
  w('<p><a href="', base, '/members.json">members.json</a> &middot; <a href="', base,
    '/metrics">metrics</a></p>\n',
    '</body></html>\n')
  return table.concat(out)
end

local function label(v)
  return (tostring(v):gsub('[\\"\n]', {["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n"}))
end

-- stats() numbers exported one to one: {field, metric, type, help}. Every number stats()
-- has is either here or in STATS_SHOWN_ELSEWHERE (tests/lua/api_test.lua checks it against
-- the real module); every metric is documented in docs/haproxy.md "Metrics" (pages_test).
M.STATS_METRICS = {
  {"starts", "haserf_starts_total", "counter", "Gossip members this worker created (start retries included)"},
  {"packets_received", "haserf_packets_received_total", "counter", "Gossip packets received"},
  {"packets_dropped", "haserf_packets_dropped_total", "counter",
   "Gossip packets dropped (bad CRC, decrypt, decode, queue full)"},
  {"packets_sent", "haserf_packets_sent_total", "counter", "Gossip packets sent"},
  {"messages_dropped", "haserf_messages_dropped_total", "counter", "Memberlist messages dropped"},
  {"unsafe_dropped", "haserf_unsafe_dropped_total", "counter",
   "Messages that would crash or poison a Go peer: dropped, never forwarded"},
  {"nodes_refused", "haserf_nodes_refused_total", "counter",
   "Alive messages refused (bad versions, address conflicts, node limit)"},
  {"tcp_errors", "haserf_tcp_errors_total", "counter", "Failed TCP exchanges (push/pull, fallback probes)"},
  {"sources_refused", "haserf_sources_refused_total", "counter",
   "Datagrams and connections from sources outside HASERF_ALLOW, dropped before decoding"},
  {"streams_over_budget", "haserf_streams_over_budget_total", "counter",
   "Inbound TCP streams closed because all of them together held 64 MiB"},
  {"streams_evicted", "haserf_streams_evicted_total", "counter",
   "Stalled inbound TCP streams closed to make room for a newer connection (128 at most)"},
  {"streams_timed_out", "haserf_streams_timed_out_total", "counter",
   "Inbound TCP streams that did not deliver their message within 10 s"},
  {"tcp_refused", "haserf_tcp_refused_total", "counter",
   "Inbound TCP connections refused: 128 open and every one already answering"},
  {"udp_receive_drops", "haserf_udp_receive_drops_total", "counter",
   "Datagrams the kernel dropped on the gossip socket's full receive buffer (floods)"},
  {"probes", "haserf_probes_total", "counter", "Failure detector probes"},
  {"probe_failures", "haserf_probe_failures_total", "counter", "Failed probes"},
  {"refutes", "haserf_refutes_total", "counter", "Suspicions about us refuted"},
  {"push_pulls", "haserf_push_pulls_total", "counter", "Push/pull state syncs"},
  {"awareness", "haserf_awareness", "gauge", "Memberlist health awareness score (0 = healthy)"},
  {"events_received", "haserf_events_received_total", "counter", "User events received"},
  {"events_dropped", "haserf_events_dropped_total", "counter", "User events dropped from the queue"},
  {"events_queued", "haserf_events_queued", "gauge", "User events waiting for haserf.events()"},
  {"queries_received", "haserf_queries_received_total", "counter", "Application queries received"},
  {"queries_dropped", "haserf_queries_dropped_total", "counter", "Application queries dropped from the queue"},
  {"queries_queued", "haserf_queries_queued", "gauge", "Application queries waiting for haserf.queries()"},
  {"query_responses_refused", "haserf_query_responses_refused_total", "counter",
   "Query responses refused (too large or too late)"},
  {"handovers_refused", "haserf_handovers_refused_total", "counter",
   "Takeover requests refused (wrong user, parent, name or address)"},
}
-- stats() numbers that other metrics carry.
M.STATS_SHOWN_ELSEWHERE = {
  members = "haserf_members", alive = "haserf_members", suspect = "haserf_members",
  leaving = "haserf_members", left = "haserf_members", failed = "haserf_members",
  rejected = "haserf_members_rejected", version = "haserf_table_version",
  joined = "haserf_joined", took_over_from = "haserf_took_over", handed_over_to = "haserf_handed_over",
  reloads_ok = "haserf_reloads_total", reloads_failed = "haserf_reloads_total",
  reloads_unchanged = "haserf_reloads_total",
}

function M.metrics(view)
  local out = {}
  local function metric(name, typ, help)
    out[#out + 1] = "# HELP " .. name .. " " .. help .. "\n# TYPE " .. name .. " " .. typ .. "\n"
  end
  local function val(name, labels, v)
    v = tonumber(v) or (v == true and 1) or 0
    out[#out + 1] = name .. (labels or "") .. " " .. string.format("%.17g", v) .. "\n"
  end
  local stats = view.stats
  -- From stats(): its counts take one pass in C, where members() would build a Lua table per
  -- member on every scrape.
  local counts, known = {}, 0
  for _, st in ipairs(M.STATUSES) do
    counts[st] = tonumber(stats[st]) or 0
    known = known + counts[st]
  end
  -- serf's "none" (never seen in practice): the statuses still add up to the table's size.
  local none = (tonumber(stats.members) or 0) - known
  if none > 0 then counts.none = none end
  local build = view.build or {}
  metric("haserf_build_info", "gauge", "Always 1: the module's version and commit, its Lua and HAProxy versions")
  val("haserf_build_info", '{version="' .. label(build.version or "") .. '",commit="' ..
      label(build.commit or "") .. '",lua="' .. label(build.lua or "") .. '",haproxy="' ..
      label(view.haproxy_version or "") .. '"}', 1)
  metric("haserf_up", "gauge", "1 when the gossip member runs in this worker")
  val("haserf_up", nil, stats.started and 1 or 0)
  metric("haserf_joined", "gauge", "1 once the initial join succeeded or a predecessor handed over")
  val("haserf_joined", nil, ((tonumber(stats.joined) or 0) > 0 or (tonumber(stats.took_over_from) or 0) > 0) and 1 or 0)
  metric("haserf_took_over", "gauge", "1 when this worker continues its predecessor's member (a reload)")
  val("haserf_took_over", nil, (tonumber(stats.took_over_from) or 0) > 0 and 1 or 0)
  metric("haserf_handed_over", "gauge", "1 once this worker handed its member to the next one (a reload)")
  val("haserf_handed_over", nil, (tonumber(stats.handed_over_to) or 0) > 0 and 1 or 0)
  metric("haserf_members", "gauge", "Members known, by status (our own node included)")
  for _, s in ipairs(sorted_keys(counts)) do val("haserf_members", '{status="' .. label(s) .. '"}', counts[s]) end
  metric("haserf_members_rejected", "gauge",
         "Members routed and rendered nowhere: an unsafe name, address or tag, or a bad port/weight tag")
  val("haserf_members_rejected", nil, stats.rejected)
  metric("haserf_table_version", "gauge", "Membership table version")
  val("haserf_table_version", nil, stats.version)
  for _, c in ipairs(M.STATS_METRICS) do
    metric(c[2], c[3], c[4])
    val(c[2], nil, stats[c[1]])
  end
  local rs = view.reload
  if rs then
    metric("haserf_reloads_total", "counter", "Render/check/reload jobs by result")
    val("haserf_reloads_total", '{result="failed"}', rs.failed)
    val("haserf_reloads_total", '{result="ok"}', rs.ok)
    val("haserf_reloads_total", '{result="refused"}', rs.refused or 0)
    val("haserf_reloads_total", '{result="unchanged"}', rs.unchanged)
    metric("haserf_reload_running", "gauge", "1 while a render/check/reload job runs")
    val("haserf_reload_running", nil, rs.state == "running" and 1 or 0)
    metric("haserf_last_reload_timestamp_seconds", "gauge",
           "When the last render/check/reload job ended (Unix time; 0: none yet)")
    val("haserf_last_reload_timestamp_seconds", nil, rs.finished_at)
    metric("haserf_last_reload_duration_seconds", "gauge",
           "How long the last render/check/reload job took, reload command included")
    val("haserf_last_reload_duration_seconds", nil, rs.duration)
    metric("haserf_last_reload_success", "gauge",
           "0 when the last render/check/reload job failed (the running config was kept), else 1")
    val("haserf_last_reload_success", nil, rs.last_result ~= "failed" and 1 or 0)
  end
  metric("haserf_slots", "gauge", "server-template slots per backend: used (of which draining) or free")
  for _, bname in ipairs(sorted_keys(view.backends)) do
    local b = view.backends[bname]
    local l = '{backend="' .. label(bname) .. '",state="'
    val("haserf_slots", l .. 'used"}', b.used)
    val("haserf_slots", l .. 'draining"}', b.draining)
    val("haserf_slots", l .. 'free"}', b.slots - b.used)
  end
  metric("haserf_slot_info", "gauge",
         "Always 1: the member a server-template slot holds (labels as HAProxy's own exporter: proxy, server)")
  for _, r in ipairs(view.rows) do
    if r.member then
      val("haserf_slot_info", '{proxy="' .. label(r.backend) .. '",server="' .. label(r.slot) ..
          '",member="' .. label(r.member) .. '"}', 1)
    end
  end
  metric("haserf_unplaced_members", "gauge", "Alive selected members without a free slot")
  for _, bname in ipairs(sorted_keys(view.backends)) do
    val("haserf_unplaced_members", '{backend="' .. label(bname) .. '"}', view.backends[bname].unplaced)
  end
  metric("haserf_isolation_guard", "gauge",
         "Failed members the isolation guard keeps in their slots (0: guard off; HASERF_PANIC_THRESHOLD)")
  for _, bname in ipairs(sorted_keys(view.backends)) do
    val("haserf_isolation_guard", '{backend="' .. label(bname) .. '"}', view.backends[bname].guarded or 0)
  end
  metric("haserf_isolation_guard_activations_total", "counter", "Times the isolation guard turned on")
  for _, bname in ipairs(sorted_keys(view.backends)) do
    val("haserf_isolation_guard_activations_total", '{backend="' .. label(bname) .. '"}',
        view.backends[bname].guard_activations or 0)
  end
  metric("haserf_glue_errors_total", "counter", "Lua errors caught in the HAProxy glue")
  val("haserf_glue_errors_total", nil, view.errors)
  return table.concat(out)
end

-- `haserf members` on the CLI (master CLI "@1 haserf members", or a stats socket): every
-- member (view.members unpaged), as `serf members` lists them.
function M.cli(view)
  local out = {}
  for _, m in ipairs(view.members) do
    out[#out + 1] = string.format("%-24s %-22s %-8s %s%s\n", m.name, m.addr .. ":" .. tostring(m.port),
                                  m.status, M.tags_text(m.tags),
                                  m.rejected and ("  REJECTED: " .. m.rejected) or "")
  end
  for _, r in ipairs(view.rows) do
    out[#out + 1] = string.format("slot %s/%s %s %s %s\n", r.backend, r.slot, r.state,
                                  r.member or "-", r.addr)
  end
  return table.concat(out)
end

return M
