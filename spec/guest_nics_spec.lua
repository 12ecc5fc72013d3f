-- The classic PCI network cards (e1000, rtl8139, ne2k_pci) with the default guest. For each model in
-- the registry, from the command line in each of QEMU's spellings: the kernel binds the driver it
-- binds on qemu-system-riscv64 with the same image, prints the same probe lines, sees the same PCI
-- function and interrupt, takes its lease, pings 10.0.2.2 and moves TCP both ways through user-net.
-- From Lua: guests with different models on one VLAN ping each other and see their links go down
-- and up when the script toggles them. And a lemu guest on e1000 talks to a QEMU guest on e1000
-- over a socket link.
local lemu = require "lemu"
local H = require "helper"
local U = require "uboot"
local G = require "guest"
local Q = require "qemu_guest"

local LONG = 90000    -- a boot on a loaded 2-core machine (or under ASan)

-- What each classic model must give the guest: the driver Linux binds (as on QEMU), the strings
-- its probe prints, and the command-line spelling lemu is driven with (QEMU gets -device: its
-- virt board does not plug PCI NICs from -nic or -net nic).
local MODELS = {
  e1000 = { driver = "e1000", args = { "-netdev", "user,id=n0", "-device", "e1000,netdev=n0" },
            link = true },
  rtl8139 = { driver = "8139cp", args = { "-net", "nic,model=rtl8139", "-net", "user" }, link = true },
  ne2k_pci = { driver = "ne2k-pci", args = { "-nic", "user,model=ne2k_pci" }, link = false },
}

