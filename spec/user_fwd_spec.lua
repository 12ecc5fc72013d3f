-- User-mode networking, forwarding: hostfwd (TCP and UDP, at start and at run time), guest
-- connections to the host address, restrict=on, guestfwd to a Lua function, a command and a host
-- address. Guests are scripted endpoints running lemu.host (ep:host: ARP, DHCP, a real small TCP);
-- host sides use lemu's own sockets (lemu.tcp_listen / tcp_connect / udp) on 127.0.0.1.
local lemu = require "lemu"
local P = require "lemu.packet"

local DNS = { ["server.test"] = "10.0.2.2" }

-- A free TCP (or UDP) port on 127.0.0.1, found by binding port 0.
local function free_port(udp)
  local s = udp and lemu.udp("127.0.0.1", 0) or lemu.tcp_listen("127.0.0.1", 0)
  local _, port = s:address()
  s:close()
  return port
end

local function guest(vname, opts)
  local v = lemu.vlan(vname)
  opts.dns_hosts = DNS
  local u = v:user(opts)
  local g = v:endpoint { mac = "52:54:00:12:34:56" }:host()
  g:dhcp()
  return u, g, v
end

describe("hostfwd", function()
  after_each(function() lemu.closeall() end)

  it("TCP: a host client on 127.0.0.1 reaches the guest as a SYN to 10.0.2.15:port and they talk", function()
    lemu.run(function()
      local hp = free_port()
      local u, g, v = guest("fwd1", { hostfwd = { "tcp::" .. hp .. "-:8080" } })
      local syns = {}
      v:tap(function(f)
        local r = P.parse(f)
        if r.tcp and r.tcp.flag_str == "S" then syns[#syns + 1] = r end
      end)
      local l = g:tcp_listen(8080)
      local client
      local t = lemu.spawn(function()
        client = lemu.tcp_connect("127.0.0.1", hp)
        client:write("GET / HTTP/1.0\r\n\r\n")
        return client:read_until("hello guest")
      end)
      local c = l:accept { timeout = 3000 }
      assert.equal(1, #syns)
      assert.equal("10.0.2.15", syns[1].ipv4.dst)
      assert.equal(8080, syns[1].tcp.dport)
      assert.equal("10.0.2.2", syns[1].ipv4.src)
      assert.equal("GET / HTTP/1.0\r\n\r\n", c:recv { timeout = 3000 })
      c:send("HTTP/1.0 200 OK\r\n\r\nhello guest")
      assert.equal("HTTP/1.0 200 OK\r\n\r\nhello guest", lemu.join(t))
      local conns = u:info().connections
      local found
      for _, k in ipairs(conns) do
        if k.proto == "TCP" and k.dst_port == 8080 and k.dst_addr == "10.0.2.15" then found = k end
      end
      assert.is_truthy(found, "the connection is listed in user:info().connections")
      local text = tostring(u:info())
      assert.matches(("hostfwd tcp 127.0.0.1:%d -> 10.0.2.15:8080"):format(hp), text, 1, true)
      assert.matches("TCP[ESTABLISHED]", text, 1, true)
      c:close { timeout = 3000 }
      assert.is_nil(client:read { timeout = 2000 })
    end)
  end)

  it("UDP: a datagram to the host port reaches the guest and the reply comes back", function()
    lemu.run(function()
      local hp = free_port(true)
      local _, g = guest("fwd2", { hostfwd = "udp:127.0.0.1:" .. hp .. "-10.0.2.15:5353" })
      local host = lemu.udp("127.0.0.1", 0)
      host:sendto("ping?", "127.0.0.1", hp)
      local data, src, sport = g:udp_recv { port = 5353, timeout = 3000 }
      assert.equal("ping?", data)
      g:udp_send { dst = src, sport = 5353, dport = sport, payload = "pong!" }
      local reply, from, port = host:recvfrom { timeout = 2000 }
      assert.equal("pong!", reply)
      assert.equal("127.0.0.1", from)
      assert.equal(hp, port)
    end)
  end)

  it("rules added and removed at run time take effect", function()
    lemu.run(function()
      local hp = free_port()
      local u, g = guest("fwd3", {})
      assert.has_error(function() lemu.tcp_connect("127.0.0.1", hp, { timeout = 2000 }) end)
      local f = u:hostfwd_add("tcp:127.0.0.1:" .. hp .. "-:22")
      assert.equal(hp, f.host_port)
      assert.equal("10.0.2.15", f.guest_addr)
      assert.equal(1, #u:info().forwards)
      local l = g:tcp_listen(22)
      local t = lemu.spawn(function() return lemu.tcp_connect("127.0.0.1", hp) end)
      local c = l:accept { timeout = 3000 }
      local s = lemu.join(t)
      s:write("x")
      assert.equal("x", c:recv { timeout = 3000 })
      u:hostfwd_remove("tcp:127.0.0.1:" .. hp)
      assert.equal(0, #u:info().forwards)
      assert.has_error(function() lemu.tcp_connect("127.0.0.1", hp, { timeout = 2000 }) end)
    end)
  end)
end)

describe("hostfwd from a Unix-domain socket", function()
  after_each(function() lemu.closeall() end)

  it("unix:PATH-:port forwards connections to the socket and removes it", function()
    local H = require "helper"
    local dir = H.tmpdir()
    local path = dir .. "/vm-ssh.sock"
    lemu.run(function()
      local u, g = guest("ufwd", { hostfwd = "unix:" .. path .. "-:22" })
      assert.equal(0, select(2, H.sh("test -S " .. H.quote(path))))
      local f = u:info().forwards[1]
      assert.equal("unix", f.proto)
      assert.equal(path, f.host_path)
      local l = g:tcp_listen(22)
      local t = lemu.spawn(function() return lemu.unix_connect(path) end)
      local c = l:accept { timeout = 3000 }
      local s = lemu.join(t)
      s:write("over unix")
      assert.equal("over unix", c:recv { timeout = 3000 })
      c:send("back")
      assert.equal("back", s:read { timeout = 2000 })
      u:hostfwd_remove("unix:" .. path)
      assert.equal(1, select(2, H.sh("test -e " .. H.quote(path))))
      assert.equal(0, #u:info().forwards)
    end)
    H.sh("rm -rf " .. H.quote(dir))
  end)
end)

describe("guest connections to the host", function()
  after_each(function() lemu.closeall() end)

  it("a connection to 10.0.2.2:PORT reaches a host listener on 127.0.0.1:PORT", function()
    lemu.run(function()
      local hp = free_port()
      local l = lemu.tcp_listen("127.0.0.1", hp)
      local _, g = guest("host1", {})
      local c = g:tcp_connect("10.0.2.2", hp, { timeout = 3000 })
      local s = l:accept { timeout = 2000 }
      c:send("from the guest")
      assert.equal("from the guest", s:read { timeout = 2000 })
      s:write("from the host")
      assert.equal("from the host", c:recv { timeout = 3000 })
      c:close { timeout = 3000 }
      assert.is_nil(s:read { timeout = 2000 })
    end)
  end)

  it("restrict=on refuses it, while hostfwd still works", function()
    lemu.run(function()
      local hp, fp = free_port(), free_port()
      local l = lemu.tcp_listen("127.0.0.1", hp)
      local accepted = false
      lemu.spawn(function() l:accept { timeout = false } accepted = true end)
      local u, g = guest("host2", { restrict = "on", hostfwd = { "tcp::" .. fp .. "-:80" } })
      assert.is_true(u:info().config.restrict)
      local ok, why = pcall(g.tcp_connect, g, "10.0.2.2", hp, { timeout = 3000 })
      assert.is_false(ok)
      assert.matches("tcp_connect 10.0.2.2:%d+: connection reset", why)
      lemu.sleep(50)
      assert.is_false(accepted)
      local gl = g:tcp_listen(80)
      local t = lemu.spawn(function() return lemu.tcp_connect("127.0.0.1", fp) end)
      local gc = gl:accept { timeout = 3000 }
      local s = lemu.join(t)
      gc:send("still forwarded")
      assert.equal("still forwarded", s:read { timeout = 2000 })
    end)
  end)
end)

describe("guestfwd", function()
  after_each(function() lemu.closeall() end)

  it("hands each guest connection to a Lua function as a stream", function()
    lemu.run(function()
      local u, g = guest("gfwd1", {})
      u:guestfwd_add("tcp:10.0.2.100:7000", function(s)
        local line = s:read_until("\n")
        s:write("echo: " .. line)
        s:shutdown()
      end)
      local c = g:tcp_connect("10.0.2.100", 7000, { timeout = 3000 })
      c:send("hi there\n")
      assert.equal("echo: hi there\n", c:read_all { timeout = 3000 })
      assert.equal("guestfwd", u:info().forwards[1].kind)
    end)
  end)

  it("runs a command per connection with cmd:", function()
    lemu.run(function()
      local _, g = guest("gfwd2", { guestfwd = { "tcp:10.0.2.101:7001-cmd:echo from-a-command" } })
      local c = g:tcp_connect("10.0.2.101", 7001, { timeout = 3000 })
      assert.equal("from-a-command\n", c:read_all { timeout = 5000 })
    end)
  end)

  it("relays to a host address", function()
    lemu.run(function()
      local hp = free_port()
      lemu.tcp_listen("127.0.0.1", hp, function(s) s:write("banner from host\n") end)
      local _, g = guest("gfwd3", { guestfwd = "tcp:10.0.2.102:25-tcp:127.0.0.1:" .. hp })
      local c = g:tcp_connect("10.0.2.102", 25, { timeout = 3000 })
      assert.equal("banner from host\n", c:recv { timeout = 3000 })
    end)
  end)
end)
