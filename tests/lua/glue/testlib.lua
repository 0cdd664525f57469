-- SPDX-License-Identifier: MIT
-- A tiny test kit for the glue modules under plain lua5.3/lua5.4: named checks, a summary,
-- and the exit status ctest reads.
local T = {passed = 0, failed = 0}

function T.check(name, ok, detail)
  if ok then
    T.passed = T.passed + 1
    print("ok   - " .. name)
  else
    T.failed = T.failed + 1
    print("FAIL - " .. name .. (detail ~= nil and ("\n       " .. tostring(detail)) or ""))
  end
end

function T.eq(name, got, want)
  T.check(name, got == want, string.format("got %s, want %s", tostring(got), tostring(want)))
end

function T.contains(name, text, part)
  T.check(name, type(text) == "string" and text:find(part, 1, true) ~= nil,
          string.format("%q not in %q", part, tostring(text)))
end

function T.raises(name, fn, part)
  local ok, err = pcall(fn)
  T.check(name, not ok and (part == nil or tostring(err):find(part, 1, true) ~= nil),
          ok and "did not raise" or tostring(err))
end

function T.finish()
  print(string.format("%d passed, %d failed", T.passed, T.failed))
  os.exit(T.failed == 0 and 0 or 1)
end

return T
