-- SPDX-License-Identifier: MIT
-- haserf.queries: answer serf queries from Lua inside HAProxy. Takes the module as an argument
-- (testable with a fake), never blocks: each call drains what arrived and answers it.
--
--   local queries = require "haserf.queries"
--   local handlers = {
--     ["lb-status"] = function(payload, q) return "ok " .. q.from end,  -- a string answers
--   }
--   core.register_task(function()
--     while true do queries.serve(haserf, handlers) core.msleep(100) end
--   end)
--
-- A handler returning nil leaves the query unanswered (serf's query then shows only the ack);
-- one that raises is counted and logged through `log` (if given), never propagated: a broken
-- handler must not stop the task that serves the others.
local M = {}

-- Returns answered, failed (counts for this call).
function M.serve(module, handlers, log, max)
  local answered, failed = 0, 0
  for _, q in ipairs(module.queries(max or 100)) do
    local handler = handlers[q.name] or handlers["*"]
    if handler then
      local ok, reply = pcall(handler, q.payload, q)
      if not ok then
        failed = failed + 1
        if log then log("query '" .. q.name .. "': handler failed: " .. tostring(reply)) end
      elseif reply ~= nil then
        local sent, err = module.respond(q.id, tostring(reply))
        if sent then
          answered = answered + 1
        else
          failed = failed + 1
          if log then log("query '" .. q.name .. "': " .. tostring(err)) end
        end
      end
    end
  end
  return answered, failed
end

return M
