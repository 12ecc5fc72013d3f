-- VXLAN (RFC 7348) joining VLANs: two lemu VLANs across loopback, frames of another network
-- identifier refused and counted, a Linux kernel vxlan device in network namespaces the spec makes
-- answering pings through the tunnel, -netdev vxlan, and what is refused.
local lemu = require "lemu"
local H = require "helper"

-- A UDP port for both ends (each binds its own loopback address, so one number serves both).
local function port() return math.random(20000, 60000) end

describe("VXLAN", function()
  after_each(function() lemu.closeall() end)

  it("carries frames between two lemu VLANs and drops those of another network identifier", function()
    lemu.run(function()
      local p = port()
      local a, b, c = lemu.vlan "vx-a", lemu.vlan "vx-b", lemu.vlan "vx-c"
      local x = a:vxlan { remote = "127.0.0.2", ["local"] = "127.0.0.1", vni = 42, port = p }
      local y = b:vxlan { remote = "127.0.0.1", ["local"] = "127.0.0.2", vni = 42, port = p }
      local e1, e2 = a:endpoint(), b:endpoint()
      local f = lemu.packet.ether { src = e1.mac, dst = "ff:ff:ff:ff:ff:ff", payload = ("v"):rep(1400) }
      for _ = 1, 20 do e1:send(f) end
      for _ = 1, 20 do assert.equal(f, e2:recv { timeout = 2000 }) end
      e2:send(lemu.packet.ether { src = e2.mac, dst = e1.mac, payload = "back" })
      e1:recv { timeout = 2000 }
      assert.equal(20, x:info().to_peer.frames)
      assert.equal(20, y:info().from_peer.frames)
      assert.equal("vxlan", y:info().mode)
      -- a third tunnel endpoint with identifier 43 sends to b's port: b takes none of it
      local z = c:vxlan { remote = "127.0.0.2", ["local"] = "127.0.0.3", vni = 43, port = p }
      local e3 = c:endpoint()
      for _ = 1, 5 do e3:send(f) end
      local deadline = lemu.now() + 2000
      while y:info().from_peer.drops < 5 and lemu.now() < deadline do lemu.sleep(10) end
      assert.equal(5, y:info().from_peer.drops)
      assert.equal(0, e2:pending())
      z:close()
    end)
  end)

  it("talks to a Linux kernel vxlan device in network namespaces the spec makes", function()
    if H.sh("id -u"):match("^%d+") ~= "0" then return pending("needs root to create network namespaces") end
    if not H.have("ip") then return pending("needs ip (iproute2)") end
    local tag = tostring(math.random(10000, 99999))
    local a, b = "lemuvxa" .. tag, "lemuvxb" .. tag
    local function sh(cmd)
      local out, st = H.sh("env -u LD_PRELOAD " .. cmd .. " 2>&1")
      return out, st
    end
    local _, st = sh("ip netns add " .. a)
    if st ~= 0 then return pending("cannot create a network namespace here") end
    sh("ip netns add " .. b)
    local ok, err = pcall(function()
      local steps = {
        ("ip -n %s link add va%s type veth peer name vb%s netns %s"):format(a, tag, tag, b),
        ("ip -n %s addr add 10.231.0.1/24 dev va%s"):format(a, tag),
        ("ip -n %s link set va%s up"):format(a, tag),
        ("ip -n %s link set lo up"):format(a),
        ("ip -n %s addr add 10.231.0.2/24 dev vb%s"):format(b, tag),
        ("ip -n %s link set vb%s up"):format(b, tag),
        ("ip -n %s link add vx0 type vxlan id 4242 remote 10.231.0.1 local 10.231.0.2 dstport 4789 dev vb%s"):format(b, tag),
        ("ip -n %s link set vx0 address 52:54:00:aa:91:02"):format(b),
        ("ip -n %s addr add 192.168.91.2/24 dev vx0"):format(b),
        ("ip -n %s link set vx0 up"):format(b),
      }
      for _, c in ipairs(steps) do
        local out, s = sh(c)
        if s ~= 0 then
          if c:find("type vxlan") then error("pending: the kernel has no vxlan: " .. out, 0) end
          error(c .. ": " .. out, 0)
        end
      end
      local out, s = H.sh("ip netns exec " .. a .. " timeout -k 5 60 env " .. H.lemu_env .. H.lemu_bin ..
        " spec/fixtures/vxlan_peer.lua 10.231.0.2 10.231.0.1 4242 </dev/null")
      assert.equal(0, s, out)
      assert.matches("replies=3", out)
      -- the kernel learned lemu's endpoint behind the tunnel endpoint 10.231.0.1
      local fdb = sh("bridge -n " .. b .. " fdb show dev vx0")
      assert.matches("52:54:00:aa:91:01 dst 10%.231%.0%.1", fdb)
    end)
    sh("ip netns del " .. a)
    sh("ip netns del " .. b)
    if not ok then
      if tostring(err):match("^pending: ") then return pending((tostring(err):gsub("^pending: ", ""))) end
      error(err, 0)
    end
  end)

  it("comes from -netdev vxlan, which names what it refuses", function()
    local function fails(args, pattern)
      local out, status = H.lemu(args)
      assert.equal(1, status, out)
      assert.matches(pattern, out)
    end
    fails({ "-netdev", "vxlan,id=n0,remote=127.0.0.1" }, "needs vni=")
    fails({ "-netdev", "vxlan,id=n0,remote=127.0.0.1,vni=99999999" }, "vni=99999999: a VXLAN network identifier is a whole number from 0 to 16777215")
    fails({ "-netdev", "vxlan,id=n0,vni=5" }, "remote= is needed")
    fails({ "-netdev", "vxlan,id=n0,remote=127.0.0.1,vni=5,port=70000" }, "port=70000")
    fails({ "-netdev", "vxlan,id=n0,remote=127.0.0.1,vni=5,ttl=3" }, "ttl")
    fails({ "-netdev", "vxlan,id=n0,remote=127.0.0.1,vni=5,port=0" }, "port=0: a UDP port is 1 to 65535")
    fails({ "-netdev", "vxlan,id=n0,remote=127.0.0.1,vni=five" }, "vni=five: expected a whole number")
  end)
end)
