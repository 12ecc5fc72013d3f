-- embed.lua [-b] OUT.c FILE...: writes a C table of Lua sources (lemu_lua_sources) for lua/lcore.c.
-- lua/lemu/init.lua becomes module "lemu", lua/lemu/x.lua becomes "lemu.x". -b: precompiled
-- chunks instead of sources, for a build that opens many Lua states (the option parsers' fuzz
-- target); they load only into the Lua release they were compiled by. They are stripped of debug
-- information, which makes a fifth of that target's time: its errors carry no "file:line:" prefix
-- and name no variables, which the target's checks do not read.
local bytecode = arg[1] == "-b"
if bytecode then table.remove(arg, 1) end
local out = assert(io.open(arg[1], "w"))
out:write('#include "lmods.h"\n\n')
local names = {}
for i = 2, #arg do
  local path = arg[i]
  local f = assert(io.open(path, "rb"))
  local src = f:read("a")
  f:close()
  local mod = path:match("lua/(.-)%.lua$"):gsub("/", ".")
  mod = mod:gsub("%.init$", "")
  if bytecode then src = string.dump(assert(load(src, ("=[lemu]/%s.lua"):format(mod))), true) end
  names[#names + 1] = mod
  out:write(("static const char src%d[] = {"):format(i))
  for j = 1, #src do
    if j % 24 == 1 then out:write("\n") end
    out:write(src:byte(j), ",")
  end
  out:write("0};\n")
end
out:write("\nconst struct lsrc lemu_lua_sources[] = {\n")
for i, mod in ipairs(names) do
  out:write(('  {"%s", src%d, sizeof src%d - 1},\n'):format(mod, i + 1, i + 1))
end
out:write("  {0, 0, 0}\n};\n")
out:close()
