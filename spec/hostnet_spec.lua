-- TAP in a network namespace, VDE through a vde_switch, and interop with QEMU's socket netdev and
-- its user-net: what needs root, /dev/net/tun or another program is pending when it is missing.
local lemu = require "lemu"
local P = require "lemu.packet"
local H = require "helper"

local function stop(procs)
  for _, p in ipairs(procs) do
    if not p:status() then p:kill() end
    pcall(p.wait, p, { timeout = 3000 })
    p:close()
  end
end

-- DHCP through the endpoint's host (lemu.host): returns the lease.
local function dhcp(ep, timeout) return ep:host {}:dhcp { timeout = timeout or 5000 } end

local qemu = "qemu-system-riscv64"
-- QEMU's netdevs only move frames while the VM runs, so it runs a two-instruction guest that
-- sleeps in wfi (no CPU time) while the hub forwards between user-net and the socket.
local wfi = os.tmpname()
H.write(wfi, "\x73\x00\x50\x10\x6f\xf0\xdf\xff")   -- wfi; j .-4
local function qemu_hub(netdev)
  return lemu.process({ qemu, "-M", "virt", "-bios", "none", "-kernel", wfi, "-display", "none", "-serial", "none",
    "-monitor", "none", "-nodefaults",
    "-netdev", "user,id=u", "-netdev", netdev,
    "-netdev", "hubport,id=h1,hubid=0,netdev=u", "-netdev", "hubport,id=h2,hubid=0,netdev=s" }, { quiet = true })
end

