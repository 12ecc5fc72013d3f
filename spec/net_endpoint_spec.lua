-- Scripted endpoints on VLANs: who sees which frames, queues and drops, lifetimes, bad input, taps.
local lemu = require "lemu"
local P = require "lemu.packet"

local function frame(src, dst, tag)
  return P.build { eth = { src = src, dst = dst or P.broadcast }, ipv4 = { src = "10.0.0.1", dst = "10.0.0.2" },
    udp = { sport = 1, dport = 2 }, payload = tag or "x" }
end
local function tag_of(f) return P.parse(f).payload end

describe("scripted endpoints", function()
  after_each(function() lemu.closeall() end)

  it("on the same VLAN see each other's frames; on another VLAN they do not", function()
    lemu.run(function()
      local lan, other = lemu.vlan("ep-lan"), lemu.vlan("ep-other")
      local a, b, c = lan:endpoint(), lan:endpoint(), lan:endpoint()
      local d = other:endpoint()
      a:send(frame(a.mac, nil, "one"))
      assert.equal("one", tag_of(b:recv { timeout = 200 }))
      assert.equal("one", tag_of(c:recv { timeout = 200 }))
      assert.equal(0, d:pending())
      assert.has_error(function() d:recv { timeout = 30 } end,
        "timed out after 30 ms waiting for a frame on " .. d.name)
      d:send(frame(d.mac, nil, "two"))
      assert.equal(0, a:pending() + b:pending() + c:pending())
    end)
  end)

  it("never get their own frames back", function()
    lemu.run(function()
      local v = lemu.vlan("ep-echo")
      local a, b = v:endpoint(), v:endpoint()
      for i = 1, 3 do a:send(frame(a.mac, nil, "f" .. i)) end
      assert.equal(0, a:pending())
      assert.equal(3, b:pending())
      local ia = a:info()
      assert.equal(3, ia.tx.frames)
      assert.equal(0, ia.rx.frames)
      assert.equal(3, b:info().rx.frames)
      assert.equal(3, v:frames())
    end)
  end)

  it("get MACs like QEMU's, 52:54:00:12:34:56 upwards and unique, unless given one", function()
    local v = lemu.vlan("ep-mac")
    local seen = {}
    for _ = 1, 3 do
      local ep = v:endpoint()
      assert.matches("^52:54:00:%x%x:%x%x:%x%x$", ep.mac)
      assert.is_nil(seen[ep.mac])
      seen[ep.mac] = true
    end
    -- a MAC given explicitly is never handed out as a default afterwards
    local last = tonumber(v:ports()[3].name:sub(-2), 16)
    local taken = ("52:54:00:12:34:%02x"):format(last + 1)
    v:endpoint { mac = taken }
    assert.not_equal(taken, v:endpoint().mac)
    local e = v:endpoint { mac = "02:00:00:AA:bb:01", name = "mine" }
    assert.equal("02:00:00:aa:bb:01", e.mac)
    assert.equal("mine", e.name)
    assert.equal("mine", v:ports()[6].name)
  end)

  it("recv takes the first frame that matches and leaves the rest queued, in order", function()
    lemu.run(function()
      local v = lemu.vlan("ep-match")
      local a, b = v:endpoint(), v:endpoint()
      for _, t in ipairs { "a", "b", "c" } do a:send(frame(a.mac, nil, t)) end
      local got = b:recv { match = function(f) return tag_of(f) == "b" end }
      assert.equal("b", tag_of(got))
      assert.equal("a", tag_of(b:recv()))
      assert.equal("c", tag_of(b:recv()))
      -- a waiting recv is woken by the frame it matches, not by others
      lemu.after(5, function() a:send(frame(a.mac, nil, "late-x")); a:send(frame(a.mac, nil, "late-y")) end)
      assert.equal("late-y", tag_of(b:recv { timeout = 500, match = function(f) return tag_of(f) == "late-y" end }))
      assert.equal(1, b:pending())
    end)
  end)

  it("queue frames nobody takes up to their bound, then count drops", function()
    lemu.run(function()
      local v = lemu.vlan("ep-queue")
      local a = v:endpoint()
      local b = v:endpoint { queue = 4 }
      for i = 1, 10 do a:send(frame(a.mac, nil, "q" .. i)) end
      local info = b:info()
      assert.equal(4, info.queued)
      assert.equal(4, info.rx.frames)
      assert.equal(6, info.rx.drops)
      assert.equal("q1", tag_of(b:recv()))   -- the oldest are kept
      a:send(frame(a.mac, nil, "q11"))        -- room for one more
      assert.equal(4, b:pending())
      assert.equal(6, b:info().rx.drops)
      assert.equal(4, b:flush())
      assert.equal(0, b:info().queued)
    end)
  end)

  it("refuse frames shorter than an Ethernet header or longer than 65535 bytes, naming the length", function()
    local v = lemu.vlan("ep-len")
    local a = v:endpoint { name = "a" }
    assert.has_error(function() a:send(("x"):rep(13)) end,
      "endpoint a: send: a frame of 13 bytes is shorter than an Ethernet frame (14 to 65535 bytes)")
    assert.has_error(function() a:send(("x"):rep(65536)) end,
      "endpoint a: send: a frame of 65536 bytes is longer than an Ethernet frame (14 to 65535 bytes)")
    assert.is_true(a:send(("x"):rep(14)))
    assert.is_true(a:send(("x"):rep(65535)))
  end)

  it("refuse bad options with the valid ones listed", function()
    local v = lemu.vlan("ep-opts")
    assert.has_error(function() v:endpoint { mca = "x" } end, "vlan:endpoint: unknown option 'mca' (valid: mac, name, queue)")
    assert.has_error(function() v:endpoint { mac = "52:54:00:12:34" } end,
      "endpoint: mac '52:54:00:12:34' is not a MAC address like 52:54:00:12:34:56")
    assert.has_error(function() v:endpoint { mac = "01:00:5e:00:00:01" } end,
      "endpoint: mac '01:00:5e:00:00:01' is a multicast address (the first byte is odd)")
    assert.has_error(function() v:endpoint { queue = 0 } end,
      "endpoint: queue=0 must be a number of frames from 1 to 1000000")
  end)

  it("are an error to use once closed, and a recv waiting on one fails at once", function()
    lemu.run(function()
      local v = lemu.vlan("ep-close")
      local a, b = v:endpoint(), v:endpoint { name = "b" }
      lemu.after(5, function() b:close() end)
      assert.has_error(function() b:recv { timeout = 2000 } end, "endpoint b was closed while waiting for a frame on b")
      assert.has_error(function() b:send(frame(b.mac)) end, "attempt to use a closed endpoint")
      assert.has_error(function() b:recv() end, "attempt to use a closed endpoint (recv)")
      assert.has_error(function() b:info() end, "attempt to use a closed endpoint")
      assert.is_true(b:closed())
      b:close()  -- closing twice is harmless
      assert.equal(1, #v:ports())
      a:send(frame(a.mac))   -- the VLAN goes on without it
      assert.equal(1, v:frames())
    end)
  end)

  it("can close each other while a frame is being flooded", function()
    lemu.run(function()
      local v = lemu.vlan("ep-flood")
      local a = v:endpoint()
      local b, c
      b = v:endpoint()
      c = v:endpoint()
      b:_set_handler(function() c:close() return true end)  -- close c from inside delivery
      a:send(frame(a.mac))
      assert.is_true(c:closed())
      a:send(frame(a.mac))
      assert.equal(2, b:info().rx.frames)
    end)
  end)
end)

describe("vlan:info and taps", function()
  after_each(function() lemu.closeall() end)

  it("vlan:info lists ports with their counters, and prints them", function()
    local v = lemu.vlan("info-lan")
    local a = v:endpoint { name = "a" }
    v:endpoint { name = "b" }
    a:send(frame(a.mac))
    local info = v:info()
    assert.equal("info-lan", info.name)
    assert.equal(1, info.frames)
    assert.equal(2, #info.ports)
    assert.equal("endpoint", info.ports[1].kind)
    assert.equal(1, info.ports[1].tx.frames)
    assert.equal(60, info.ports[2].rx.bytes)
    local text = tostring(info)
    assert.matches("vlan info%-lan: 1 frames forwarded", text)
    assert.matches("  b %(endpoint%) rx 1 frames 60 bytes 0 drops", text)
  end)

  it("a VLAN tap sees every frame; a port tap sees both directions; closing stops them", function()
    lemu.run(function()
      local v = lemu.vlan("tap-lan")
      local a, b = v:endpoint(), v:endpoint()
      local all, at_b = {}, {}
      local t1 = v:tap(function(f) all[#all + 1] = tag_of(f) end)
      local t2 = b:tap(function(f, dir) at_b[#at_b + 1] = dir .. ":" .. tag_of(f) end)
      a:send(frame(a.mac, nil, "1"))
      b:send(frame(b.mac, nil, "2"))
      assert.same({ "1", "2" }, all)
      assert.same({ "rx:1", "tx:2" }, at_b)
      t1:close()
      t2:close()
      a:send(frame(a.mac, nil, "3"))
      assert.equal(2, #all)
      assert.equal(2, #at_b)
      assert.has_error(function() v:tap(function() end, { port = "nope" }) end, "tap: port=nope: no port of that name on VLAN tap-lan")
    end)
  end)

  it("an error in a tap surfaces from lemu.run", function()
    local v = lemu.vlan("tap-err")
    local a = v:endpoint()
    v:tap(function() error("tap went wrong") end)
    local ok, err = pcall(lemu.run, function() a:send(frame(a.mac)) lemu.sleep(1) end)
    assert.is_false(ok)
    assert.matches("tap went wrong", err)
  end)
end)
