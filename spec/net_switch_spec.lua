-- VLANs that are learning switches (netstack/switch.c), seen from scripted endpoints: learning and
-- forwarding to one port, flooding of broadcast and unknown unicast, ageing and flushing, access
-- and trunk ports with 802.1Q tags, two tagged VLANs kept apart on a trunk between two switches,
-- the forwarding table in info(), and what is refused.
local lemu = require "lemu"
local P = require "lemu.packet"
local G = require "guest"

local function frame(src, dst, tag)
  return P.build { eth = { src = src, dst = dst or P.broadcast }, ipv4 = { src = "10.0.0.1", dst = "10.0.0.2" },
    udp = { sport = 1, dport = 2 }, payload = tag or "x" }
end
-- The same frame with an 802.1Q tag of id vid (priority pcp) after the addresses.
local function tagged(f, vid, pcp)
  return f:sub(1, 12) .. string.pack(">I2I2", 0x8100, ((pcp or 0) << 13) | vid) .. f:sub(13)
end
-- The frame's tag id, or nil if it is untagged; and the payload of its UDP datagram.
local function vid_of(f)
  if f:byte(13) == 0x81 and f:byte(14) == 0 then return (string.unpack(">I2", f, 15)) & 0xfff end
end
local function payload(f)
  if vid_of(f) then f = f:sub(1, 12) .. f:sub(17) end
  return P.parse(f).payload
end

