-- The default guest on lemu's own machine with a virtio-net NIC: the seed's user-net checks — a
-- DHCP lease from 10.0.2.15 and a ping of the gateway — plus link status seen by the guest.
local lemu = require "lemu"
local H = require "helper"

local G = require "guest"
local run = G.run
local IMAGE, INITRD = G.IMAGE, G.INITRD

describe("the default guest with a virtio-net NIC", function()
  after_each(function() lemu.closeall() end)
  if not G.available() then
    it("needs the guest images", function() pending("guest/images is not in this tree") end)
    return
  end

  it("gets 10.0.2.15 from user-net and pings 10.0.2.2", function()
    lemu.run(function()
      local v = lemu.vlan("guestnet")
      local u = v:user{}
      local m, nic = G.boot{ vlan = v }
      local out = run(m, "udhcpc -i eth0 -q -n -t 5 -T 1", 30000)
      assert.matches("lease of 10%.0%.2%.15 obtained", out)
      out = run(m, "ping -c 3 -W 2 10.0.2.2", 30000)
      assert.matches("3 packets transmitted, 3 packets received", out)
      assert.matches("10.0.2.15", tostring(u:info()))
      local info = nic:info()
      assert.is_true(info.tx.frames >= 5)
      assert.is_true(info.rx.frames >= 4)
    end)
  end)

  -- The translator is the default engine on x86-64, so every other guest spec runs it there; the
  -- interpreter, the reference, boots two harts through OpenSBI and does the same here.
  it("gets its lease and pings under the interpreter (-accel interp), two harts through OpenSBI", function()
    lemu.run(function()
      local v = lemu.vlan("guestinterp")
      v:user{}
      local m = G.boot{ vlan = v, accel = "interp", smp = 2, bios = "default" }
      assert.equal("interp", m:info().accel)
      assert.matches("lease of 10%.0%.2%.15 obtained", run(m, "udhcpc -i eth0 -q -n -t 5 -T 1", 30000))
      assert.matches("3 packets transmitted, 3 packets received", run(m, "ping -c 3 -W 2 10.0.2.2", 30000))
      assert.equal("2", run(m, "grep -c ^processor /proc/cpuinfo"):match("%d+"))
    end)
  end)

  it("sees its link go down and up from Lua, and a scripted endpoint sees its frames", function()
    lemu.run(function()
      local v = lemu.vlan("guestlink")
      local ep = v:endpoint{}
      local m, nic = G.boot{ vlan = v, plug = function(mm) mm:rng() end }
      run(m, "ip link set eth0 up; ip addr add 192.168.9.2/24 dev eth0")
      lemu.sleep(100)
      assert.matches("LOWER_UP", run(m, "ip link show eth0"))   -- busybox ip shows carrier so
      nic:link(false)
      lemu.sleep(100)
      assert.not_matches("LOWER_UP", run(m, "ip link show eth0"))
      nic:link(true)
      lemu.sleep(100)
      assert.matches("LOWER_UP", run(m, "ip link show eth0"))
      local host = ep:host{ ip = "192.168.9.1" }
      m.console:send("ping -c 2 -W 2 192.168.9.1; echo END$((6*7))\n")
      local out = m.console:expect("\n(.-)END42", { timeout = 30000 })
      assert.matches("2 packets received", out)
      assert.matches("virtio", run(m, "ls /sys/bus/virtio/drivers/"))
    end)
  end)

  -- Frames a NIC sends while the harts run reach the VLAN after the slice, so Lua that sees them
  -- runs outside cpu_run and may call back into the machine: here a reset from a VLAN tap.
  it("can be reset from Lua that sees its frame, and boots again", function()
    lemu.run(function()
      local v = lemu.vlan("guestreset")
      local m
      local resets = 0
      v:tap(function()
        if resets == 0 then resets = 1; m:reset() end
      end)
      m = G.boot{ vlan = v }
      m.console:send("ip link set eth0 up; ip addr add 192.168.9.2/24 dev eth0; ping -c 1 -W 1 192.168.9.1\n")
      m.console:expect("lemu%-guest: ready", { timeout = 60000 })
      m.console:expect("# ", { timeout = 20000 })
      assert.equal(1, resets)
      assert.matches("lemu%-guest", run(m, "hostname"))
    end)
  end)

  it("refuses a NIC once the machine runs, and an unknown model by name", function()
    lemu.run(function()
      local m = lemu.machine{ ram = "64M", kernel = IMAGE, start = false }
      local ok, err = pcall(m.nic, m, { model = "ne2k_isa" })
      assert.is_false(ok)
      assert.matches("unknown model 'ne2k_isa'", err)
      m:start()
      ok, err = pcall(m.nic, m, { vlan = lemu.vlan(3) })
      assert.is_false(ok)
      assert.matches("before the machine starts", err)
    end)
  end)
end)

describe("the main job and the QEMU-style NIC options", function()
  if not G.available() then
    it("needs the guest images", function() pending("guest/images is not in this tree") end)
    return
  end

  it("make run's script boots, leases, pings, serves through hostfwd and exits 0", function()
    local port = 20000 + math.random(0, 9999)
    local out, status = H.lemu({ "scripts/default.lua" }, "LEMU_HTTP_PORT=" .. port)
    assert.equal(0, status, out)
    assert.matches("DHCP lease: 10%.0%.2%.15", out)
    assert.matches("ping 10%.0%.2%.2: 3 packets transmitted, 3 packets received", out)
    assert.matches("host%.lemu resolves to 10%.0%.2%.2", out)
    assert.matches("through hostfwd: lemu%-guest", out)
    assert.matches("guest powered off with status 0", out)
  end)

  it("-nic user and -netdev/-device give the guest a lease, like QEMU's command line", function()
    for _, net in ipairs({ { "-nic", "user,model=virtio-net-device" },
                           { "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0" } }) do
      local args = { "-M", "virt", "-m", "256M", "-kernel", IMAGE, "-initrd", INITRD,
                     "-append", "console=ttyS0" }
      for _, a in ipairs(net) do args[#args + 1] = a end
      local q = {}
      for _, a in ipairs(args) do q[#q + 1] = H.quote(a) end
      local out, status = H.sh("(sleep 4; echo 'udhcpc -i eth0 -q -n -t 5 -T 1; poweroff -f') | "
        .. H.lemu_env .. H.lemu_bin .. " " .. table.concat(q, " "))
      assert.equal(0, status, out)
      assert.matches("lease of 10%.0%.2%.15 obtained", out)
    end
  end)

  it("lists its NIC models and refuses unknown ones by name", function()
    local out, status = H.lemu({ "-net", "nic,model=help" })
    assert.equal(0, status)
    assert.matches("virtio%-net%-device", out)
    assert.matches("rtl8139", out)
    out, status = H.lemu({ "-net", "nic,model=pcnet", "-kernel", IMAGE })
    assert.equal(1, status)
    assert.matches("model=pcnet: unknown NIC model", out)
    out, status = H.lemu({ "-device", "virtio-net-device,netdev=nope", "-kernel", IMAGE })
    assert.equal(1, status)
    assert.matches("netdev=nope: no %-netdev with that id", out)
  end)
end)
