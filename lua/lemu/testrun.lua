-- lemu.testrun: `lemu test [DIR] [busted options]` — runs a user's scenario specs (DIR, default
-- "spec") with busted inside the host program, so they `require "lemu"` as the suite does, with the
-- options lemu needs (files not insulated: lemu binds to the Lua state once) and DIR on the module
-- path for the user's own helpers. busted's options pass through: `-o junit` writes a JUnit XML
-- report for CI, `-o TAP` TAP, `--filter=PATTERN` picks tests. The exit status is busted's.
local M = {}

function M.main(argv)
  local dir, rest = "spec", {}
  for i = 2, #argv do
    local a = argv[i]
    if a:sub(1, 1) ~= "-" and dir == "spec" and #rest == 0 and not a:find("=", 1, true) then dir = a
    else rest[#rest + 1] = a end
  end
  local ok = pcall(require, "busted.runner")
  if not ok then
    io.stderr:write("lemu test: busted is not installed (Debian: lua-busted; make deps installs it)\n")
    return 1
  end
  local f = io.open(dir, "r")
  if not f then
    io.stderr:write(("lemu test: %s: no such directory or spec file\n"):format(dir))
    return 1
  end
  f:close()
  -- Specs that start machines find the build's lemu as LEMU_BUILD/lemu (spec/helper.lua's way).
  local a = { "--no-auto-insulate", "--lpath=" .. dir .. "/?.lua", "--pattern=_spec" }
  for _, x in ipairs(rest) do a[#a + 1] = x end
  a[#a + 1] = dir
  _G.arg = a
  a[0] = "lemu test"
  require("busted.runner")({ standalone = false })   -- runs the specs and exits with their status
  return 0
end

return M
