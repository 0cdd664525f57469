-- SPDX-License-Identifier: MIT
-- haserf.queries: handlers answer by name or "*", nil leaves unanswered, errors are contained.
local T = require "testlib"
local queries = require "haserf.queries"

local responded = {}
local fake = {
  pending = {{id = 1, name = "status", payload = "p1", from = "a"},
             {id = 2, name = "other", payload = "p2", from = "b"},
             {id = 3, name = "boom", payload = "", from = "c"},
             {id = 4, name = "quiet", payload = "", from = "d"}},
}
function fake.queries(max)
  local out = {}
  for i = 1, math.min(max, #fake.pending) do out[i] = fake.pending[i] end
  fake.pending = {}
  return out
end
function fake.respond(id, payload)
  if id == 2 then return nil, "response exceeds limit" end
  responded[id] = payload
  return true
end

local logs = {}
local answered, failed = queries.serve(fake, {
  status = function(payload, q) return "up " .. payload .. " " .. q.from end,
  boom = function() error("broken handler") end,
  quiet = function() return nil end,
  ["*"] = function() return "fallback" end,
}, function(line) logs[#logs + 1] = line end)
T.eq("the named handler answered", responded[1], "up p1 a")
T.eq("nil leaves the query unanswered", responded[4], nil)
T.eq("answered count", answered, 1)
T.eq("failed count: a raising handler and a refused response", failed, 2)
local all_logs = table.concat(logs, "\n")
T.contains("the raising handler is logged", all_logs, "query 'boom': handler failed")
T.contains("the refusal is logged", all_logs, "query 'other': response exceeds limit")
T.eq("nothing left to serve", select(1, queries.serve(fake, {})), 0)
T.finish()
