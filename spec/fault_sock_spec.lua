-- Injected faults on socket links: a peer killed in the middle of a frame, and a listener that goes
-- away and comes back. What a user sees: the frames accepted before the fault arrive, nothing torn
-- enters the VLAN, the drop says why, other peers keep going, and a connector with reconnect=
-- finds the listener again by itself.
local lemu = require "lemu"
local P = require "lemu.packet"
local H = require "helper"

local fixture = "spec/fixtures/sockpeer.lua"
local PING_TYPE = "\136\181"
local BAD_SRC = "\2\0\0\0\0\153"   -- 02:00:00:00:00:99, the hostile peer's frames

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

local function until_true(what, timeout, cond)
  lemu.wait(what, { timeout = timeout }, function(wake)
    local t = lemu.every(10, function() if cond() then wake() end end)
    return function() t:close() end
  end)
end

-- One PING broadcast answered by the named peer (sockpeer's endpoint), within timeout ms.
local function pong(ep, name, timeout)
  local deadline = lemu.now() + (timeout or 5000)
  while lemu.now() < deadline do
    ep:send(string.rep("\255", 6) .. P.mac_bytes(ep.mac) .. PING_TYPE .. "PING" .. string.rep("\0", 42))
    local ok = pcall(ep.recv, ep, { timeout = 100, match = function(f) return f:sub(15, 19 + #name) == "PONG " .. name end })
    if ok then return true end
  end
  error("no PONG from " .. name, 2)
end

local function octal(s) return (s:gsub(".", function(c) return ("\\%03o"):format(c:byte()) end)) end
local function wire(frame) return string.pack(">I4", #frame) .. frame end

-- A port nothing listens on now: the kernel's pick for a listener of our own, released. (A random
-- port could be the local port of some connection on a busy host, and the peer's listen fail.)
local function free_port()
  local l = lemu.tcp_listen("127.0.0.1", 0)
  local _, port = l:address()
  l:close()
  return port
end

describe("fault: socket links", function()
  after_each(function() lemu.closeall() end)

  it("a peer killed mid-frame: its whole frame arrives, the half one never, the drop says so, others go on", function()
    if not H.have("bash") then return pending("needs bash for /dev/tcp") end
    lemu.run(function()
      local v = lemu.vlan "mid"
      local l = v:socket { listen = "127.0.0.1:0" }
      local ep = v:endpoint {}
      local good = peer("socket", ("{ connect = %q }"):format(l:local_addr()), "B")
      l:wait { timeout = 5000 }
      pong(ep, "B")
      local full = string.rep("\255", 6) .. BAD_SRC .. PING_TYPE .. "FULL" .. string.rep("\0", 42)
      local half = wire(string.rep("\255", 6) .. BAD_SRC .. PING_TYPE .. "HALF" .. string.rep("\0", 42)):sub(1, 34)
      -- The peer writes a whole frame and half the next in one write, never reads what the VLAN
      -- floods to it (so its death resets the connection), and waits to be killed.
      local port = l:local_addr():match(":(%d+)$")
      local bad = lemu.process({ "bash", "-c", ("exec 3<>/dev/tcp/127.0.0.1/%s; printf '%s' >&3; exec sleep 30")
        :format(port, octal(wire(full) .. half)) }, { quiet = true })
      local f = ep:recv { timeout = 5000, match = function(x) return x:sub(7, 12) == BAD_SRC end }
      assert.equal("FULL", f:sub(15, 18))
      pong(ep, "B")   -- B's answer came after the whole frame was read, and the half with it
      bad:kill(9)
      until_true("the killed peer to be dropped", 5000, function() return l:info().dropped >= 1 end)
      -- the reset is seen by a read or by a write of what the VLAN floods to it, whichever first;
      -- the reason names the half frame either way
      assert.matches("middle of a frame.-34 bytes pending", l:info().last_drop)
      -- nothing of the half frame reached the VLAN; B is still connected and answers
      assert.has_error(function()
        ep:recv { timeout = 200, match = function(x) return x:sub(7, 12) == BAD_SRC end }
      end)
      assert.equal(1, l:connected())
      pong(ep, "B")
      stop { good, bad }
    end)
  end)

  it("the same from a peer that closes cleanly after half a frame (EOF, not a reset)", function()
    lemu.run(function()
      local v = lemu.vlan "eof"
      local l = v:socket { listen = "127.0.0.1:0" }
      local ep = v:endpoint {}
      local host, port = l:local_addr():match("^(.*):(%d+)$")
      local s = lemu.tcp_connect(host, tonumber(port), { timeout = 3000 })
      local full = string.rep("\255", 6) .. BAD_SRC .. PING_TYPE .. "FULL" .. string.rep("\0", 42)
      s:write(wire(full) .. wire(full):sub(1, 20))
      s:drain { timeout = 3000 }
      ep:recv { timeout = 3000, match = function(x) return x:sub(7, 12) == BAD_SRC end }
      s:close()
      until_true("the peer to be dropped", 3000, function() return l:info().dropped >= 1 end)
      assert.matches("closed in the middle of a frame %(20 bytes pending%)", l:info().last_drop)
      assert.equal(0, l:connected())
      assert.equal(1, l:info().connections)
    end)
  end)

  it("a listener that restarts: the connector reconnects by itself and traffic flows again", function()
    lemu.run(function()
      local port = free_port()
      local addr = "127.0.0.1:" .. port
      local opts = ("{ listen = %q }"):format(addr)
      local a = peer("socket", opts, "A", "user")
      local v = lemu.vlan "restart"
      local c = v:socket { connect = addr, reconnect = 0.05 }
      local ep = v:endpoint {}
      c:wait { timeout = 5000 }
      pong(ep, "A")
      local l1 = ep:host {}:dhcp { timeout = 5000 }
      assert.equal("10.0.2.2", l1.server)
      stop { a }
      until_true("the connector to see the listener gone", 3000, function() return c:connected() == 0 end)
      assert.matches("closed by the peer", c:info().last_drop)
      -- while it is gone its port's link is down: the VLAN's other ports go on, and a few
      -- reconnect attempts fail meanwhile without a word beyond the first
      local other = v:endpoint {}
      ep:send(string.rep("\255", 6) .. P.mac_bytes(ep.mac) .. PING_TYPE .. "LOCAL" .. string.rep("\0", 41))
      assert.equal("LOCAL", other:recv { timeout = 1000 }:sub(15, 19))
      local link
      for _, x in ipairs(v:ports()) do if x.kind == "socket" then link = x.link end end
      assert.is_false(link)
      lemu.sleep(200)
      assert.equal(0, c:connected())
      other:close()
      -- the listener comes back on the same address: the connector finds it without being told
      local a2 = peer("socket", opts, "A2", "user")
      c:wait { timeout = 5000 }
      pong(ep, "A2")
      local l2 = ep:host {}:dhcp { timeout = 5000 }
      assert.equal("10.0.2.2", l2.server)
      assert.is_true(c:info().connections >= 2)
      stop { a2 }
    end)
  end)
end)
