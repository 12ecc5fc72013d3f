-- time: the virtual clock (docs/time.md) — the same scenario gives the same bytes on every run,
-- whatever the host's load; waits count guest time; what touches the host is reported.
local lemu = require "lemu"
local H = require "helper"
local G = require "guest"

local function lemu_e(code, env) return H.lemu({ "-e", code }, env) end

describe("the virtual clock", function()
  it("starts real, and says so", function()
    local st = lemu.clock()
    assert.equal("real", st.mode)
    assert.is_false(st.deterministic)
  end)

  it("refuses bad settings, naming the setting, the value and why", function()
    local cases = {
      { "-icount shift=11", "%-icount shift=11: shift=11: must be 0 to 10 or auto" },
      { "-icount shift=2,sleep=maybe", "sleep=maybe: must be on or off" },
      { "-icount shift=2,align=on", "align=on: lemu does not align" },
      { "-icount shift=2,rr=record", "record/replay is not in lemu" },
      { "-icount sleep=off", "a shift is needed" },
      { "-icount 3,quantum=0", "quantum=0: must be microseconds" },
      { "-seed x", "%-seed x: 'x' is not an integer" },
      { "-workers 0", "%-workers 0: '0' is not a number of threads from 1 to 256" },
    }
    for _, c in ipairs(cases) do
      local args = {}
      for w in c[1]:gmatch("%S+") do args[#args + 1] = w end
      local out, status = H.lemu(args)
      assert.are_not.equal(0, status, c[1])
      assert.matches(c[2], out, nil, false, c[1])
    end
    local out, status = lemu_e([[lemu.clock{ mode = "virtual", quantum_us = 0 }]])
    assert.are_not.equal(0, status)
    assert.matches("lemu.clock: quantum_us=0: must be an integer from 1 to 1000000", out, 1, true)
    out, status = lemu_e([[lemu.clock{ mode = "virtual", shift = 0, guard_ms = -1 }]])
    assert.are_not.equal(0, status)
    assert.matches("guard_ms=-1: must be milliseconds", out, 1, true)
    out, status = lemu_e([[lemu.clock{ speed = 1 }]])
    assert.are_not.equal(0, status)
    assert.matches("lemu.clock: unknown option 'speed'", out, 1, true)
    -- Timers already armed on the real clock cannot move to another one.
    out, status = lemu_e([[lemu.vlan("x"):user{}; lemu.clock{ mode = "virtual", shift = 0 }]])
    assert.are_not.equal(0, status)
    assert.matches("the clock's mode is chosen before any machine, user%-net or timer exists", out)
  end)

  it("counts waits and sleeps in virtual time: idle time is skipped with sleep=off", function()
    local out, status = lemu_e([[
      lemu.clock{ mode = "virtual", shift = 0, sleep = false }
      local t0 = os.time()
      lemu.sleep(3600 * 1000)
      print("slept", lemu.now())
      local ok, err = pcall(lemu.wait, "nothing", { timeout = 5000 }, function() return nil end)
      print("waited", lemu.now(), err:match("timed out after 5000 ms waiting for nothing") ~= nil)
      print("host seconds", os.time() - t0 <= 2)
    ]])
    assert.equal(0, status, out)
    assert.matches("slept\t3600000.0\n", out, 1, true)
    assert.matches("waited\t3605000.0\ttrue\n", out, 1, true)
    assert.matches("host seconds\ttrue", out, 1, true)
  end)

  it("puts impairments on virtual time: a 50 ms delay each way is a 100 ms round trip, exactly", function()
    local out, status = lemu_e([[
      lemu.clock{ mode = "virtual", shift = 0, sleep = false }
      local v = lemu.vlan("l")
      local a = v:endpoint{ name = "a" }:host{ ip = "10.9.0.1" }
      local b = v:endpoint{ name = "b" }:host{ ip = "10.9.0.2" }
      v:impair("a", "delay 50ms")
      v:impair("b", "delay 50ms")
      print(("rtt %.6f"):format(a:ping("10.9.0.2")), ("rtt %.6f"):format(a:ping("10.9.0.2")))
    ]])
    assert.equal(0, status, out)
    assert.matches("rtt 100.000000\trtt 100.000000", out, 1, true)
  end)

  it("stops a wait that the guests advance too slowly with the wall-clock guard", function()
    local out, status = lemu_e([[
      lemu.clock{ mode = "virtual", shift = 0, sleep = true, guard_ms = 300 }
      lemu.wait("a frame that never comes", { timeout = 60000 }, function() return nil end)
    ]])
    assert.are_not.equal(0, status)
    assert.matches("wall%-clock guard: waited 0 s of host time for a frame that never comes while "
                   .. "the virtual clock advanced 0%.%d+ s of its 60000 ms timeout", out)
  end)

  it("reports a host-touching backend as non-deterministic, with a warning naming it", function()
    local out, status = lemu_e([[
      lemu.clock{ mode = "virtual", shift = 0, seed = 1 }
      local v = lemu.vlan("l")
      v:endpoint{ name = "e" }
      print("before", lemu.clock().deterministic)
      local s = v:socket{ listen = "127.0.0.1:0" }
      local st = lemu.clock()
      print("after", st.deterministic, st.nondeterministic[1])
      s:close()
    ]])
    assert.equal(0, status, out)
    assert.matches("before\ttrue", out, 1, true)
    assert.matches("after\tfalse\tsocket backend 127.0.0.1:", out, 1, true)
    assert.matches("lemu: clock: warning: socket backend 127.0.0.1:%d+ touches the host: this "
                   .. "virtual%-time run is not deterministic", out)
  end)
end)

describe("deterministic runs of the default guest", function()
  if not G.available() then
    it("needs the guest images", function() pending("guest/images is not in this tree") end)
    return
  end

  -- Boots the default guest from QEMU-style options on the virtual clock, takes a lease on a
  -- restricted user-net, pings the gateway and powers off; returns stdout (the console) and the
  -- capture's bytes.
  local DRIVER = [[
    local m = lemu.machines()[1]
    m.console:expect("lemu%-guest: ready", { timeout = 60000 })
    m.console:expect("# ", { timeout = 20000 })
    local out, st = m.console:run("udhcpc -i eth0 -q -n -t 5 -T 1", { timeout = 20000 })
    assert(st == 0, out)
    out, st = m.console:run("ping -c 3 10.0.2.2", { timeout = 20000 })
    assert(st == 0, out)
    io.stderr:write(("NOW %.6f\n"):format(lemu.now()))
    m.console:send("poweroff -f\n")
  ]]
  local function boot(dir, seed, env)
    local pcap = dir .. "/n0.pcap"
    local out, status = H.lemu({ "-icount", "shift=0,sleep=off", "-seed", tostring(seed), "-m", "256M",
      "-kernel", G.IMAGE, "-initrd", G.INITRD, "-append", "console=ttyS0",
      "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-device,netdev=n0",
      "-object", "filter-dump,id=f0,netdev=n0,file=" .. pcap, "-e", DRIVER }, env)
    assert.equal(0, status, out)
    return out, H.read(pcap)
  end

  it("gives byte-identical console output and pcap twice, the second run under a CPU hog", function()
    local dir = H.tmpdir()
    local out1, pcap1 = boot(dir, 1)
    assert.matches("lease of 10.0.2.15 obtained from 10.0.2.2", out1, 1, true)
    assert.matches("3 packets transmitted, 3 packets received", out1, 1, true)
    assert.matches("%[%s*%d+%.%d+%] reboot: Power down", out1)
    -- Two busy loops on this 2-core host while the second run boots.
    H.sh("for i in 1 2; do (timeout -k 1 60 sh -c 'while :; do :; done' >/dev/null 2>&1 & "
         .. "echo $! >> " .. dir .. "/hogs); done")
    local ok, out2, pcap2 = pcall(boot, dir, 1)
    H.sh("kill $(cat " .. dir .. "/hogs) 2>/dev/null; true")
    assert(ok, out2)
    assert.equal(out1, out2)
    assert.is_true(pcap1 == pcap2, "the captures differ")
    -- The seed is what fixes the guest's random choices (udhcpc's transaction id among them).
    local _, pcap3 = boot(dir, 2)
    assert.is_false(pcap1 == pcap3, "a different seed gave the same capture")
    H.sh("rm -rf " .. dir)
  end)

  it("gives the same bytes with the machines on 1 and on 4 worker threads", function()
    local dir = H.tmpdir()
    local res = {}
    for _, w in ipairs { 1, 4 } do
      local d = dir .. "/w" .. w
      H.sh("mkdir -p " .. d)
      local out, status = H.lemu({ "-workers", tostring(w), "scripts/deterministic_lab.lua", d })
      assert.equal(0, status, out)
      res[w] = { out = out, cap = H.read(d .. "/lan.pcap") .. H.read(d .. "/dmz.pcap") }
    end
    assert.matches("c%$ ping %-c 3 192%.168%.7%.10 %-> 0", res[1].out)
    assert.equal(res[1].out, res[4].out)
    assert.is_true(res[1].cap == res[4].cap, "the captures differ between 1 and 4 workers")
    H.sh("rm -rf " .. dir)
  end)

  it("runs a Lua lab of three machines on two VLANs and an endpoint identically three times", function()
    local dir = H.tmpdir()
    local outs, caps = {}, {}
    for i = 1, 3 do
      local d = dir .. "/" .. i
      H.sh("mkdir -p " .. d)
      local out, status = H.lemu({ "scripts/deterministic_lab.lua", d })
      assert.equal(0, status, out)
      outs[i], caps[i] = out, H.read(d .. "/lan.pcap") .. H.read(d .. "/dmz.pcap")
    end
    assert.matches("a%$ udhcpc .- %-> 0", outs[1])
    assert.matches("c%$ ping %-c 3 192%.168%.7%.10 %-> 0", outs[1])
    assert.matches("probe %-> c: %d", outs[1])
    assert.matches("deterministic true", outs[1], 1, true)
    for i = 2, 3 do
      assert.equal(outs[1], outs[i])
      assert.is_true(caps[1] == caps[i], "captures of run " .. i .. " differ")
    end
    H.sh("rm -rf " .. dir)
  end)
end)
