-- User-mode networking, the guest's view: DHCP, ARP, ICMP echo to the host address, TFTP, the
-- local DNS table. Scripted endpoints stand in for guests.
local lemu = require "lemu"
local P = require "lemu.packet"
local G = require "usernet_helper"
local H = require "helper"

local DNS = { ["server.test"] = "10.0.2.2" }   -- every user net in specs answers DNS locally

describe("vlan:user DHCP", function()
  after_each(function() lemu.closeall() end)

  it("leases 10.0.2.15 with router 10.0.2.2 and DNS 10.0.2.3, then .16 to a second MAC", function()
    lemu.run(function()
      local v = lemu.vlan "dhcp1"
      local u = v:user { dns_hosts = DNS }
      local a = G.new(v, "52:54:00:12:34:56")
      local d = a:dhcp()
      assert.equal("10.0.2.15", d.yiaddr)
      assert.same({ "10.0.2.2" }, d.options.router)
      assert.same({ "10.0.2.3" }, d.options.dns)
      assert.equal("255.255.255.0", d.options.subnet_mask)
      local b = G.new(v, "52:54:00:12:34:57")
      assert.equal("10.0.2.16", b:dhcp().yiaddr)
      local leases = {}
      for _, l in ipairs(u:info().leases) do leases[l.mac] = l.ip end
      assert.same({ ["52:54:00:12:34:56"] = "10.0.2.15", ["52:54:00:12:34:57"] = "10.0.2.16" }, leases)
    end)
  end)

  it("honours net, dhcpstart, bootfile, hostname and domainname", function()
    lemu.run(function()
      local v = lemu.vlan "dhcp2"
      local u = v:user { net = "192.168.76.0/24", dhcpstart = "192.168.76.100", bootfile = "pxelinux.0",
        domainname = "lab.test", hostname = "guest1", dnssearch = { "lab.test", "corp.test" }, dns_hosts = DNS }
      local g = G.new(v)
      local d = g:dhcp()
      assert.equal("192.168.76.100", d.yiaddr)
      assert.same({ "192.168.76.2" }, d.options.router)
      assert.same({ "192.168.76.3" }, d.options.dns)
      assert.equal("pxelinux.0", d.file)
      assert.equal("lab.test", d.options.domain)
      assert.equal("guest1", d.options.hostname)
      -- option 119 (RFC 3397): both names, in DNS wire form
      assert.matches("\3lab\4test\0", d.raw[119], 1, true)
      assert.matches("\4corp", d.raw[119], 1, true)
      assert.equal("192.168.76.0/24", u:info().config.net)
      assert.equal("192.168.76.100", u:info().leases[1].ip)
    end)
  end)
end)

