-- SPDX-License-Identifier: MIT
-- Every function of the haserf Lua module, from the lua5.4 (or lua5.3) interpreter, against
-- a real serf agent started by run_api_test.sh. Prints "N passed, N failed".
local haserf = require "haserf"

local SERF_RPC = assert(os.getenv("SERF_RPC"))     -- serf agent's -rpc-addr
local SERF_ADDR = assert(os.getenv("SERF_ADDR"))   -- serf agent's gossip address
local OUR_BIND = assert(os.getenv("OUR_BIND"))
local TMP = assert(os.getenv("TMP_DIR"))
local EVENTS_FILE = assert(os.getenv("SERF_EVENTS_FILE"))

local passed, failed = 0, 0
local function check(name, ok, detail)
  if ok then
    passed = passed + 1
    print("ok   - " .. name)
  else
    failed = failed + 1
    print("FAIL - " .. name .. (detail and ("\n       " .. tostring(detail)) or ""))
  end
end

local function sleep(s) os.execute("sleep " .. s) end

-- Polls `fn` until it returns a truthy value, at most `seconds` (stops hangs, not a timing test).
local function eventually(seconds, fn)
  local deadline = os.time() + seconds
  repeat
    local v = fn()
    if v then return v end
    sleep(0.1)
  until os.time() > deadline
  return fn()
end

local function raises(fn, ...)
  local ok, err = pcall(fn, ...)
  return not ok, err
end