-- The classic NICs the registry has: PCI NIC models that are not virtio.
local function classic_models()
  local t = {}
  for _, md in ipairs(require("lemu.cdevices").models()) do
    if md.kind == "nic" and md.bus == "pci" and not md.name:match("^virtio") then t[#t + 1] = md.name end
  end
  table.sort(t)
  return t
end

local PCI_LIST = "for d in /sys/bus/pci/devices/*; do echo ${d##*/} $(cat $d/vendor $d/device "
  .. "$d/subsystem_vendor $d/subsystem_device $d/class $d/revision); done"

-- The driver's probe lines without timestamps and link messages (those depend on timing).
local function probe_lines(dmesg, driver)
  local t = {}
  for line in dmesg:gmatch("[^\n]+") do
    line = line:gsub("^%[[%s%d.]+%]%s*", "")
    if line:find(driver, 1, true) and not line:lower():find("link") then t[#t + 1] = line end
  end
  return table.concat(t, "\n")
end

-- Boots the default guest from its command line on bin with NIC args and drives its shell.
local function guest_on(bin, model, args, body)
  local dir = H.tmpdir()
  local _, st = H.sh(("gzip -dc %s > %s/Image"):format(H.quote(G.IMAGE), dir))
  assert(st == 0)
  local a = { "-M", "virt", "-m", "256M", "-smp", "1", "-nographic", "-bios", "default",
    "-kernel", dir .. "/Image", "-initrd", G.INITRD, "-append", "console=ttyS0" }
  for _, x in ipairs(args) do a[#a + 1] = x end
  local http, hport = U.http_server(body)
  local got = {}
  local sink, sport = U.sink_server(got)
  local c = U.spawn(U.argv(bin, a))
  local seen = {}
  local ok, err = pcall(function()
    c:expect("lemu%-guest: ready", LONG)
    c:expect("# ")
    seen.driver = U.run(c, "basename $(readlink /sys/class/net/eth0/device/driver)"):match("%S+")
    local out, code = U.run(c, "udhcpc -i eth0 -t 10 -T 1", 40000)
    assert.equal(0, code, out)
    seen.lease = out:match("lease of ([%d.]+) obtained from 10%.0%.2%.2")
    out, code = U.run(c, "ping -c 3 10.0.2.2", 20000)
    assert.equal(0, code, out)
    seen.ping = out:match("3 packets transmitted, 3 packets received") ~= nil
    out, code = U.run(c, ("wget -q -O /tmp/body http://10.0.2.2:%d/body && md5sum /tmp/body"):format(hport), 60000)
    assert.equal(0, code, out)
    seen.down_md5 = out:match("(%x+)%s+/tmp/body")
    out, code = U.run(c, ("nc -w 3 10.0.2.2 %d < /tmp/body"):format(sport), 60000)
    assert.equal(0, code, out)
    local deadline = lemu.now() + 30000
    while not got[1] and lemu.now() < deadline do lemu.sleep(20) end
    seen.up_ok = got[1] == body
    seen.up_len = got[1] and #got[1]
    seen.pci = U.run(c, PCI_LIST)
    seen.irq = U.run(c, "grep eth0 /proc/interrupts | awk '{ $1 = \"\"; $2 = \"\"; print }'")
    seen.probe = probe_lines(U.run(c, "dmesg"), MODELS[model].driver)
    seen.carrier = U.run(c, "cat /sys/class/net/eth0/carrier"):match("%d")
    c:send("poweroff\n")
    seen.status = c:wait(20000)
  end)
  c:close()
  http:close()
  sink:close()
  H.sh("rm -rf " .. H.quote(dir))
  if not ok then error(err, 0) end
  return seen
end

describe("the classic PCI NICs", function()
  after_each(function() lemu.closeall() end)

  it("are in the registry with an expectation here for each", function()
    local names = classic_models()
    assert.is_true(#names >= 1, "no classic PCI NIC model in the registry")
    for _, name in ipairs(names) do assert.is_not_nil(MODELS[name], name .. " has no expectations in this spec") end
  end)

  for _, model in ipairs(classic_models()) do
    local exp = MODELS[model]
    if exp then
      it(model .. ": the guest binds " .. exp.driver .. ", takes a lease, pings and moves TCP both ways, as on QEMU", function()
        if not G.available() then return pending("guest/images is not in this tree") end
        lemu.run(function()
        local body = U.random_bytes(300000)
        local f = H.tmpdir() .. "/body"
        H.write(f, body)
        local want = H.sh("md5sum " .. f):match("%x+")
        H.sh("rm -rf " .. H.quote(f:match("^(.*)/body$")))
        local s = guest_on(H.lemu_bin, model, exp.args, body)
        assert.equal(exp.driver, s.driver)
        assert.equal("10.0.2.15", s.lease)
        assert.is_true(s.ping)
        assert.equal(want, s.down_md5)
        assert.is_true(s.up_ok, "the host received " .. tostring(s.up_len) .. " bytes")
        assert.equal("1", s.carrier)
        assert.equal(0, s.status)
        if not H.have("qemu-system-riscv64") then return end   -- lemu's half is checked
        local q = guest_on("qemu-system-riscv64", model,
          { "-netdev", "user,id=n0", "-device", model .. ",netdev=n0,romfile=" }, body)
        assert.equal(q.driver, s.driver)
        assert.equal(q.lease, s.lease)
        assert.equal(want, q.down_md5)
        assert.is_true(q.up_ok)
        assert.equal(q.pci, s.pci)
        assert.equal(q.irq, s.irq)
        assert.equal(q.probe, s.probe)
        end)
      end)
    end
  end

  it("of different models on one VLAN ping each other, and see their links toggled from Lua", function()
    local names = classic_models()
    assert.is_true(#names >= 2, "fewer than two classic models in the registry")
    if not G.available() then return pending("guest/images is not in this tree") end
    lemu.run(function()
      local v = lemu.vlan "mixed"
      local guests = {}
      local function carrier(g, want)
        local out = G.run(g.m, ("for i in $(seq 50); do [ $(cat /sys/class/net/eth0/carrier) = %s ] && break; "
          .. "usleep 100000; done; cat /sys/class/net/eth0/carrier"):format(want), 15000)
        return out:match("%d")
      end
      for i, model in ipairs(names) do
        local m, nic = G.boot { vlan = v, model = model, mac = ("52:54:00:aa:01:%02x"):format(i), name = model }
        local out, st = G.run(m, ("ip link set eth0 up && ip addr add 192.168.81.%d/24 dev eth0"):format(i))
        assert.equal(0, st, out)
        guests[i] = { m = m, nic = nic, model = model, ip = "192.168.81." .. i }
        assert.equal("1", carrier(guests[i], "1"), model .. ": no carrier after ip link set up")
      end
      for i, g in ipairs(guests) do
        local peer = guests[i % #guests + 1]
        local out, st = G.run(g.m, "ping -c 2 -W 3 " .. peer.ip, 20000)
        assert.equal(0, st, g.model .. " -> " .. peer.model .. ": " .. out)
        assert.matches("2 packets transmitted, 2 packets received", out)
      end
      for i, g in ipairs(guests) do
        local peer = guests[i % #guests + 1]
        g.nic:link(false)
        assert.is_false(g.nic:link())
        if MODELS[g.model].link then
          assert.equal("0", carrier(g, "0"), g.model .. ": the driver did not see the link go down")
          assert.matches("NO%-CARRIER", G.run(g.m, "ip link show eth0"))
        end
        -- with the link down nothing passes, whatever the driver knows
        local out, st = G.run(g.m, "ping -c 1 -W 1 " .. peer.ip, 10000)
        assert.is_not.equal(0, st, g.model .. ": " .. out)
        g.nic:link(true)
        if MODELS[g.model].link then
          assert.equal("1", carrier(g, "1"), g.model .. ": the driver did not see the link come back")
        end
        out, st = G.run(g.m, "ping -c 2 -W 3 " .. peer.ip, 30000)
        assert.equal(0, st, g.model .. " after the link came back: " .. out)
        local info = g.nic:info()
        assert.equal(g.model, info.model)
        assert.is_table(info.counters)
        assert.is_true(info.rx.frames > 0 and info.tx.frames > 0)
      end
    end)
  end)

  it("a lemu guest on e1000 and a qemu-system-riscv64 guest on e1000 ping each other over a socket link", function()
    local avail, why = Q.available()
    if not avail then return pending(why) end
    lemu.run(function()
      local v = lemu.vlan "qemu"
      local l = v:socket { listen = "127.0.0.1:0" }
      local g = Q.boot { netdev = "socket,id=n0,connect=" .. l:local_addr(),
                         device = "e1000,netdev=n0,mac=52:54:00:aa:02:02,romfile=" }
      local ok, err = pcall(function()
        l:wait { timeout = 10000 }
        local m = G.boot { vlan = v, model = "e1000", mac = "52:54:00:aa:02:01" }
        local out, st = G.run(m, "ip link set eth0 up && ip addr add 192.168.82.1/24 dev eth0")
        assert.equal(0, st, out)
        g:expect("lemu%-guest: ready", 40000)
        g:expect("# ")
        out, st = g:run("ip link set eth0 up && ip addr add 192.168.82.2/24 dev eth0")
        assert.equal(0, st, out)
        out, st = G.run(m, "ping -c 3 -W 3 192.168.82.2", 30000)
        assert.equal(0, st, out)
        assert.matches("3 packets transmitted, 3 packets received", out)
        out, st = g:run("ping -c 3 -W 3 192.168.82.1", 30000)
        assert.equal(0, st, out)
        assert.matches("3 packets transmitted, 3 packets received", out)
        out = g:run("basename $(readlink /sys/class/net/eth0/device/driver)")
        assert.matches("e1000", out)
      end)
      l:close()
      g:close()
      if not ok then error(err, 0) end
    end)
  end)
end)
