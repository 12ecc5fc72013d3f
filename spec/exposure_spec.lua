-- Exposure: every listener lemu opens binds the loopback address unless the user names another.
-- QEMU binds every interface when the host part is empty (hostfwd=tcp::2222-:22, -netdev
-- socket,listen=:PORT, -monitor tcp::PORT,server); lemu does not. Each case reads the bound
-- address back from the kernel (/proc/net/tcp, /proc/net/tcp6), not from lemu's own report.
local lemu = require "lemu"
local cmdline = require "lemu.cmdline"
local H = require "helper"

-- The addresses the kernel has in LISTEN state for a TCP port, as text ("127.0.0.1", "::1", ...).
local function bound(port)
  local out = {}
  for _, f in ipairs { "/proc/net/tcp", "/proc/net/tcp6" } do
    for line in (H.read(f) or ""):gmatch("[^\n]+") do
      local a, p, st = line:match("^%s*%d+: (%x+):(%x+) %x+:%x+ (%x%x)")
      if a and tonumber(p, 16) == port and st == "0A" then
        if #a == 8 then
          local n = tonumber(a, 16)   -- little-endian on this host
          out[#out + 1] = ("%d.%d.%d.%d"):format(n & 255, (n >> 8) & 255, (n >> 16) & 255, n >> 24)
        elseif a == "00000000000000000000000001000000" then out[#out + 1] = "::1"
        elseif a == string.rep("0", 32) then out[#out + 1] = "::"
        else out[#out + 1] = a end
      end
    end
  end
  table.sort(out)
  return table.concat(out, " ")
end

-- A port nothing listens on now (taken and released by a listener of our own).
local function free_port()
  local l = lemu.tcp_listen("127.0.0.1", 0)
  local _, port = l:address()
  l:close()
  return port
end

local function port_of(addr) return tonumber(addr:match(":(%d+)$")) end

describe("exposure: listeners bind loopback unless an address is named", function()
  after_each(function() lemu.closeall() end)

  it("hostfwd with an empty host address (Lua, -netdev user, at run time)", function()
    lemu.run(function()
      local u = lemu.vlan "x1":user { hostfwd = "tcp::0-:80" }
      local f = u:hostfwd_add("tcp::0-:22")
      lemu.sleep(20)   -- slirp's sockets are watched from its next cycle; they are bound already
      assert.equal("127.0.0.1", bound(u:info().forwards[1].host_port))
      assert.equal("127.0.0.1", bound(f.host_port))
      cmdline.apply { { "netdev", "user,id=ux1,hostfwd=tcp::0-:80" } }
      assert.equal("127.0.0.1", bound(lemu.netdev("ux1").handle:info().forwards[1].host_port))
      -- IPv6 with empty brackets: ::1
      local f6 = u:hostfwd_add("tcp:[]:0-[fec0::15]:80")
      assert.equal("::1", bound(f6.host_port))
    end)
  end)

  it("a named host address is bound as named", function()
    lemu.run(function()
      local u = lemu.vlan "x2":user {}
      -- 127.0.0.2 is loopback too, so naming it exposes nothing while proving the name is used
      local f = u:hostfwd_add("tcp:127.0.0.2:0-:80")
      assert.equal("127.0.0.2", bound(f.host_port))
      local l = lemu.vlan "x2":socket { listen = "127.0.0.2:0" }
      assert.equal("127.0.0.2", bound(port_of(l:local_addr())))
      local p = free_port()
      lemu.monitor_listen("tcp:127.0.0.2:" .. p .. ",server,nowait")
      assert.equal("127.0.0.2", bound(p))
    end)
  end)

  it("-netdev socket,listen=:PORT and vlan:socket{listen=':0'}", function()
    lemu.run(function()
      local l = lemu.vlan "x3":socket { listen = ":0" }
      assert.equal("127.0.0.1", bound(port_of(l:local_addr())))
      local p = free_port()
      cmdline.apply { { "netdev", "socket,id=sx3,listen=:" .. p } }
      assert.equal("127.0.0.1", bound(p))
      p = free_port()
      cmdline.apply { { "net", "socket,vlan=33,listen=:" .. p } }
      assert.equal("127.0.0.1", bound(p))
    end)
  end)

  it("-netdev stream,server=on with no addr.host, and vlan:stream{server=true}", function()
    lemu.run(function()
      local p = free_port()
      cmdline.apply { { "netdev", "stream,id=st4,server=on,addr.type=inet,addr.port=" .. p } }
      assert.equal("127.0.0.1", bound(p))
      local s = lemu.vlan "x4":stream { server = true, addr = { type = "inet", port = 0 } }
      assert.equal("127.0.0.1", bound(port_of(s:local_addr())))
      s = lemu.vlan "x4b":stream { server = true, addr = ":0" }
      assert.equal("127.0.0.1", bound(port_of(s:local_addr())))
    end)
  end)

  it("-monitor tcp::PORT,server,nowait and lemu.monitor_listen", function()
    lemu.run(function()
      local p = free_port()
      cmdline.apply { { "monitor", "tcp::" .. p .. ",server,nowait" } }
      assert.equal("127.0.0.1", bound(p))
      p = free_port()
      lemu.monitor_listen("tcp::" .. p .. ",server,nowait")
      assert.equal("127.0.0.1", bound(p))
    end)
  end)

  it("lemu.tcp_listen needs its address named: nothing listens by default", function()
    lemu.run(function()
      assert.has_error(function() lemu.tcp_listen("", 0) end, "tcp_listen: '' is not an IP address")
      assert.has_error(function() lemu.tcp_listen(nil, 0) end)
      local l = lemu.tcp_listen("127.0.0.1", 0)
      local _, port = l:address()
      assert.equal("127.0.0.1", bound(port))
    end)
  end)
end)
