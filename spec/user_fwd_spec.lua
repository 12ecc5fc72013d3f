-- User-mode networking, forwarding: hostfwd (TCP and UDP, at start and at run time), guest
-- connections to the host address, restrict=on, guestfwd to a Lua function, a command and a host
-- address. Host sides use lemu's own sockets (lemu.tcp_listen / tcp_connect / udp) on 127.0.0.1.
local lemu = require "lemu"
local G = require "usernet_helper"

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
  local g = G.new(v)
  g:dhcp()
  return u, g, v
end

describe("hostfwd", function()
  after_each(function() lemu.closeall() end)

  it("TCP: a host client on 127.0.0.1 reaches the guest as a SYN to 10.0.2.15:port and they talk", function()
    lemu.run(function()
      local hp = free_port()
      local u, g = guest("fwd1", { hostfwd = { "tcp::" .. hp .. "-:8080" } })
      local client
      local t = lemu.spawn(function()
        client = lemu.tcp_connect("127.0.0.1", hp)
        client:write("GET / HTTP/1.0\r\n\r\n")
        return client:read_until("hello guest")
      end)
      local c, syn = g:tcp_accept(8080)
      assert.equal("10.0.2.15", syn.ipv4.dst)
      assert.equal("10.0.2.2", syn.ipv4.src)
      assert.equal("GET / HTTP/1.0\r\n\r\n", c:recv())
      c:send("HTTP/1.0 200 OK\r\n\r\nhello guest")
      assert.equal("HTTP/1.0 200 OK\r\n\r\nhello guest", lemu.join(t))
      local conns = u:info().connections
      local found
      for _, k in ipairs(conns) do
        if k.proto == "TCP" and k.dst_port == 8080 and k.dst_addr == "10.0.2.15" then found = k end
      end
      assert.is_truthy(found, "the connection is listed in user:info().connections")
      c:close()
      assert.is_nil(client:read { timeout = 2000 })
    end)
  end)

  it("UDP: a datagram to the host port reaches the guest and the reply comes back", function()
    lemu.run(function()
      local hp = free_port(true)
      local _, g = guest("fwd2", { hostfwd = "udp:127.0.0.1:" .. hp .. "-10.0.2.15:5353" })
      local host = lemu.udp("127.0.0.1", 0)
      host:sendto("ping?", "127.0.0.1", hp)
      local r = g:udp_recv(5353)
      assert.equal("ping?", r.udp.payload)
      g:udp_send(r.ipv4.src, 5353, r.udp.sport, "pong!")
      local data, from, port = host:recvfrom { timeout = 2000 }
      assert.equal("pong!", data)
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
      local t = lemu.spawn(function() return lemu.tcp_connect("127.0.0.1", hp) end)
      local c = g:tcp_accept(22)
      local s = lemu.join(t)
      s:write("x")
      assert.equal("x", c:recv())
      u:hostfwd_remove("tcp:127.0.0.1:" .. hp)
      assert.equal(0, #u:info().forwards)
      assert.has_error(function() lemu.tcp_connect("127.0.0.1", hp, { timeout = 2000 }) end)
    end)
  end)
end)

describe("guest connections to the host", function()
  after_each(function() lemu.closeall() end)

  it("a connection to 10.0.2.2:PORT reaches a host listener on 127.0.0.1:PORT", function()
    lemu.run(function()
      local hp = free_port()
      local l = lemu.tcp_listen("127.0.0.1", hp)
      local _, g = guest("host1", {})
      local c = assert(g:tcp_connect("10.0.2.2", hp))
      local s = l:accept { timeout = 2000 }
      c:send("from the guest")
      assert.equal("from the guest", s:read { timeout = 2000 })
      s:write("from the host")
      assert.equal("from the host", c:recv())
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
      local c, why = g:tcp_connect("10.0.2.2", hp)
      assert.is_nil(c)
      assert.equal("reset", why)
      lemu.sleep(50)
      assert.is_false(accepted)
      local t = lemu.spawn(function() return lemu.tcp_connect("127.0.0.1", fp) end)
      local gc = g:tcp_accept(80)
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
      local c = assert(g:tcp_connect("10.0.2.100", 7000))
      c:send("hi there\n")
      assert.equal("echo: hi there\n", c:recv())
      assert.equal("guestfwd", u:info().forwards[1].kind)
    end)
  end)

  it("runs a command per connection with cmd:", function()
    lemu.run(function()
      local _, g = guest("gfwd2", { guestfwd = { "tcp:10.0.2.101:7001-cmd:echo from-a-command" } })
      local c = assert(g:tcp_connect("10.0.2.101", 7001))
      assert.equal("from-a-command\n", c:recv(5000))
    end)
  end)

  it("relays to a host address", function()
    lemu.run(function()
      local hp = free_port()
      lemu.tcp_listen("127.0.0.1", hp, function(s) s:write("banner from host\n") end)
      local _, g = guest("gfwd3", { guestfwd = "tcp:10.0.2.102:25-tcp:127.0.0.1:" .. hp })
      local c = assert(g:tcp_connect("10.0.2.102", 25))
      assert.equal("banner from host\n", c:recv())
    end)
  end)
end)
