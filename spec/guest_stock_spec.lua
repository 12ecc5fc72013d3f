-- A stock distribution kernel: Debian stable's own riscv64 kernel package with Debian's
-- busybox-static (guest/images/stock, made by `make -C guest stock`, not committed), booted through
-- Debian's OpenSBI (-bios default) with 1 and 4 harts on a restricted user-net, on lemu and, for
-- what right looks like, on qemu-system-riscv64. Each boot must take its lease from user-net in
-- /init, reach the ready line and the prompt, have all its harts online, ping 10.0.2.2, and keep a
-- kernel log without an Oops, a BUG:, a lockup, an illegal instruction or a process killed by an
-- unhandled signal. Pending when the images are absent.
local lemu = require "lemu"
local H = require "helper"
local G = require "guest"
local Q = require "qemu_guest"

local DIR = "guest/images/stock/"
local IMAGE, INITRD = DIR .. "Image", DIR .. "initramfs.cpio.gz"
local OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
-- A boot takes 5 to 15 s to the lease on lemu and on QEMU on this project's machine, loaded.
local BOOT_MS = 300000

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function available()
  if not (exists(IMAGE) and exists(INITRD)) then
    return false, "guest/images/stock is absent: `make -C guest stock` fetches Debian's riscv64 " ..
      "kernel and busybox-static and builds it"
  end
  if not exists(OPENSBI) then return false, "Debian's opensbi package is not installed" end
  return true
end

-- Printed by a kernel in trouble: any of them fails the wait at once instead of at its timeout.
local FAILS = { "Kernel panic", "Oops", "BUG: ", "LOCKUP", "detected stalls", "unhandled signal" }

-- The checks once the shell prompts; run(cmd, timeout) -> output, exit status.
local function check(run, harts)
  local out = run("cat /sys/devices/system/cpu/online; grep -c '^processor' /proc/cpuinfo")
  local online, count = out:match("(%S+)%s+(%d+)")
  assert.equal(harts == 1 and "0" or ("0-" .. (harts - 1)), online, out)
  assert.equal(harts, tonumber(count), out)
  -- the lease /init took: the address is on eth0
  out = run("ip -4 addr show eth0")
  assert.matches("inet 10%.0%.2%.15/24", out)
  local st
  out, st = run("ping -c 1 -W 5 10.0.2.2", 30000)
  assert.equal(0, st, out)
  assert.matches("1 packets transmitted, 1 packets received", out)
  -- (spelled so that the echo of the typed line matches none of FAILS)
  out = run("dmesg > /tmp/k; grep -iE 'oops|illegal instruction|lockup|unhandled[ ]signal' /tmp/k; " ..
    "grep 'BUG[:]' /tmp/k; true")
  assert.equal("", out:gsub("%s+", ""), "the kernel log has:\n" .. out)
end

describe("Debian's stock riscv64 kernel on lemu", function()
  after_each(function() lemu.closeall() end)
  local ok, why = available()

  for _, harts in ipairs { 1, 4 } do
    it(("boots with -smp %d through OpenSBI, leases, pings 10.0.2.2, all harts online, clean dmesg")
      :format(harts), function()
      if not ok then return pending(why) end
      local dir = H.tmpdir()
      local log = dir .. "/console.log"
      local m
      -- Where the harts are, for the error of a boot that hangs.
      local function harts_now()
        local ok_, info = pcall(function() return m:info() end)
        if not ok_ then return "" end
        local t = {}
        for h, x in ipairs(info.harts) do
          t[#t + 1] = ("hart %d %s in %s at pc 0x%x after %d instructions"):format(h - 1, x.state, x.priv,
            x.pc, x.instret)
        end
        return "\n" .. table.concat(t, "\n")
      end
      local done, err = pcall(lemu.run, function()
        local v = lemu.vlan("stock" .. harts)
        v:user { restrict = true }
        m = lemu.machine { ram = "512M", smp = harts, bios = "default", kernel = IMAGE,
                           initrd = INITRD, append = "console=ttyS0", name = "stock" .. harts,
                           log = log, start = false }
        for _, f in ipairs(FAILS) do m.console:fail_on(f, true) end
        m:nic { vlan = v }
        m:start()
        m.console:expect("lease of 10%.0%.2%.15 obtained from 10%.0%.2%.2", { timeout = BOOT_MS })
        m.console:expect("lemu%-guest: ready", { timeout = 60000 })
        m.console:expect("# ", { timeout = 20000 })
        check(function(cmd, timeout) return G.run(m, cmd, timeout or 60000) end, harts)
        m.console:send("poweroff\n")
        assert.equal(0, m:wait_exit { timeout = 60000 })
      end)
      if not done then
        error(tostring(err) .. harts_now() .. "\n(the whole console is in " .. log .. ")", 0)
      end
      H.sh("rm -rf " .. H.quote(dir))
    end)
  end
end)

describe("Debian's stock riscv64 kernel on qemu-system-riscv64", function()
  local ok, why = available()
  if ok and not H.have(Q.qemu) then ok, why = false, Q.qemu .. " is not installed (Debian: qemu-system-misc)" end

  for _, harts in ipairs { 1, 4 } do
    it(("boots with -smp %d, leases, pings 10.0.2.2, all harts online, clean dmesg"):format(harts), function()
      if not ok then return pending(why) end
      lemu.run(function()
        local g = Q.boot { kernel = IMAGE, initrd = INITRD, smp = harts, ram = "512M",
                           append = "console=ttyS0", netdev = "user,id=n0,restrict=on" }
        local done, err = pcall(function()
          g:expect("lease of 10%.0%.2%.15 obtained from 10%.0%.2%.2", 120000)
          g:expect("lemu%-guest: ready", 30000)
          g:expect("# ")
          check(function(cmd, timeout) return g:run(cmd, timeout) end, harts)
          g:send("poweroff")
          assert.equal(0, (g.proc:wait { timeout = 30000 }))
        end)
        g:close()
        if not done then error(err, 0) end
      end)
    end)
  end
end)