-- Everything an endpoint holds now, as payloads, and whether any came tagged (with which ids).
local function drain(ep)
  local got, vids = {}, {}
  while ep:pending() > 0 do
    local f = ep:recv { timeout = 10 }
    got[#got + 1] = payload(f)
    vids[#vids + 1] = vid_of(f) or 0
  end
  return got, vids
end

describe("a switched VLAN", function()
  after_each(function() lemu.closeall() end)

  it("floods what it has not learned and forwards to one port what it has", function()
    lemu.run(function()
      local v = lemu.vlan("sw-learn", { switch = true })
      local a, b, c = v:endpoint { name = "a" }, v:endpoint { name = "b" }, v:endpoint { name = "c" }
      a:send(frame(a.mac, nil, "bcast"))                     -- broadcast: everyone else
      assert.same({ "bcast" }, drain(b))
      assert.same({ "bcast" }, drain(c))
      b:send(frame(b.mac, a.mac, "to-a"))                    -- a was learned: only a
      assert.same({ "to-a" }, drain(a))
      assert.same({}, drain(c))
      a:send(frame(a.mac, b.mac, "to-b"))                    -- and b by now
      assert.same({ "to-b" }, drain(b))
      assert.same({}, drain(c))
      a:send(frame(a.mac, "02:00:00:00:00:99", "unknown"))   -- unknown unicast: flooded
      assert.same({ "unknown" }, drain(b))
      assert.same({ "unknown" }, drain(c))
      a:send(frame(a.mac, "33:33:00:00:00:01", "mcast"))     -- multicast: flooded
      assert.same({ "mcast" }, drain(b))
      assert.same({ "mcast" }, drain(c))
      local info = v:info()
      assert.equal(2, info.switch.entries)
      assert.equal(2, info.switch.forwarded)
      assert.equal(3, info.switch.flooded)
      local fdb = {}
      for _, e in ipairs(info.switch.fdb) do fdb[e.mac] = e.port .. "/" .. e.vid end
      assert.same({ [a.mac] = "a/1", [b.mac] = "b/1" }, fdb)
      assert.matches("vlan sw%-learn %(switch%)", tostring(info))
      assert.matches(a.mac .. " vid 1 on a", tostring(info))
      -- a station that moves is learned on its new port
      c:send(frame(a.mac, nil, "moved"))
      drain(a); drain(b)
      b:send(frame(b.mac, a.mac, "to-a-now"))
      assert.same({ "to-a-now" }, drain(c))
      assert.same({}, drain(a))
    end)
  end)

  it("forgets addresses after the ageing time and on flush", function()
    lemu.run(function()
      local v = lemu.vlan("sw-age", { switch = true, ageing = 0.2 })
      local a, b, c = v:endpoint(), v:endpoint(), v:endpoint()
      a:send(frame(a.mac, nil, "hello"))
      drain(b); drain(c)
      b:send(frame(b.mac, a.mac, "known"))
      assert.same({}, drain(c))
      lemu.sleep(300)
      assert.equal(0, v:switch_info().entries)
      b:send(frame(b.mac, a.mac, "aged"))                    -- a aged out: flooded
      assert.same({ "aged" }, drain(c))
      drain(a)
      a:send(frame(a.mac, nil, "again"))
      drain(b); drain(c)
      v:flush()
      assert.same({}, v:fdb())
      b:send(frame(b.mac, a.mac, "flushed"))
      assert.same({ "flushed" }, drain(c))
    end)
  end)

  it("keeps access ports of different ids apart and never shows them a tag", function()
    lemu.run(function()
      local v = lemu.vlan("sw-access", { switch = true })
      local a, b, c = v:endpoint { name = "a" }, v:endpoint { name = "b" }, v:endpoint { name = "c" }
      v:access(a, 10)
      v:access("b", 10)
      v:access(c, 20)
      a:send(frame(a.mac, nil, "ten"))
      local got, vids = drain(b)
      assert.same({ "ten" }, got)
      assert.same({ 0 }, vids)                               -- untagged on an access port
      assert.same({}, drain(c))
      -- a tagged frame into an access port is dropped, whatever its id
      a:send(tagged(frame(a.mac, nil, "sneak"), 20))
      assert.same({}, drain(c))
      assert.same({}, drain(b))
      assert.equal(1, v:switch_info().filtered)
      -- a priority tag (id 0) belongs to the port's own VLAN; it leaves the access port untagged
      a:send(tagged(frame(a.mac, nil, "prio"), 0, 5))
      got, vids = drain(b)
      assert.same({ "prio" }, got)
      assert.same({ 0 }, vids)
      local ports = v:switch_info().ports
      assert.same({ mode = "access", vid = 20 }, ports.c)
    end)
  end)

  it("carries tagged ids on a trunk and its native id untagged", function()
    lemu.run(function()
      local v = lemu.vlan("sw-trunk", { switch = true })
      local a, c, t = v:endpoint { name = "a" }, v:endpoint { name = "c" }, v:endpoint { name = "t" }
      v:access(a, 10)
      v:access(c, 20)
      v:trunk(t, { 10, 20 })
      a:send(frame(a.mac, nil, "from-10"))
      c:send(frame(c.mac, nil, "from-20"))
      local got, vids = drain(t)
      assert.same({ "from-10", "from-20" }, got)
      assert.same({ 10, 20 }, vids)
      t:send(tagged(frame(t.mac, nil, "to-20"), 20))
      assert.same({ "to-20" }, drain(c))
      assert.same({}, drain(a))
      t:send(tagged(frame(t.mac, nil, "to-30"), 30))         -- an id the trunk does not carry
      t:send(frame(t.mac, nil, "untagged"))                  -- no native id: dropped
      assert.same({}, drain(a))
      assert.same({}, drain(c))
      assert.equal(2, v:switch_info().filtered)
      -- with native 10 the trunk's untagged frames are id 10, and id 10 leaves it untagged
      v:trunk(t, { 20 }, { native = 10 })
      t:send(frame(t.mac, nil, "native"))
      assert.same({ "native" }, drain(a))
      a:send(frame(a.mac, nil, "back"))
      got, vids = drain(t)
      assert.same({ "back" }, got)
      assert.same({ 0 }, vids)
      -- the same address on two ids is two entries
      t:send(tagged(frame(t.mac, nil, "on-20"), 20))
      drain(c)
      local n = 0
      for _, e in ipairs(v:fdb()) do if e.mac == t.mac then n = n + 1 end end
      assert.equal(2, n)
      assert.same({ mode = "trunk", native = 10, vids = { 20 } }, v:switch_info().ports.t)
    end)
  end)

  it("keeps two tagged VLANs apart on a trunk between two switches", function()
    lemu.run(function()
      local s1 = lemu.vlan("sw-one", { switch = true })
      local s2 = lemu.vlan("sw-two", { switch = true })
      local l = s1:socket { listen = "127.0.0.1:0" }
      local k = s2:socket { connect = l:local_addr() }
      k:wait { timeout = 5000 }
      l:wait { timeout = 5000 }
      local function sock_port(v)
        for _, p in ipairs(v:ports()) do if p.kind == "socket" then return p.name end end
      end
      s1:trunk(sock_port(s1), { 10, 20 })
      s2:trunk(sock_port(s2), { 10, 20 })
      local a1, b1 = s1:endpoint(), s1:endpoint()
      local a2, b2 = s2:endpoint(), s2:endpoint()
      s1:access(a1, 10); s1:access(b1, 20)
      s2:access(a2, 10); s2:access(b2, 20)
      a1:send(frame(a1.mac, nil, "red"))
      b1:send(frame(b1.mac, nil, "blue"))
      local function wait_for(ep, n)
        local deadline = lemu.now() + 3000
        while ep:pending() < n and lemu.now() < deadline do lemu.sleep(5) end
        lemu.sleep(50)                                      -- and nothing more comes
      end
      wait_for(a2, 1)
      wait_for(b2, 1)
      assert.same({ "red" }, drain(a2))
      assert.same({ "blue" }, drain(b2))
      -- unicast back across the trunk reaches only the learned station
      a2:send(frame(a2.mac, a1.mac, "red-back"))
      wait_for(a1, 1)
      assert.same({ "red-back" }, drain(a1))
      assert.same({}, drain(b1))
      k:close()
      l:close()
    end)
  end)

  it("refuses what is wrong by name", function()
    local hub = lemu.vlan "sw-hub"
    local ep = hub:endpoint()
    local function fails(fn, pattern)
      local ok, err = pcall(fn)
      assert.is_false(ok)
      assert.matches(pattern, err)
    end
    fails(function() hub:access(ep, 10) end, "VLAN sw%-hub is a hub")
    fails(function() lemu.vlan("sw-hub", { switch = true }) end, "exists already as a hub")
    fails(function() lemu.vlan("sw-x", { switch = true, ageing = 0 }) end, "ageing=0")
    fails(function() lemu.vlan("sw-y", { swtich = true }) end, "unknown option 'swtich'")
    fails(function() lemu.vlan("sw-hub\0b") end, "cannot hold a NUL byte")
    fails(function() lemu.vlan("") end, "1 to 47 characters")
    fails(function() lemu.vlan(-1) end, "must be >= 0")
    local sw = lemu.vlan("sw-bad", { switch = true })
    local e = sw:endpoint()
    fails(function() sw:access(e, 0) end, "VLAN id 0 is out of 1..4094")
    fails(function() sw:access(e, 4095) end, "4095 is out of 1..4094")
    fails(function() sw:trunk(e, {}) end, "give the VLAN ids")
    fails(function() sw:trunk(e, { 10 }, { nativ = 1 }) end, "unknown option 'nativ'")
    fails(function() sw:access("nobody", 5) end, "no port 'nobody' on VLAN sw%-bad")
  end)

  it("gives a guest on a trunk its lease on a VLAN interface, and a guest on an access port no tags", function()
    if not G.available() then return pending("guest/images is not in this tree") end
    lemu.run(function()
      local v = lemu.vlan("sw-guest", { switch = true })
      v:user {}
      local m, nic = G.boot { vlan = v, name = "trunked" }
      v:trunk(nic, { 10 })
      v:access("user", 10)
      local out, st = G.run(m, "ip link add link eth0 name eth0.10 type vlan id 10 && ip link set eth0 up && "
        .. "ip link set eth0.10 up && udhcpc -i eth0.10 -t 5 -T 1", 30000)
      assert.equal(0, st, out)
      assert.matches("lease of 10%.0%.2%.15 obtained from 10%.0%.2%.2", out)
      out, st = G.run(m, "ping -c 2 10.0.2.2", 20000)
      assert.equal(0, st, out)
      -- a second guest on an access port of id 10 reaches the first one's VLAN interface untagged
      local m2, nic2 = G.boot { vlan = v, name = "access", mac = "52:54:00:aa:10:02" }
      v:access(nic2, 10)
      local into, tagged = 0, 0
      local tap = v:tap(function(f, dir)
        if dir == "rx" then
          into = into + 1
          if f:byte(13) == 0x81 and f:byte(14) == 0 then tagged = tagged + 1 end
        end
      end, { port = nic2.name })
      out, st = G.run(m2, "ip link set eth0 up && ip addr add 10.0.2.30/24 dev eth0 && ping -c 2 -W 3 10.0.2.15", 20000)
      assert.equal(0, st, out)
      assert.matches("2 packets transmitted, 2 packets received", out)
      tap:close()
      assert.is_true(into >= 2)
      assert.equal(0, tagged)
    end)
  end)
end)