local function shell(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

local function find(list, name)
  for _, m in ipairs(list) do if m.name == name then return m end end
end

-- Argument errors raise Lua errors naming the function and argument.
local r, e = raises(haserf.start, "x")
check("start(non-table) raises", r and e:find("haserf.start", 1, true), e)
r, e = raises(haserf.start, {})
check("start{} names the missing bind", r and e:find("'bind' is required", 1, true), e)
r, e = raises(haserf.start, {bind = "127.0.0.1:1", join = {1}})
check("start with a bad join list raises", r and e:find("'join'", 1, true), e)
r, e = raises(haserf.start, {bind = "127.0.0.1:1", tags = {role = 5}})
check("start with a non-string tag raises", r and e:find("'tags'", 1, true), e)
r, e = raises(haserf.members, "alive")
check("members(non-table) raises", r and e:find("filter", 1, true), e)
-- The listing filter (members and members_json): a bad key or value is an error naming it.
for _, c in ipairs({
  {{statu = "alive"}, "unknown filter key 'statu'"}, {{[1] = "alive"}, "unknown filter key (not a string)"},
  {{status = "zombie"}, "'status' must be"}, {{status = 1}, "'status' must be a string"},
  {{name = 5}, "'name' must be a string"}, {{rejected = "yes"}, "'rejected' must be a boolean"},
  {{self = "no"}, "'self' must be a boolean"}, {{offset = -1}, "'offset' must be an integer >= 0"},
  {{limit = 1.5}, "'limit' must be an integer >= 0"}, {{limit = "10"}, "'limit' must be an integer >= 0"},
  {{limit = 0 / 0}, "'limit'"}, {{limit = math.huge}, "'limit'"}, {{tags = {role = 1}}, "'tags'"}}) do
  for _, fn in ipairs({"members", "members_json"}) do
    r, e = raises(haserf[fn], c[1])
    check(fn .. ": " .. c[2], r and e:find("haserf." .. fn .. ": " .. c[2], 1, true), e)
  end
end
r, e = raises(haserf.members_json, "alive")
check("members_json(non-table) raises", r and e:find("filter", 1, true), e)
r, e = raises(haserf.events, 0)
check("events(0) raises", r and e:find("positive", 1, true), e)
r, e = raises(haserf.render, 5)
check("render(number) raises", r and e:find("template", 1, true), e)
r, e = raises(haserf.reload, {out = "x"})
check("reload without template raises", r and e:find("'template'", 1, true), e)
r, e = raises(haserf.set_tags, "x")
check("set_tags(non-table) raises", r, e)
r, e = raises(haserf.user_event, nil)
check("user_event(nil) raises", r and e:find("name", 1, true), e)
r, e = raises(haserf.watch, "self")
check("watch(non-table) raises", r and e:find("haserf.watch", 1, true), e)
r, e = raises(haserf.watch, {self = "no"})
check("watch{self='no'} raises", r and e:find("'self'", 1, true), e)
local watch = haserf.watch({self = false})
local watch_all = haserf.watch()
r, e = raises(watch.changes, {})
check("changes on something else than a watch raises", r and e:find("w:changes()", 1, true), e)
r, e = raises(watch.changes)
check("changes without a watch raises", r and e:find("w:changes()", 1, true), e)
check("a watch cannot reach its metatable", getmetatable(watch) == "haserf.watch")

-- Before start.
check("started() is false before start", haserf.started() == false)
check("members() is empty before start", #haserf.members() == 0)
local list, matching, total = haserf.members{}
check("members{} before start: empty, counts 0", #list == 0 and matching == 0 and total == 0)
check("members_json{} before start: an empty list, counts 0",
      select(2, haserf.members_json{}) == 0 and haserf.members_json{} == '{\n  "members": []\n}\n')
check("version() is 0 before start", haserf.version() == 0)
do
  local c, rm, v = watch:changes()
  check("watch: nothing before start", #c == 0 and #rm == 0 and v == 0)
end
local ok, err = haserf.user_event("x", "y")
check("user_event before start returns nil, err", ok == nil and err == "not started", err)
check("version_string()", type(haserf.version_string()) == "string")

-- A bind failure is returned, not raised.
ok, err = haserf.start{bind = "192.0.2.1:7946"}
check("start on an address we do not have returns nil, err", ok == nil and type(err) == "string", err)

-- A keyring file that does not exist, without a key to start it with: refused, naming it.
ok, err = haserf.check_options{bind = OUR_BIND, keyring_file = "/nonexistent/haserf.keyring"}
check("check_options: a missing keyring file without a key is refused, naming the file",
      ok == nil and err and err:find("keyring file /nonexistent/haserf.keyring", 1, true), err)
ok, err = haserf.check_options{bind = OUR_BIND, encrypt = "cg8StVXbQJ0gPvMd9o7yrg==",
                               keyring_file = "/nonexistent/haserf.keyring"}
check("check_options: with a key, a keyring file still to be written is fine", ok == true, err)
-- A snapshot file is opened by start, not by check_options (haproxy -c writes nothing).
ok, err = haserf.check_options{bind = OUR_BIND, snapshot_file = "/nonexistent/haserf.snapshot"}
check("check_options: a snapshot file is accepted without touching it", ok == true, err)
ok, err = haserf.start{bind = OUR_BIND, snapshot_file = "/nonexistent/haserf.snapshot"}
check("start: a snapshot file that cannot be created is refused, naming it",
      ok == nil and err and err:find("snapshot /nonexistent/haserf.snapshot", 1, true), err)

-- Start and join the serf agent.
ok, err = haserf.start{bind = OUR_BIND, node = "lua-member", join = {SERF_ADDR},
                       tags = {role = "lb", zone = "eu"}}
check("start returns true", ok == true, err)
check("start is idempotent", haserf.start{bind = "127.0.0.1:1"} == true)
check("started() is true", haserf.started())
local serf = eventually(20, function() return find(haserf.members{status = "alive"}, "serf-a") end)
check("the serf agent is seen alive", serf ~= nil)
check("member fields", serf and serf.addr == SERF_ADDR:match("^(.*):") and serf.port == 7946
      and serf.tags.role == "backend", serf and (serf.addr .. " " .. serf.port))
check("filter by tags", #haserf.members{tags = {role = "backend"}} == 1)
check("filter self=false", find(haserf.members{self = false}, "lua-member") == nil)
check("our own node is listed", find(haserf.members(), "lua-member") ~= nil)
-- Filters and pages, in C (the HAProxy members page and members.json).
check("members() without a filter returns the list alone", select("#", haserf.members()) == 1)
list, matching, total = haserf.members{limit = 1}
check("members{limit=1}: one row, every member counted", #list == 1 and list[1].name == "lua-member" and
      matching == 2 and total == 2, string.format("%d %s %s", #list, matching, total))
list, matching = haserf.members{offset = 1, limit = 1.0}
check("members{offset=1}: the next row", #list == 1 and list[1].name == "serf-a" and matching == 2)
list, matching, total = haserf.members{name = "serf"}
check("members{name=...}: a substring of the name", #list == 1 and list[1].name == "serf-a" and
      matching == 1 and total == 2)
list, matching = haserf.members{name = "serf", offset = 1}
check("members: an offset past the end gives no rows, the count stays", #list == 0 and matching == 1)
list, matching = haserf.members{status = "alive", limit = 0}
check("members{limit=0}: the counts alone", #list == 0 and matching == 2)
check("members{rejected=true}: nobody here is rejected", select(2, haserf.members{rejected = true}) == 0)
check("members{rejected=false}: everybody", select(2, haserf.members{rejected = false}) == 2)
check("members{status=..., self=false, name=...}: combined",
      select(2, haserf.members{status = "alive", self = false, name = "-"}) == 1)
local all_json = haserf.members_json()
check("members_json() without a filter returns the JSON alone", select("#", haserf.members_json()) == 1)
check("members_json{} is byte for byte members_json()", haserf.members_json{} == all_json)
local json
json, matching, total = haserf.members_json{name = "serf-a"}
check("members_json{name=...}: only that member, with the counts",
      json:find('"name": "serf-a"', 1, true) and not json:find("lua-member", 1, true) and
      matching == 1 and total == 2, json)
json, matching, total = haserf.members_json{status = "failed", limit = 0}
check("members_json{limit=0}: the counts alone", json == '{\n  "members": []\n}\n' and matching == 0 and
      total == 2, json)
-- A watch reports members once, then only what changed.
do
  local c, rm, v = watch:changes()
  check("watch: the first look is the whole table (self=false)", find(c, "serf-a") ~= nil and
        find(c, "lua-member") == nil and #rm == 0 and v == haserf.version(), v)
  local sa = find(c, "serf-a")
  check("watch: member fields as members()", sa and sa.addr == SERF_ADDR:match("^(.*):") and
        sa.status == "alive" and sa.tags.role == "backend")
  local all = watch_all:changes()
  check("watch(): ourselves too", find(all, "lua-member") ~= nil and find(all, "serf-a") ~= nil)
  c, rm, v = watch:changes()
  check("watch: nothing new, nothing reported", #c == 0 and #rm == 0 and v == haserf.version())
end
check("stats().joined", eventually(10, function() return haserf.stats().joined == 1 end))
local serf_view = eventually(20, function()
  local out = shell("serf members -rpc-addr " .. SERF_RPC)
  return out:find("lua%-member%s+%S+%s+alive%s+") and out
end)
check("serf sees us alive with our tags", serf_view and serf_view:find("zone=eu", 1, true), serf_view)

-- version() moves with membership; tags flow in.
local v1 = haserf.version()
shell("serf tags -rpc-addr " .. SERF_RPC .. " -set weight=50")
local updated = eventually(20, function()
  local m = find(haserf.members(), "serf-a")
  return m and m.tags.weight == "50"
end)
check("tag update reaches members()", updated)
check("version() moved", haserf.version() > v1)
do
  local c, rm = watch:changes()
  local m = find(c, "serf-a")
  check("watch: the tag update is reported, and only what changed",
        m and m.tags.weight == "50" and find(c, "lua-member") == nil and #rm == 0)
  c = watch:changes()
  check("watch: reported once", #c == 0)
end

-- User events both ways.
shell("serf event -rpc-addr " .. SERF_RPC .. " deploy v2.1")
local got = eventually(20, function()
  for _, ev in ipairs(haserf.events()) do
    if ev.name == "deploy" then return ev end
  end
end)
check("serf event arrives through events()", got and got.payload == "v2.1" and got.ltime >= 1, got)
sleep(1)
local again = haserf.events()
local dup = false
for _, ev in ipairs(again) do dup = dup or ev.name == "deploy" end
check("the event is delivered once", not dup)
check("user_event returns true", haserf.user_event("from-lua", "hello", false) == true)
local seen = eventually(20, function()
  local f = io.open(EVENTS_FILE)
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text:find("from-lua hello", 1, true)
end)
check("our event reaches the serf agent's handler", seen)
ok, err = haserf.user_event("big", string.rep("x", 600))
check("oversized event returns nil, err", ok == nil and err:find("512", 1, true), err)

-- Queries both ways: a serf query answered from Lua, a Lua query answered by serf's handler.
local qout = TMP .. "/query.out"
shell("(timeout 20 serf query -rpc-addr " .. SERF_RPC .. " -timeout 5s whoami hi > " .. qout ..
      " 2>&1 &)")
local incoming = eventually(10, function()
  for _, q in ipairs(haserf.queries()) do
    if q.name == "whoami" then return q end
  end
end)
check("a serf query arrives through queries()", incoming and incoming.payload == "hi" and
      incoming.from == "serf-a" and incoming.timeout_ms > 0, incoming)
check("respond() returns true", incoming and haserf.respond(incoming.id, "lua-member here") == true)
ok, err = haserf.respond(incoming and incoming.id or 1, "again")
check("a second respond() returns nil, err", ok == nil and err:find("no pending query", 1, true), err)
local answered = eventually(10, function()
  local f = io.open(qout)
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text:find("Response from 'lua-member': lua-member here", 1, true) and text
end)
check("serf query shows the response from Lua", answered)
local qid = haserf.query("echo", "x", {ack = true, timeout_ms = 2000, nodes = {"serf-a"}})
check("query() returns an id", math.type(qid) == "integer", qid)
local result = eventually(10, function()
  local r = haserf.query_result(qid)
  return r and r.done and r
end)
check("query_result: done, acked and answered by serf's handler",
      result and result.acks[1] == "serf-a" and (result.responses["serf-a"] or ""):match("^x\n?$"),
      result and ("acks: " .. table.concat(result.acks, ",") .. " response: " ..
                  tostring(result.responses["serf-a"]) .. " error: " .. tostring(result.error)))
ok, err = haserf.query_result(qid)
check("a finished result is read once", ok == nil and err:find("unknown query id", 1, true), err)
r, e = raises(haserf.query, nil)
check("query(nil) raises", r and e:find("name", 1, true), e)
r, e = raises(haserf.query, "q", "p", {timeout_ms = -1})
check("query with a bad timeout raises", r and e:find("timeout_ms", 1, true), e)
r, e = raises(haserf.keys, "rotate")
check("keys('rotate') raises", r and e:find("install", 1, true), e)
local kid = haserf.keys("list")
local kr = eventually(10, function()
  local x = haserf.query_result(kid)
  return x and x.done and x
end)
check("keys('list') on a cluster without encryption reports failures",
      kr and kr.num_err >= 1 and kr.error and kr.error:find("reported failure", 1, true), kr and kr.error)

-- Network coordinates: after some probes, members() carries the estimated rtt.
local near = eventually(20, function()
  local m = find(haserf.members(), "serf-a")
  return m and m.rtt_ms and m
end)
check("members() has rtt_ms for the serf agent (from its coordinate)",
      near and near.rtt_ms > 0 and near.rtt_ms < 50, near and near.rtt_ms)

-- set_tags.
check("set_tags returns true", haserf.set_tags{role = "lb", zone = "us"} == true)
local tagged = eventually(20, function()
  return shell("serf members -rpc-addr " .. SERF_RPC):find("zone=us", 1, true)
end)
check("new tags reach the serf agent", tagged)

-- render.
local text, warnings = haserf.render("{{#by_tag.role.backend}}{{name}}={{addr}} {{/by_tag.role.backend}}{{dc}}", {dc = "x"})
check("render with vars", text == "serf-a=" .. serf.addr .. " x", text)
check("render returns a warnings array", type(warnings) == "table" and #warnings == 0)
local none, rerr = haserf.render("{{#a}}\n")
check("render error returns nil, err with line", none == nil and rerr:find(":1:", 1, true), rerr)

-- reload: render → check → write → reload on the module thread.
local tpl = TMP .. "/t.mustache"
local out = TMP .. "/out.cfg"
local marker = TMP .. "/reloaded"
local f = assert(io.open(tpl, "w"))
f:write("{{#alive}}server {{name}} {{addr}}\n{{/alive}}")
f:close()
local function wait_reload()
  return eventually(20, function()
    local s = haserf.reload_status()
    return s.state ~= "running" and s
  end)
end
check("reload starts", haserf.reload{template = tpl, out = out, check = "test -s {}",
                                     reload = "touch " .. marker} == true)
local st = wait_reload()
check("reload ok", st and st.state == "ok" and st.ok == 1, st and st.message)
local written = io.open(out):read("a")
check("reload wrote the config", written:find("server serf-a", 1, true), written)
check("reload command ran", io.open(marker) ~= nil)
os.remove(marker)
haserf.reload{template = tpl, out = out, check = "true", reload = "touch " .. marker}
st = wait_reload()
check("identical render: unchanged, no reload", st.state == "unchanged" and io.open(marker) == nil, st.message)
f = assert(io.open(tpl, "w"))
f:write("changed {{version}}\n")
f:close()
haserf.reload{template = tpl, out = out, check = "false", reload = "touch " .. marker}
st = wait_reload()
check("failed check: failed, file kept, no reload", st.state == "failed" and
      io.open(out):read("a") == written and io.open(marker) == nil, st.message)
check("reload_status counts", st.failed == 1 and st.unchanged == 1)
check("reload_status: the last job's end, duration and result",
      st.finished_at > 1.6e9 and st.finished_at >= st.started_at and st.duration >= 0 and
      st.duration < 60 and st.last_result == "failed",
      string.format("%s %s %s %s", st.started_at, st.finished_at, st.duration, st.last_result))

-- stats.
local s = haserf.stats()
check("stats: members by status and rejected, adding up", s.alive + s.suspect + s.leaving + s.left + s.failed ==
      s.members and s.rejected == 0 and s.failed == 0 and s.alive >= 2)
check("stats fields", s.started == true and s.node == "lua-member" and s.members >= 2 and
      s.packets_received > 0 and s.events_received >= 1 and s.reloads_ok == 1, s.node)
-- Every number in stats() reaches the metrics (haserf.pages, the glue's /haserf/metrics).
local pages = require "haserf.pages"
local exported = {}
for _, m in ipairs(pages.STATS_METRICS) do exported[m[1]] = true end
local missing = {}
for k, v in pairs(s) do
  if type(v) == "number" and not exported[k] and not pages.STATS_SHOWN_ELSEWHERE[k] then
    missing[#missing + 1] = k
  end
end
table.sort(missing)
check("every stats() number is exported as a metric", #missing == 0, table.concat(missing, ","))
local info = haserf.build_info()
check("build_info: version, commit, Lua version", info.version == haserf.version_string() and
      #info.commit > 0 and info.lua == _VERSION:match("%d+%.%d+"), info.commit)

-- leave: serf sees us left.
check("leave returns true", haserf.leave() == true)
local left = eventually(20, function()
  return shell("serf members -rpc-addr " .. SERF_RPC):find("lua%-member%s+%S+%s+left")
end)
check("serf sees us left after leave()", left,
      shell("serf members -rpc-addr " .. SERF_RPC))
check("started() is false after leave", haserf.started() == false)
check("stop returns true", haserf.stop() == true)

print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
