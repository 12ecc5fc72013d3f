-- workers_lab: N guests of the default image on one VLAN with user-net, on the virtual clock
-- (sleep=off) or the real one: each boots, takes a DHCP lease and runs a fixed compute load in its
-- shell; the script ends when every guest is done. Used by workers.sh with -workers 1 and N:
--   lemu [-workers W] scripts/bench/workers_lab.lua N LOOPS [real|virtual]
local N, LOOPS = tonumber(arg[1] or "4"), tonumber(arg[2] or "20000")
if (arg[3] or "virtual") == "virtual" then lemu.clock { mode = "virtual", shift = 0, sleep = false, seed = 1 } end
local lan = lemu.vlan("lan")
lan:user { restrict = true }
local ms = {}
for i = 1, N do
  local m = lemu.machine { name = "g" .. i, ram = "128M", kernel = "guest/images/Image.gz",
                           initrd = "guest/images/initramfs.cpio.gz", append = "console=ttyS0", start = false }
  m:nic { vlan = lan, mac = ("52:54:00:12:35:%02x"):format(i) }
  ms[i] = m
end
for _, m in ipairs(ms) do m:start() end
local tasks = {}
for _, m in ipairs(ms) do
  tasks[#tasks + 1] = lemu.spawn(function()
    m.console:expect("# ", { timeout = 120000 })
    local _, st = m.console:run("udhcpc -i eth0 -q -n -t 5 -T 1", { timeout = 60000 })
    assert(st == 0, m.name .. ": no lease")
    local out
    out, st = m.console:run(("i=0; while [ $i -lt %d ]; do i=$((i+1)); done; echo $i"):format(LOOPS),
                            { timeout = 600000 })
    assert(st == 0 and out:match(tostring(LOOPS)), m.name .. ": the load failed: " .. out)
  end)
end
for _, t in ipairs(tasks) do lemu.join(t, { timeout = 900000 }) end
print(("%d guests done at %.1f ms on the clock, %d workers"):format(N, lemu.now(), lemu.clock().workers))
lemu.closeall()
