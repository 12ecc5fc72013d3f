-- Socket, TAP and VDE backends: VLANs joined across lemu processes and with QEMU, on QEMU's wire
-- formats. Each case starts its peer processes at once and waits with short timeouts.
local lemu = require "lemu"
local P = require "lemu.packet"
local H = require "helper"

local fixture = "spec/fixtures/sockpeer.lua"
local PING_TYPE = "\136\181"

local function peer(method, opts, name, extra)
  return lemu.process({ H.lemu_bin, fixture, method, opts, name, extra }, { quiet = true })
end

local function stop(procs)
  for _, p in ipairs(procs) do
    if not p:status() then p:kill() end
    pcall(p.wait, p, { timeout = 3000 })
    p:close()
  end
end

-- Broadcasts PING every 100 ms until every name in `names` has answered; returns the set.
local function ping_all(ep, names, timeout)
  local want, got, n = {}, {}, 0
  for _, x in ipairs(names) do want[x] = true n = n + 1 end
  local deadline = lemu.now() + (timeout or 5000)
  while n > 0 do
    if lemu.now() > deadline then
      local missing = {}
      for k in pairs(want) do if not got[k] then missing[#missing + 1] = k end end
      error("no PONG from " .. table.concat(missing, ", "), 2)
    end
    ep:send(string.rep("\255", 6) .. P.mac_bytes(ep.mac) .. PING_TYPE .. "PING" .. string.rep("\0", 42))
    local ok, f = pcall(ep.recv, ep, { timeout = 100, match = function(f) return f:sub(15, 18) == "PONG" end })
    if ok then
      local who = f:match("^PONG (%w+)", 15)
      if want[who] and not got[who] then got[who] = true n = n - 1 end
    end
  end
  return got
end

-- DHCP from the user-net of a peer process, across the link: the endpoint's host leases an address.
local function lease(ep)
  local l = ep:host {}:dhcp { timeout = 5000 }
  assert.matches("^10%.0%.2%.%d+$", l.address)
  assert.equal("10.0.2.2", l.server)
  return l
end

local function tmp_port()
  -- a port from a range the suite keeps to itself, different per run
  return 30000 + (math.floor(lemu.now() * 1000) + math.random(0, 9999)) % 20000
end

describe("socket backends between lemu processes", function()
  after_each(function() lemu.closeall() end)

  it("listen/connect over TCP: DHCP from the other process's user-net; counters and state", function()
    lemu.run(function()
      local v = lemu.vlan(0)
      local l = v:socket { listen = ":0" }
      assert.matches("^127%.0%.0%.1:%d+$", l:local_addr())   -- empty host: loopback
      local ep = v:endpoint {}
      local p = peer("socket", ("{ connect = %q }"):format(l:local_addr()), "B", "user")
      l:wait { timeout = 5000 }
      lease(ep)
      ping_all(ep, { "B" })
      local i = l:info()
      assert.equal("listen", i.mode)
      assert.is_true(i.connected)
      assert.equal(1, #i.peers)
      assert.is_true(i.peers[1].to_peer.frames >= 1)
      assert.is_true(i.peers[1].from_peer.frames >= 1)
      assert.is_true(i.peers[1].from_peer.bytes >= 60)
      -- the VLAN's listing shows the peer and its wire counters
      local ports = v:ports()
      local sp
      for _, x in ipairs(ports) do if x.kind == "socket" then sp = x end end
      assert.equal(i.peers[1].peer, sp.peer)
      assert.is_true(sp.connected)
      assert.matches("peer 127%.0%.0%.1:%d+ connected: to peer %d+ frames", tostring(v:info()))
      stop { p }
      lemu.wait("the peer to drop", { timeout = 3000 }, function(wake)
        local t = lemu.every(20, function() if l:connected() == 0 then wake() end end)
        return function() t:close() end
      end)
      assert.equal(1, l:info().dropped)
      assert.matches("closed by the peer", l:info().last_drop)
    end)
  end)

  it("a listener takes several peers, each its own port, and floods between them", function()
    lemu.run(function()
      local v = lemu.vlan(0)
      local l = v:socket { listen = "127.0.0.1:0" }
      local ep = v:endpoint {}
      local opts = ("{ connect = %q }"):format(l:local_addr())
      local ps = { peer("socket", opts, "B"), peer("socket", opts, "C") }
      l:wait { peers = 2, timeout = 5000 }
      ping_all(ep, { "B", "C" })
      assert.equal(3, #v:ports())
      stop(ps)
    end)
  end)

  it("unix stream: the server and a client with reconnect", function()
    lemu.run(function()
      local d = H.tmpdir()
      local path = d .. "/lan.sock"
      local v = lemu.vlan(0)
      local ep = v:endpoint {}
      -- the client starts first and keeps retrying until the server is there
      local c = v:stream { addr = "unix:" .. path, reconnect = 0.05 }
      local p = peer("stream", ("{ server = true, addr = { type = 'unix', path = %q } }"):format(path), "B", "user")
      c:wait { timeout = 5000 }
      lease(ep)
      ping_all(ep, { "B" })
      assert.is_true(c:info().connections >= 1)
      -- asked to, the client drops its connection and connects again
      local before = c:info().connections
      c:reconnect()
      lemu.wait("the client to reconnect", { timeout = 3000 }, function(wake)
        local t = lemu.every(10, function() if c:info().connections > before and c:connected() == 1 then wake() end end)
        return function() t:close() end
      end)
      assert.matches("reconnect requested", c:info().last_drop)
      ping_all(ep, { "B" })
      stop { p }
      H.sh("rm -rf " .. d)
    end)
  end)

  it("udp: a frame per datagram both ways", function()
    lemu.run(function()
      local a, b = tmp_port(), tmp_port() + 1
      local v = lemu.vlan(0)
      local s = v:socket { udp = "127.0.0.1:" .. b, localaddr = "127.0.0.1:" .. a }
      local ep = v:endpoint {}
      local p = peer("socket", ("{ udp = '127.0.0.1:%d', localaddr = '127.0.0.1:%d' }"):format(a, b), "B", "user")
      ping_all(ep, { "B" })
      lease(ep)
      local i = s:info()
      assert.equal("udp", i.mode)
      assert.is_true(i.from_peer.frames >= 1)
      stop { p }
    end)
  end)

  it("unix dgram", function()
    lemu.run(function()
      local d = H.tmpdir()
      local v = lemu.vlan(0)
      v:dgram { remote = "unix:" .. d .. "/b", ["local"] = "unix:" .. d .. "/a" }
      local ep = v:endpoint {}
      local p = peer("dgram", ("{ remote = 'unix:%s/a', ['local'] = 'unix:%s/b' }"):format(d, d), "B", "user")
      ping_all(ep, { "B" })
      lease(ep)
      stop { p }
      H.sh("rm -rf " .. d)
    end)
  end)

  it("mcast: three processes hear each other, nobody hears itself", function()
    lemu.run(function()
      local group = "230.0.0.1:" .. tmp_port()
      local v = lemu.vlan(0)
      local s = v:socket { mcast = group, localaddr = "127.0.0.1" }
      local ep = v:endpoint {}
      local opts = ("{ mcast = %q, localaddr = '127.0.0.1' }"):format(group)
      local ps = { peer("socket", opts, "B", "user"), peer("socket", opts, "C") }
      ping_all(ep, { "B", "C" })
      lease(ep)
      -- our own PINGs came back over the loop but were filtered: every frame received came from B
      -- or C, so there are no more of them than B's and C's answers and pings
      local echoes = 0
      for _ = 1, 5 do
        local ok = pcall(ep.recv, ep, { timeout = 50, match = function(f) return f:sub(15, 18) == "PING" end })
        if ok then echoes = echoes + 1 end
      end
      assert.equal(0, echoes)
      assert.is_true(s:info().from_peer.frames >= 2)
      stop(ps)
    end)
  end)

  it("drops a peer that sends a length prefix of 0x7fffffff; the others keep going", function()
    if not H.have("bash") then pending("needs bash for /dev/tcp") return end
    lemu.run(function()
      local v = lemu.vlan(0)
      local l = v:socket { listen = ":0" }
      local ep = v:endpoint {}
      local p = peer("socket", ("{ connect = %q }"):format(l:local_addr()), "B")
      l:wait { timeout = 5000 }
      local port = l:local_addr():match(":(%d+)$")
      local bad = lemu.process({ "bash", "-c",
        "exec 3<>/dev/tcp/127.0.0.1/" .. port .. "; printf '\\177\\377\\377\\377garbage' >&3; sleep 2" }, { quiet = true })
      lemu.wait("the garbage peer to be dropped", { timeout = 3000 }, function(wake)
        local t = lemu.every(20, function() if l:info().dropped >= 1 then wake() end end)
        return function() t:close() end
      end)
      assert.matches("length prefix 2147483647", l:info().last_drop)
      assert.equal(1, l:connected())
      ping_all(ep, { "B" })
      stop { p, bad }
    end)
  end)

  it("bad options are clear errors", function()
    local v = lemu.vlan(0)
    assert.has_error(function() v:socket { listen = "127.0.0.1:x" } end, "vlan:socket: bad port in '127.0.0.1:x': expected 0 to 65535")
    assert.has_error(function() v:socket { mcast = "10.1.1.1:5" } end)
    assert.has_error(function() v:socket { listen = ":0", connect = ":1" } end,
      "vlan:socket: give exactly one of listen=, connect=, mcast=, udp= (got 2)")
    assert.has_error(function() v:socket { udp = "127.0.0.1:5" } end, "vlan:socket: udp= needs localaddr='host:port' to receive on")
    assert.has_error(function() v:stream { adr = "x" } end)
  end)
end)

describe("socket command-line options", function()
  after_each(function() lemu.closeall() end)
  local cmdline = require "lemu.cmdline"

  it("lemu -net user -net socket,listen= serves DHCP to a VLAN that connects", function()
    lemu.run(function()
      local port = tmp_port()
      local p = lemu.process({ H.lemu_bin, "-net", "user", "-net", "socket,listen=127.0.0.1:" .. port }, { quiet = true })
      local v = lemu.vlan(0)
      local s = v:socket { connect = "127.0.0.1:" .. port, reconnect = 0.05 }
      local ep = v:endpoint {}
      s:wait { timeout = 5000 }
      lease(ep)
      stop { p }
    end)
  end)

  it("-netdev stream and -net socket become the same calls", function()
    lemu.run(function()
      local l = lemu.vlan("x"):socket { listen = ":0" }
      local st = cmdline.apply {
        { "netdev", "stream,id=s0,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=0" },
        { "net", "socket,vlan=3,connect=" .. l:local_addr() },
      }
      assert.equal(lemu.vlan "s0", st.netdevs.s0.vlan)
      l:wait { timeout = 3000 }
      lemu.wait("the -net socket client to connect", { timeout = 3000 }, function(wake)
        local t = lemu.every(10, function()
          local ps = lemu.vlan(3):ports()
          if ps[1] and ps[1].link then wake() end
        end)
        return function() t:close() end
      end)
      local ports = lemu.vlan(3):ports()
      assert.equal(1, #ports)
      assert.equal("socket", ports[1].kind)
      assert.is_true(ports[1].link)
    end)
    local ok, err = pcall(cmdline.apply, { { "netdev", "stream,id=x,addr.type=fd" } })
    assert.is_false(ok)
    assert.matches("addr.type=fd is not supported", err)
    ok, err = pcall(cmdline.apply, { { "netdev", "dgram,id=d,remote.host=127.0.0.1,remote.port=9,bogus=1" } })
    assert.matches("unknown option 'bogus'", err)
  end)
end)
