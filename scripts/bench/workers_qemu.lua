-- workers_qemu: the QEMU side of workers.sh — N qemu-system-riscv64 processes of the default guest,
-- each on its own user-net (QEMU has no shared VLAN in one process: each is a process of its
-- own), driven at once: boot, DHCP lease, the same compute load; prints the sum of their peak RSS.
--   lemu scripts/bench/workers_qemu.lua N LOOPS
package.path = "spec/?.lua;" .. package.path
local Q = require "qemu_guest"
local N, LOOPS = tonumber(arg[1] or "4"), tonumber(arg[2] or "20000")
local gs, tasks, rss = {}, {}, 0
for i = 1, N do gs[i] = Q.boot { ram = "128M" } end
for _, g in ipairs(gs) do
  tasks[#tasks + 1] = lemu.spawn(function()
    g:expect("# ", 120000)
    local _, st = g:run("udhcpc -i eth0 -q -n -t 5 -T 1", 60000)
    assert(st == 0, "no lease")
    local out
    out, st = g:run(("i=0; while [ $i -lt %d ]; do i=$((i+1)); done; echo $i"):format(LOOPS), 600000)
    assert(st == 0 and out:match(tostring(LOOPS)), "the load failed: " .. out)
    local f = io.open(("/proc/%d/status"):format(g.proc:pid()))
    local kb = f and f:read("a"):match("VmHWM:%s*(%d+)")
    if f then f:close() end
    rss = rss + (tonumber(kb) or 0)
  end)
end
for _, t in ipairs(tasks) do lemu.join(t, { timeout = 900000 }) end
print(("qemu: %d guests done, peak RSS summed %d KB"):format(N, rss))
for _, g in ipairs(gs) do g:close() end
