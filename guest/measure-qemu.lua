-- Measures how long qemu-system-riscv64 takes from its start to the guest's DHCP lease with the
-- default guest image (the figure lemu's boot benchmark compares against), and to the ready line.
-- Run from the repository's top:  build/lemu guest/measure-qemu.lua [runs]
package.path = "spec/?.lua;" .. package.path
local lemu = require "lemu"
local Q = require "qemu_guest"

local runs = tonumber(arg and arg[1]) or 6
local ok, why = Q.available()
if not ok then print("measure-qemu: " .. why); return end

-- build/lemu runs a script as a task, so waits work at its top level
do
  local ready, lease = {}, {}
  for i = 1, runs do
    local g = Q.boot()
    -- typed at once: the tty holds the line until the console shell reads it
    g:expect("lemu%-guest: ready", 30000)
    ready[i] = math.floor(lemu.now() - g.t0)
    g:send("udhcpc -i eth0")
    g:expect("lease of 10%.0%.2%.15 obtained", 20000)
    lease[i] = math.floor(lemu.now() - g.t0)
    g:close()
    print(("run %d: ready %4d ms, lease %4d ms"):format(i, ready[i], lease[i]))
  end
  local function stats(t)
    local s = {}
    for i, v in ipairs(t) do s[i] = v end
    table.sort(s)
    local sum = 0
    for _, v in ipairs(s) do sum = sum + v end
    return ("min %d, median %d, max %d, mean %d ms"):format(s[1], s[(#s + 1) // 2], s[#s], sum // #s)
  end
  print("ready: " .. stats(ready))
  print("lease: " .. stats(lease))
end
