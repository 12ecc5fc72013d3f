-- Host helpers on endpoints: ARP and echo answered, ping, UDP, a real (small) TCP, and the DHCP and
-- TFTP clients against servers scripted here with the packet library.
local lemu = require "lemu"
local P = require "lemu.packet"

describe("ep:host", function()
  after_each(function() lemu.closeall() end)

  local function pair(name)
    local v = lemu.vlan(name)
    local a, b = v:endpoint { name = "a" }, v:endpoint { name = "b" }
    return v, a:host { ip = "10.0.2.15", gw = "10.0.2.2" }, b:host { ip = "10.0.2.2" }, a, b
  end

  it("answers ARP for its address and learns from the reply", function()
    lemu.run(function()
      local v, _, _, a = pair("host-arp")
      local probe = v:endpoint { name = "probe" }
      probe:send(P.build { eth = { src = probe.mac }, arp = { op = "request", sha = probe.mac, spa = "10.0.2.99", tpa = "10.0.2.15" } })
      local r = P.parse(probe:recv { timeout = 200, match = function(f) return P.parse(f).arp ~= nil end })
      assert.same({ "reply", a.mac, "10.0.2.15", probe.mac }, { r.arp.op_name, r.arp.sha, r.arp.spa, r.arp.tha })
      assert.equal(0, a:pending())  -- the request was handled, not left queued
    end)
  end)

  it("pings: ARP, echo request, echo reply, and a round-trip time", function()
    lemu.run(function()
      local _, ha, hb = pair("host-ping")
      local rtt = ha:ping("10.0.2.2", { timeout = 500 })
      assert.is_true(rtt >= 0 and rtt < 500)
      assert.is_number(hb:ping("10.0.2.15"))
      assert.has_error(function() ha:ping("10.0.2.77", { timeout = 50 }) end,
        "timed out after 50 ms waiting for an ARP reply from 10.0.2.77")
      assert.has_error(function() hb:ping("192.168.1.1") end,
        "no route to 192.168.1.1: it is off the local network and the host has no gateway")
    end)
  end)

  it("sends and receives UDP", function()
    lemu.run(function()
      local _, ha, hb = pair("host-udp")
      local sport = ha:udp_send { dst = "10.0.2.2", dport = 7000, payload = "ping!" }
      local data, src, port = hb:udp_recv { port = 7000, timeout = 200 }
      assert.same({ "ping!", "10.0.2.15", sport }, { data, src, port })
    end)
  end)

  it("opens, uses and closes a TCP connection with real sequence numbers", function()
    lemu.run(function()
      local v, ha, hb = pair("host-tcp")
      local segs = {}
      v:tap(function(f) local r = P.parse(f) if r.tcp then segs[#segs + 1] = r.tcp end end)
      local l = hb:tcp_listen(8080)
      local big = ("0123456789abcdef"):rep(16 * 1024)   -- 256 KiB, several windows
      local server = lemu.spawn(function()
        local c = l:accept { timeout = 1000 }
        local req = c:recv { timeout = 1000 }
        c:send("you said " .. req .. "\n" .. big)
        c:close { timeout = 1000 }
        return c:info()
      end)
      local c = ha:tcp_connect("10.0.2.2", 8080, { timeout = 1000 })
      assert.equal("ESTABLISHED", c.state)
      c:send("hello")
      local got = c:read_all { timeout = 2000 }
      assert.equal("you said hello\n" .. big, got)
      c:close { timeout = 1000 }
      local sinfo = lemu.join(server)
      assert.equal("CLOSED", c:info().state)
      assert.equal(#got, sinfo.bytes_out)
      -- the handshake as a peer sees it: SYN, SYN-ACK acknowledging ISN+1, ACK
      assert.equal("S", segs[1].flag_str)
      assert.equal("SA", segs[2].flag_str)
      assert.equal((segs[1].seq + 1) & 0xffffffff, segs[2].ack)
      assert.equal((segs[2].seq + 1) & 0xffffffff, segs[3].ack)
      for _, s in ipairs(segs) do assert.is_true(#s.payload <= 1460) end
      -- both sides forgot the closed connection: the same four-tuple opens again
      lemu.spawn(function() local c2 = l:accept { timeout = 1000 } c2:send("again") c2:close() end)
      local c2 = ha:tcp_connect("10.0.2.2", 8080, { sport = c.lport, timeout = 1000 })
      assert.equal("again", c2:read_all { timeout = 1000 })
      c2:close()
    end)
  end)

  it("reports a reset and a refused connection", function()
    lemu.run(function()
      local v, ha = pair("host-rst")
      local peer = v:endpoint { name = "peer" }
      local hp = peer:host { ip = "10.0.2.2" }
      peer:_set_handler(function(f)
        local r = P.parse(f)
        if r.arp then return hp:_handle(f) end
        if r.tcp and r.tcp.syn then   -- answer every SYN with RST, as a closed port does
          peer:send(P.build { eth = { src = peer.mac, dst = r.eth.src }, ipv4 = { src = "10.0.2.2", dst = r.ipv4.src },
            tcp = { sport = r.tcp.dport, dport = r.tcp.sport, seq = 0, ack = (r.tcp.seq + 1) & 0xffffffff, flags = "RA" } })
          return true
        end
      end)
      assert.has_error(function() ha:tcp_connect("10.0.2.2", 9, { timeout = 500 }) end,
        "tcp_connect 10.0.2.2:9: connection reset by peer")
    end)
  end)

  it("leases an address with DHCP from a scripted server", function()
    lemu.run(function()
      local v = lemu.vlan("host-dhcp")
      local client = v:endpoint()
      local server = v:endpoint { mac = "52:55:0a:00:02:02" }
      local seen = {}
      lemu.spawn(function()
        for _ = 1, 2 do
          local r = P.parse(server:recv { timeout = 1000, match = function(f) return P.parse(f).dhcp ~= nil end })
          seen[#seen + 1] = r.dhcp.msgtype
          local reply = r.dhcp.msgtype == "discover" and "offer" or "ack"
          server:send(P.build { eth = { src = server.mac, dst = P.broadcast },
            ipv4 = { src = "10.0.2.2", dst = "255.255.255.255" }, udp = { sport = 67, dport = 68 },
            dhcp = { xid = r.dhcp.xid, chaddr = r.dhcp.chaddr, yiaddr = "10.0.2.15", siaddr = "10.0.2.2", file = "boot.img",
              options = { msgtype = reply, server_id = "10.0.2.2", lease_time = 86400, subnet_mask = "255.255.255.0",
                          router = "10.0.2.2", dns = "10.0.2.3" } } })
        end
      end)
      local h = client:host()
      local lease = h:dhcp { timeout = 1000 }
      assert.same({ "discover", "request" }, seen)
      assert.same({ "10.0.2.15", "10.0.2.2", "10.0.2.3", 86400, "10.0.2.2", "255.255.255.0", "boot.img" },
        { lease.address, lease.router, lease.dns, lease.lease_time, lease.server, lease.mask, lease.bootfile })
      assert.equal("10.0.2.15", h.ip)
      assert.equal("10.0.2.2", h.gw)
    end)
  end)

  it("reads a file over TFTP from a scripted server, byte-identical", function()
    lemu.run(function()
      local v = lemu.vlan("host-tftp")
      local client, server = v:endpoint(), v:endpoint()
      local hc = client:host { ip = "10.0.2.15" }
      local hs = server:host { ip = "10.0.2.2" }
      local file = {}
      for i = 1, 1024 do file[i] = string.char(i % 251) end
      file = table.concat(file):rep(3)   -- 3072 bytes: six full blocks, then an empty one
      lemu.spawn(function()
        local f = P.parse(server:recv { timeout = 1000, match = function(x) local r = P.parse(x) return r.udp and r.udp.dport == 69 end })
        assert.equal("rrq", f.tftp.op)
        assert.equal("boot.img", f.tftp.filename)
        local peer, tid = f.ipv4.src, 3000
        for block = 1, #file // 512 + 1 do
          hs:udp_send { dst = peer, dport = f.udp.sport, sport = tid,
            payload = P.tftp { op = "data", block = block, data = file:sub((block - 1) * 512 + 1, block * 512) } }
          local ack = P.parse_tftp((hs:udp_recv { port = tid, timeout = 1000 }))
          assert.same({ "ack", block }, { ack.op, ack.block })
        end
      end)
      assert.equal(file, hc:tftp_get("10.0.2.2", "boot.img", { timeout = 1000 }))
    end)
  end)

  it("IPv6: answers neighbour solicitations, pings, and configures itself from a router advertisement", function()
    lemu.run(function()
      local v = lemu.vlan("host-v6")
      local a, b, r = v:endpoint(), v:endpoint(), v:endpoint { mac = "52:55:0a:00:02:02" }
      local ha, hb = a:host { ip6 = "fd00::15" }, b:host { ip6 = "fd00::16" }
      assert.matches("^fe80::5054:ff:fe", ha:link_local())
      assert.is_number(ha:ping6("fd00::16", { timeout = 500 }))
      assert.equal(b.mac, ha.nd_cache["fd00::16"])
      assert.is_number(hb:ping6(ha:link_local(), { timeout = 500 }))
      -- a scripted router answers the solicitation
      lemu.spawn(function()
        local rs = P.parse(r:recv { timeout = 1000, match = function(f) local x = P.parse(f) return x.icmpv6 and x.icmpv6.type == 133 end })
        r:send(P.build { eth = { src = r.mac, dst = rs.eth.src }, ipv6 = { src = "fe80::2", dst = "ff02::1", hlim = 255 },
          icmpv6 = { type = "ra", lifetime = 1800, src_lladdr = r.mac, rdnss = { "fd00::3" },
                     prefixes = { { prefix = "fec0::", len = 64 } } } })
      end)
      local cfg = ha:slaac { timeout = 1000 }
      assert.equal("fec0::5054:ff:fe12:" .. a.mac:sub(13, 14) .. a.mac:sub(16, 17), cfg.address)
      assert.same({ "fe80::2", r.mac, { "fd00::3" } }, { cfg.router, cfg.router_mac, cfg.dns })
    end)
  end)

  it("refuses bad options", function()
    local v = lemu.vlan("host-bad")
    assert.has_error(function() v:endpoint():host { ip = "10.0.2.300" } end,
      'ep:host: packet: IPv4 address "10.0.2.300" is not like 10.0.2.15')
    assert.has_error(function() v:endpoint():host { addr = "1.2.3.4" } end,
      "ep:host: unknown option 'addr' (valid: ip, mask, gw, dns, ip6, arp, ping)")
    assert.has_error(function() v:endpoint():host { ip = "1.2.3.4", mask = "255.0.255.0" } end,
      "ep:host: mask=255.0.255.0: not a contiguous netmask")
  end)
end)
