-- guestcpu.lua: compute inside the default guest, per lemu engine and on qemu-system-riscv64:
-- md5sum and sha256sum of 32 MiB of zeros (dd from /dev/zero, so the kernel's pipe and the hash
-- both run), each timed in wall-clock from typing the command to its end marker, best of 2, in a
-- guest booted once per emulator (256M, one hart; lemu's built-in SBI, QEMU's default OpenSBI).
-- Figures only: nothing here fails on speed.
package.path = "spec/?.lua;" .. package.path
local lemu = require "lemu"
local G = require "guest"
local Q = require "qemu_guest"

if not G.available() then print("  guestcpu: guest/images are missing: skipped") return end

local CMDS = { "md5sum", "sha256sum" }
local function cmd(h) return "dd if=/dev/zero bs=1M count=32 2>/dev/null | " .. h end

local function measure(run)
  local best = {}
  for _, h in ipairs(CMDS) do
    for _ = 1, 2 do
      local t0 = lemu.now()
      local out, st = run(cmd(h))
      local t = (lemu.now() - t0) / 1000
      if st ~= 0 or not out:match("%x+") then error("guestcpu: " .. h .. " failed: " .. out) end
      if not best[h] or t < best[h] then best[h] = t end
    end
  end
  return best
end

local res, engines = {}, { "interp", "jit" }
for _, eng in ipairs(engines) do
  local ok, m = pcall(lemu.machine, { ram = "256M", kernel = G.IMAGE, initrd = G.INITRD,
                                      append = "console=ttyS0", accel = eng, start = false })
  if ok then
    m:start()
    m.console:expect("lemu%-guest: ready", { timeout = 60000 })
    m.console:expect("# ", { timeout = 20000 })
    res[eng] = measure(function(c) return G.run(m, c, 600000) end)
    m:close()
  else
    print(("  lemu -accel %s: %s"):format(eng, tostring(m)))
  end
end
local qok = Q.available()
if qok then
  local g = Q.boot()
  g:expect("lemu%-guest: ready", 60000)
  g:expect("# ", 20000)
  res.qemu = measure(function(c) return g:run(c, 600000) end)
  g:close()
end
for _, h in ipairs(CMDS) do
  local q = res.qemu and res.qemu[h]
  for _, eng in ipairs(engines) do
    local t = res[eng] and res[eng][h]
    if t then
      print(("  %s of 32 MiB in the guest: lemu -accel %s %.2f s%s"):format(h, eng, t,
        q and (", qemu %.2f s: %.2fx QEMU's time"):format(q, t / q) or ""))
    end
  end
end
if not qok then print("  qemu-system-riscv64 is not installed: no ratios") end