describe("vlan:user capture", function()
  after_each(function() lemu.closeall() end)

  it("a pcap of a DHCP exchange with slirp reads back in tshark", function()
    if not H.have("tshark") then pending("tshark is not installed (scripts/deps.sh installs it)") return end
    local dir = H.tmpdir()
    local file = dir .. "/slirp-dhcp.pcap"
    lemu.run(function()
      local v = lemu.vlan "cap1"
      local cap = v:capture { file = file }
      v:user { dns_hosts = DNS }
      G.new(v):dhcp()
      cap:close()
    end)
    local p = io.popen("tshark -r " .. H.quote(file) .. " -T fields -E separator=/t -e dhcp.option.dhcp -e dhcp.ip.your -e eth.src 2>/dev/null")
    local out = p:read("a")
    p:close()
    local rows = {}
    for line in out:gmatch("[^\n]+") do
      local t, your, src = line:match("^(%d*)\t([^\t]*)\t(.*)$")
      if t and t ~= "" then rows[#rows + 1] = { tonumber(t), your, src } end
    end
    assert.same({ 1, 2, 3, 5 }, { rows[1][1], rows[2][1], rows[3][1], rows[4][1] })  -- discover offer request ack
    assert.equal("10.0.2.15", rows[2][2])
    assert.equal("10.0.2.15", rows[4][2])
    assert.equal("52:55:0a:00:02:02", rows[4][3])
    H.sh("rm -rf " .. H.quote(dir))
  end)
end)

describe("vlan:user gateway", function()
  after_each(function() lemu.closeall() end)

  it("answers ARP for the host address and ICMP echo to it", function()
    lemu.run(function()
      local v = lemu.vlan "gw1"
      v:user { dns_hosts = DNS }
      local g = G.new(v)
      g:dhcp()
      assert.equal("52:55:0a:00:02:02", g:arp("10.0.2.2"))
      local r = g:ping("10.0.2.2", 7, "hello slirp")
      assert.equal("10.0.2.15", r.ipv4.dst)
      assert.equal("hello slirp", r.icmp.data)
      assert.is_true(r.icmp.checksum_ok ~= false)
    end)
  end)

  it("serves a file from the tftp directory byte-identical", function()
    local dir = H.tmpdir()
    local content = {}
    for i = 1, 1300 do content[#content + 1] = string.char((i * 7) % 256) end
    content = table.concat(content) .. ("x"):rep(700)   -- 2000 bytes: four 512-byte blocks
    H.write(dir .. "/boot.img", content)
    lemu.run(function()
      local v = lemu.vlan "tftp1"
      v:user { tftp = dir, dns_hosts = DNS }
      local g = G.new(v)
      g:dhcp()
      g:send { ipv4 = { src = g.ip, dst = "10.0.2.2" }, udp = { sport = 3069, dport = 69 },
        tftp = { op = "rrq", filename = "boot.img", mode = "octet" } }
      local got, block = {}, 1
      while true do
        local r = g:recv(function(r) return r.udp and r.udp.dport == 3069 end, 3000, "TFTP data")
        local t = P.parse_tftp(r.udp.payload)
        assert.equal("data", t.op)
        assert.equal(block, t.block)
        got[#got + 1] = t.data
        g:send { ipv4 = { src = g.ip, dst = "10.0.2.2" }, udp = { sport = 3069, dport = r.udp.sport },
          tftp = { op = "ack", block = block } }
        if #t.data < 512 then break end
        block = block + 1
      end
      assert.equal(content, table.concat(got))
    end)
    H.sh("rm -rf " .. H.quote(dir))
  end)
end)

describe("vlan:user dns_hosts", function()
  after_each(function() lemu.closeall() end)

  local function query(g, name, qtype, id)
    g:send { ipv4 = { src = g.ip, dst = "10.0.2.3" }, udp = { sport = 5353 + id, dport = 53 },
      dns = { id = id, rd = true, questions = { { name = name, type = qtype } } } }
    return g:recv(function(r) return r.dns and r.dns.qr and r.dns.id == id end, 2000, "a DNS answer").dns
  end

  it("answers names in the table, NXDOMAIN for others, empty AAAA for IPv4-only names", function()
    lemu.run(function()
      local v = lemu.vlan "dns1"
      local u = v:user { dns_hosts = { ["server.test"] = "10.0.2.2", ["Both.Test"] = { "10.0.2.9", "fec0::9" } } }
      local g = G.new(v)
      g:dhcp()
      local a = query(g, "server.test", "A", 1)
      assert.equal(0, a.rcode)
      assert.equal("10.0.2.2", a.answers[1].data)
      assert.is_true(a.aa)
      local nx = query(g, "elsewhere.example", "A", 2)
      assert.equal(3, nx.rcode)
      assert.equal(0, #nx.answers)
      local aaaa = query(g, "server.test", "AAAA", 3)
      assert.equal(0, aaaa.rcode)
      assert.equal(0, #aaaa.answers)
      local both = query(g, "both.test", "AAAA", 4)
      assert.equal("fec0::9", both.answers[1].data)
      local c = u:info().counters.dns
      assert.equal(4, c.queries)
      assert.equal(1, c.nxdomain)
    end)
  end)

  it("answers over IPv6 at ipv6-dns too", function()
    lemu.run(function()
      local v = lemu.vlan "dns4"
      v:user { dns_hosts = { ["v6.test"] = "fec0::42" } }
      local g = G.new(v)
      g:send { eth = { dst = "52:55:0a:00:02:02" }, ipv6 = { src = "fec0::5054:ff:fe12:3456", dst = "fec0::3" },
        udp = { sport = 5300, dport = 53 }, dns = { id = 77, rd = true, questions = { { name = "v6.test", type = "AAAA" } } } }
      local r = g:recv(function(r) return r.dns and r.dns.qr and r.dns.id == 77 end, 2000, "a DNS answer over IPv6")
      assert.equal("fec0::3", r.ipv6.src)
      assert.is_true(r.udp.checksum_ok)
      assert.equal("fec0::42", r.dns.answers[1].data)
    end)
  end)

  it("lemu.user_defaults makes the local table the default for nets that give none", function()
    local saved = lemu.user_defaults.dns_hosts
    lemu.user_defaults.dns_hosts = {}
    lemu.run(function()
      local v = lemu.vlan "dns3"
      local u = v:user {}
      local g = G.new(v)
      g:dhcp()
      assert.equal(3, query(g, "example.com", "A", 9).rcode)
      assert.equal(1, u:info().counters.dns.nxdomain)
    end)
    lemu.user_defaults.dns_hosts = saved
  end)

  it("rejects a bad table entry", function()
    local ok, err = pcall(function() lemu.vlan("dns2"):user { dns_hosts = { ["a.test"] = "not-an-ip" } } end)
    assert.is_false(ok)
    assert.matches("'not%-an%-ip' for a.test is not an IP address", err)
  end)
end)