describe("interop with QEMU 7.2", function()
  after_each(function() lemu.closeall() end)
  teardown(function() os.remove(wfi) end)

  it("a lemu endpoint gets a lease from QEMU's user-net through QEMU's socket listener", function()
    if not H.have(qemu) then pending("needs qemu-system-riscv64 (qemu-system-misc)") return end
    lemu.run(function()
      local port = 20000 + math.random(0, 9999)
      local q = qemu_hub("socket,id=s,listen=127.0.0.1:" .. port)
      local v = lemu.vlan(0)
      local s = v:socket { connect = "127.0.0.1:" .. port, reconnect = 0.05 }
      local ep = v:endpoint {}
      s:wait { timeout = 5000 }
      local l = dhcp(ep)
      assert.matches("^10%.0%.2%.%d+$", l.address)
      assert.equal("10.0.2.2", l.server)
      stop { q }
    end)
  end)

  it("QEMU connects to lemu's listener and serves a lease across it", function()
    if not H.have(qemu) then pending("needs qemu-system-riscv64 (qemu-system-misc)") return end
    lemu.run(function()
      local v = lemu.vlan(0)
      local l = v:socket { listen = ":0" }
      local ep = v:endpoint {}
      local q = qemu_hub("socket,id=s,connect=" .. l:local_addr())
      l:wait { timeout = 5000 }
      assert.matches("^10%.0%.2%.%d+$", dhcp(ep).address)
      local i = l:info().peers[1]
      assert.is_true(i.from_peer.frames >= 2 and i.to_peer.frames >= 2)
      stop { q }
    end)
  end)

  it("QEMU's dgram netdev and lemu's dgram exchange a lease over UDP", function()
    if not H.have(qemu) then pending("needs qemu-system-riscv64 (qemu-system-misc)") return end
    lemu.run(function()
      local a = 20000 + math.random(0, 9999)
      local b = a + 1
      local q = qemu_hub(("dgram,id=s,local.type=inet,local.host=127.0.0.1,local.port=%d,"
        .. "remote.type=inet,remote.host=127.0.0.1,remote.port=%d"):format(a, b))
      local v = lemu.vlan(0)
      v:dgram { remote = "127.0.0.1:" .. a, ["local"] = "127.0.0.1:" .. b }
      local ep = v:endpoint {}
      local l
      for _ = 1, 20 do   -- QEMU may not be bound yet: datagrams before that are lost, as on a wire
        local ok, r = pcall(dhcp, ep, 250)
        if ok then l = r break end
      end
      assert.truthy(l, "no lease over UDP from QEMU")
      assert.matches("^10%.0%.2%.%d+$", l.address)
      stop { q }
    end)
  end)

  it("QEMU and lemu share a multicast group; each hears the other, lemu never itself", function()
    if not H.have(qemu) then pending("needs qemu-system-riscv64 (qemu-system-misc)") return end
    lemu.run(function()
      local group = "230.0.0.1:" .. (20000 + math.random(0, 9999))
      local q = qemu_hub("socket,id=s,mcast=" .. group .. ",localaddr=127.0.0.1")
      local v = lemu.vlan(0)
      local m = v:socket { mcast = group, localaddr = "127.0.0.1" }
      local ep = v:endpoint {}
      local l
      for _ = 1, 20 do
        local ok, r = pcall(dhcp, ep, 250)
        if ok then l = r break end
      end
      assert.truthy(l, "no lease over multicast from QEMU")
      assert.matches("^10%.0%.2%.%d+$", l.address)
      -- our own DHCP requests went out to the group and were looped back by the kernel; none of
      -- them came back into the VLAN (QEMU's frames did: the lease)
      assert.is_true(m:info().from_peer.frames >= 2)
      local mine = P.mac_bytes(ep.mac)
      local ok = pcall(ep.recv, ep, { timeout = 200, match = function(f) return f:sub(7, 12) == mine end })
      assert.is_false(ok)
      stop { q }
    end)
  end)

  it("QEMU's stream netdev talks to lemu's stream client over a unix socket", function()
    if not H.have(qemu) then pending("needs qemu-system-riscv64 (qemu-system-misc)") return end
    lemu.run(function()
      local d = H.tmpdir()
      local q = qemu_hub("stream,id=s,server=on,addr.type=unix,addr.path=" .. d .. "/q.sock")
      local v = lemu.vlan(0)
      local s = v:stream { addr = "unix:" .. d .. "/q.sock", reconnect = 0.05 }
      local ep = v:endpoint {}
      s:wait { timeout = 5000 }
      assert.matches("^10%.0%.2%.%d+$", dhcp(ep).address)
      stop { q }
      H.sh("rm -rf " .. d)
    end)
  end)
end)

describe("TAP", function()
  after_each(function() lemu.closeall() end)

  it("an endpoint pings the kernel across a TAP inside a fresh network namespace", function()
    if H.sh("id -u"):match("^%d+") ~= "0" then pending("needs root to create a network namespace") return end
    if not H.read("/dev/net/tun") and select(2, H.sh("test -c /dev/net/tun")) ~= 0 then
      pending("needs /dev/net/tun") return
    end
    if not H.have("ip") then pending("needs ip (iproute2)") return end
    local ns = "lemuspec" .. math.random(10000, 99999)
    local _, st = H.sh("ip netns add " .. ns)
    if st ~= 0 then pending("cannot create a network namespace here") return end
    local d = H.tmpdir()
    -- (under make asan the suite runs with libasan preloaded: ip must not inherit it)
    H.write(d .. "/ifup", "#!/bin/sh\nunset LD_PRELOAD\necho \"$1\" > " .. d .. "/up.arg\n" ..
      "ip addr add 192.168.76.1/24 dev \"$1\" && ip link set \"$1\" up\n")
    H.write(d .. "/ifdown", "#!/bin/sh\necho \"$1\" > " .. d .. "/down.arg\n")
    H.sh("chmod +x " .. d .. "/ifup " .. d .. "/ifdown")
    local function run(mode)
      return H.sh("ip netns exec " .. ns .. " timeout -k 5 60 env " .. H.lemu_env .. H.lemu_bin ..
        " spec/fixtures/tapping.lua lemutap0 " .. mode .. " " .. d .. " </dev/null")
    end
    local results = {}
    for _, mode in ipairs { "up", "script", "vnet" } do
      local out, status = run(mode)
      results[mode] = { out = out, status = status }
    end
    -- a persistent TAP an administrator made for an unprivileged user opens without privileges
    local persistent
    if H.have("setpriv") then
      H.sh("ip netns exec " .. ns .. " ip tuntap add dev ptap0 mode tap user 65534")
      persistent = H.sh("ip netns exec " .. ns .. " setpriv --reuid=65534 --regid=65534 --clear-groups " ..
        H.lemu_bin .. " -e 'print(require(\"lemu\").vlan(0):tap{ifname=\"ptap0\"}:ifname())' </dev/null")
    end
    H.sh("ip netns del " .. ns)
    local up_arg, down_arg = H.read(d .. "/up.arg"), H.read(d .. "/down.arg")
    H.sh("rm -rf " .. d)
    for mode, r in pairs(results) do
      assert.equal(0, r.status, mode .. ": " .. r.out)
      assert.matches("replies=3", r.out)
      assert.matches("neigh=192%.168%.76%.2 lladdr 52:54:00:aa:bb:cc", r.out)
    end
    assert.equal("lemutap0\n", up_arg)      -- the scripts got the interface name, as QEMU passes it
    assert.equal("lemutap0\n", down_arg)
    if persistent then
      local mode = H.sh("stat -c %a /dev/net/tun"):match("%d+")
      if mode and tonumber(mode:sub(-1)) >= 6 then
        assert.matches("^ptap0", persistent)
      else
        -- this machine keeps /dev/net/tun root-only: the error must say what to do
        assert.matches("no permission to open /dev/net/tun", persistent)
      end
    end
  end)

  it("says what to do when a TAP cannot be made", function()
    -- an interface name the kernel refuses is an error that names it
    local ok, err = pcall(function() lemu.vlan(0):tap { ifname = "this-name-is-too-long-for-linux" } end)
    assert.is_false(ok)
    assert.matches("ifname 'this%-name%-is%-too%-long%-for%-linux' is longer than 15", err)
    if H.sh("id -u"):match("^%d+") == "0" and H.have("setpriv") then
      local out = H.sh(H.lemu_env .. "setpriv --reuid=65534 --regid=65534 --clear-groups " .. H.lemu_bin ..
        " -e 'require(\"lemu\").vlan(0):tap{}' </dev/null")
      assert.matches("ip tuntap add dev", out)
    end
  end)
end)

describe("VDE", function()
  after_each(function() lemu.closeall() end)

  it("names a VDE socket it cannot plug into, and why", function()
    local d = H.tmpdir()
    local ok, err = pcall(function() lemu.vlan("vde-none"):vde { url = d .. "/no-switch" } end)
    assert.is_false(ok)
    err = tostring(err)
    assert.matches("cannot plug into VDE '" .. d .. "/no-switch': ", err, 1, true)
    if os.getenv("LEMU_ASAN_OPTIONS") or H.tsan() then
      -- libvdeplug would load its plugin with RTLD_DEEPBIND, which ends a sanitized process
      assert.matches("VDE is unavailable in sanitizer builds", err, 1, true)
    else
      assert.matches("is a vde_switch running there?", err, 1, true)
    end
  end)

  it("a vde_switch joins two lemu processes", function()
    if not H.have("vde_switch") then pending("needs vde_switch (vde2)") return end
    if os.getenv("LEMU_ASAN_OPTIONS") or H.tsan() then
      pending("libvdeplug dlopens its plugins with RTLD_DEEPBIND, which ASan and TSan cannot run") return
    end
    lemu.run(function()
      local d = H.tmpdir()
      local _, st = H.sh("vde_switch -sock " .. d .. "/sw -daemon -p " .. d .. "/pid")
      assert.equal(0, st)
      -- the daemon goes whatever the test's outcome (a failed wait would leave it running)
      finally(function() H.sh("kill $(cat " .. d .. "/pid) 2>/dev/null; rm -rf " .. d) end)
      local v = lemu.vlan(0)
      local plug
      lemu.wait("the switch to listen", { timeout = 3000 }, function(wake)
        local t = lemu.every(20, function()
          if not plug and pcall(function() plug = v:vde { url = d .. "/sw" } end) then wake() end
        end)
        return function() t:close() end
      end)
      local ep = v:endpoint {}
      local p = lemu.process({ H.lemu_bin, "spec/fixtures/sockpeer.lua", "vde", ("{ url = %q }"):format(d .. "/sw"), "B" },
        { quiet = true })
      local got
      for _ = 1, 50 do
        ep:send(string.rep("\255", 6) .. P.mac_bytes(ep.mac) .. "\136\181PING" .. string.rep("\0", 42))
        local ok, f = pcall(ep.recv, ep, { timeout = 100, match = function(f) return f:sub(15, 18) == "PONG" end })
        if ok then got = f break end
      end
      assert.truthy(got, "no PONG across the switch")
      assert.is_true(plug:info().from_peer.frames >= 1)
      stop { p }
    end)
  end)
end)
