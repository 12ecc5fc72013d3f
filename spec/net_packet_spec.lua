-- The packet library: frames built by lemu.packet match reference bytes built independently (Python's
-- struct and its own checksum, spec/data/known_frames.py), parse back to what was built, and bad
-- input gives clear errors.
require "lemu"
local P = require "lemu.packet"
local H = require "helper"

local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
local function unhex(h) return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end)) end

local known
local function ref(name)
  if not known then
    if not H.have("python3") then return nil end
    local out, status = H.sh("python3 spec/data/known_frames.py")
    assert(status == 0, out)
    known = {}
    for k, v in out:gmatch("(%S+) (%x+)") do known[k] = unhex(v) end
  end
  return assert(known[name], "no reference frame " .. name)
end

local A, B = "52:54:00:12:34:56", "52:55:0a:00:02:02"

local function same(name, built)
  local r = ref(name)
  if not r then return pending("python3 is not installed: no independent reference bytes") end
  assert.equal(hex(r), hex(built))
end

describe("lemu.packet builds frames byte-identical to an independent reference", function()
  it("ARP request", function()
    same("arp_request", P.build { eth = { src = A, dst = P.broadcast },
      arp = { op = "request", sha = A, spa = "10.0.2.15", tpa = "10.0.2.2" } })
  end)
  it("ICMP echo in IPv4 (header and ICMP checksums)", function()
    same("icmp_echo", P.build { eth = { src = A, dst = B }, ipv4 = { src = "10.0.2.15", dst = "10.0.2.2", id = 0x4242 },
      icmp = { type = "echo_request", id = 0x1234, seq = 7, data = "abcdefgh" } })
  end)
  it("UDP with an odd-length payload (pseudo-header checksum)", function()
    same("udp", P.build { eth = { src = A, dst = B }, ipv4 = { src = "10.0.2.15", dst = "10.0.2.2", id = 1 },
      udp = { sport = 5000, dport = 6000 }, payload = "hello, lemu" })
  end)
  it("TCP SYN with an MSS option and a data segment with a wrapping sequence number", function()
    same("tcp_syn", P.build { eth = { src = A, dst = B }, ipv4 = { src = "10.0.2.15", dst = "10.0.2.2", id = 2 },
      tcp = { sport = 40000, dport = 80, seq = 0xdeadbeef, flags = "S", window = 64240, options = { mss = 1460 } } })
    same("tcp_data", P.build { eth = { src = A, dst = B }, ipv4 = { src = "10.0.2.15", dst = "10.0.2.2", id = 3 },
      tcp = { sport = 40000, dport = 80, seq = 0xfffffff0, ack = 12345, flags = "PA", window = 1000 },
      payload = "GET / HTTP/1.0\r\n\r\n" })
  end)
  it("ICMPv6 neighbour solicitation (IPv6 pseudo-header checksum)", function()
    local src, dst = "fe80::5054:ff:fe12:3456", P.solicited_node("fe80::2")
    assert.equal("ff02::1:ff00:2", dst)
    same("icmpv6_ns", P.build { eth = { src = A, dst = P.ip6_multicast_mac(dst) }, ipv6 = { src = src, dst = dst, hlim = 255 },
      icmpv6 = { type = "ns", target = "fe80::2", src_lladdr = A } })
  end)
  it("UDP over IPv6", function()
    same("udp6", P.build { eth = { src = A, dst = B }, ipv6 = { src = "fd00::15", dst = "fd00::2" },
      udp = { sport = 1234, dport = 9999 }, payload = "xyz" })
  end)
  it("DHCP discover with options, padded to BOOTP's 300 bytes", function()
    same("dhcp_discover", P.build { eth = { src = A, dst = P.broadcast },
      ipv4 = { src = "0.0.0.0", dst = "255.255.255.255" }, udp = { sport = 68, dport = 67 },
      dhcp = { xid = 0x3903f326, chaddr = A, broadcast = true,
               options = { msgtype = "discover", params = { 1, 3, 6 }, [61] = "\1" .. P.mac_bytes(A) } } })
  end)
  it("DNS query and NXDOMAIN answer; TFTP RRQ, DATA and ERROR", function()
    same("dns_query", P.dns { id = 0xbeef, questions = { { name = "server.test", type = "A" } } })
    same("dns_nxdomain", P.dns { id = 7, qr = true, ra = true, rcode = "NXDOMAIN", questions = { { name = "nope.test", type = "A" } } })
    same("tftp_rrq", P.tftp { op = "rrq", filename = "boot.img", options = { blksize = 1024 } })
    same("tftp_data", P.tftp { op = "data", block = 2, data = "payload" })
    same("tftp_error", P.tftp { op = "error", code = 1, message = "File not found" })
  end)
end)

describe("lemu.packet parses", function()
  it("the reference frames, with every checksum verified", function()
    if not ref("udp") then return pending("python3 is not installed") end
    for _, name in ipairs { "icmp_echo", "udp", "tcp_syn", "tcp_data", "icmpv6_ns", "udp6", "dhcp_discover" } do
      local r = P.parse(ref(name))
      assert.is_nil(r.error, name)
      if r.ipv4 then assert.is_true(r.ipv4.checksum_ok, name) end
      local l4 = r.udp or r.tcp or r.icmp or r.icmpv6
      assert.is_true(l4.checksum_ok, name)
    end
    local r = P.parse(ref("tcp_syn"))
    assert.same({ 40000, 80, 0xdeadbeef, "S", 1460 }, { r.tcp.sport, r.tcp.dport, r.tcp.seq, r.tcp.flag_str, r.tcp.options.mss })
    assert.is_true(r.tcp.syn)
    r = P.parse(ref("dhcp_discover"))
    assert.equal("discover", r.dhcp.msgtype)
    assert.equal(0x3903f326, r.dhcp.xid)
    assert.equal(A, r.dhcp.chaddr)
    assert.same({ 1, 3, 6 }, r.dhcp.options.params)
    r = P.parse(ref("icmpv6_ns"))
    assert.equal("ns", r.icmpv6.type_name)
    assert.equal("fe80::2", r.icmpv6.target)
    assert.equal(A, r.icmpv6.src_lladdr)
  end)

  it("a corrupted byte as a failed checksum, at the layer it hit", function()
    if not ref("udp") then return pending("python3 is not installed") end
    local f = ref("udp")
    local at = 14 + 20 + 8 + 1   -- the first payload byte (the frame is padded to 60 bytes)
    local bad = f:sub(1, at - 1) .. string.char((f:byte(at) + 1) % 256) .. f:sub(at + 1)
    local r = P.parse(bad)
    assert.is_true(r.ipv4.checksum_ok)
    assert.is_false(r.udp.checksum_ok)
    bad = f:sub(1, 22) .. "\1" .. f:sub(24)  -- the TTL
    assert.is_false(P.parse(bad).ipv4.checksum_ok)
  end)

  it("DNS answers with compression pointers, AAAA records and NXDOMAIN", function()
    if not ref("udp") then return pending("python3 is not installed") end
    local d = P.parse_dns(ref("dns_answer_compressed"))
    assert.is_true(d.qr)
    assert.equal("server.test", d.questions[1].name)
    assert.same({ name = "server.test", type = "A", class = 1, ttl = 60, data = "10.0.2.2" }, d.answers[1])
    assert.same({ name = "server.test", type = "AAAA", class = 1, ttl = 60, data = "fd00::2" }, d.answers[2])
    assert.equal("NXDOMAIN", P.parse_dns(ref("dns_nxdomain")).rcode_name)
    local loop = ref("dns_query"):sub(1, 12) .. "\192\12" .. "\0\1\0\1"   -- a name pointing at itself
    assert.has_error(function() P.parse_dns(loop) end, "dns: compression pointers loop")
  end)

  it("round-trips what it builds: ARP, DHCP offer, DNS PTR, TFTP OACK, router advertisement", function()
    local r = P.parse(P.build { eth = { src = A }, arp = { op = "reply", sha = A, spa = "10.0.2.2", tha = B, tpa = "10.0.2.15" } })
    assert.same({ "reply", A, "10.0.2.2", B, "10.0.2.15" }, { r.arp.op_name, r.arp.sha, r.arp.spa, r.arp.tha, r.arp.tpa })
    r = P.parse(P.build { eth = { src = B, dst = A }, ipv4 = { src = "10.0.2.2", dst = "10.0.2.15" },
      udp = { sport = 67, dport = 68 }, dhcp = { xid = 99, chaddr = A, yiaddr = "10.0.2.15", siaddr = "10.0.2.2",
        file = "pxelinux.0", options = { msgtype = "offer", server_id = "10.0.2.2", lease_time = 86400,
          router = "10.0.2.2", dns = { "10.0.2.3", "10.0.2.4" }, subnet_mask = "255.255.255.0" } } })
    assert.equal(2, r.dhcp.op)
    assert.equal("offer", r.dhcp.msgtype)
    assert.equal("10.0.2.15", r.dhcp.yiaddr)
    assert.equal("pxelinux.0", r.dhcp.file)
    assert.equal(86400, r.dhcp.options.lease_time)
    assert.same({ "10.0.2.3", "10.0.2.4" }, r.dhcp.options.dns)
    assert.is_true(r.udp.checksum_ok)
    assert.equal("15.2.0.10.in-addr.arpa", P.ptr_name("10.0.2.15"))
    local d = P.parse_dns(P.dns { id = 5, qr = true, questions = { { name = P.ptr_name("10.0.2.2"), type = "PTR" } },
      answers = { { name = P.ptr_name("10.0.2.2"), type = "PTR", ttl = 5, data = "host.test" } } })
    assert.equal("host.test", d.answers[1].data)
    assert.equal("PTR", d.answers[1].type)
    local t = P.parse_tftp(P.tftp { op = "oack", options = { blksize = 1428, tsize = 4096 } })
    assert.same({ op = "oack", options = { blksize = "1428", tsize = "4096" } }, t)
    local ra = P.parse(P.build { eth = { src = B, dst = "33:33:00:00:00:01" }, ipv6 = { src = "fe80::2", dst = "ff02::1", hlim = 255 },
      icmpv6 = { type = "ra", lifetime = 1800, src_lladdr = B, mtu = 1500, rdnss = { "fd00::3" },
                 prefixes = { { prefix = "fd00::", len = 64 } } } })
    assert.is_true(ra.icmpv6.checksum_ok)
    assert.equal("ra", ra.icmpv6.type_name)
    assert.same({ { prefix = "fd00::", len = 64, onlink = true, auto = true, valid = 86400, preferred = 14400 } }, ra.icmpv6.prefixes)
    assert.same({ "fd00::3" }, ra.icmpv6.rdnss)
    assert.equal(1500, ra.icmpv6.mtu)
  end)

  it("IPv6 addresses in RFC 5952 form", function()
    for _, c in ipairs {
      { "2001:DB8:0:0:0:0:2:1", "2001:db8::2:1" }, { "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },
      { "2001:0:0:1:0:0:0:1", "2001:0:0:1::1" }, { "::", "::" }, { "::1", "::1" }, { "fe80::", "fe80::" },
      { "::ffff:10.0.2.15", "::ffff:a00:20f" },
    } do
      assert.equal(c[2], P.ip6_str(P.ip6_bytes(c[1])))
    end
  end)
end)

describe("lemu.packet refuses bad input clearly", function()
  it("names the length of a frame too short for Ethernet", function()
    assert.has_error(function() P.parse("short") end, "ether: a frame of 5 bytes is shorter than an Ethernet header (14)")
  end)
  it("names malformed addresses", function()
    assert.has_error(function() P.ip4_bytes("10.0.2.256") end, 'packet: IPv4 address "10.0.2.256" is not like 10.0.2.15')
    assert.has_error(function() P.ip6_bytes("1::2::3") end, 'packet: IPv6 address "1::2::3" is not like fe80::1')
    assert.has_error(function() P.mac_bytes("52:54:00") end, 'packet: MAC address "52:54:00" is not like 52:54:00:12:34:56')
  end)
  it("records a truncated inner layer instead of raising", function()
    local f = P.build { eth = { src = A, dst = B, pad = false }, ipv4 = { src = "1.2.3.4", dst = "5.6.7.8" }, udp = {}, payload = "x" }
    local r = P.parse(f:sub(1, 30))
    assert.is_not_nil(r.eth)
    assert.matches("ipv4: 16 bytes, shorter than an IPv4 header", r.error)
  end)
  it("rejects unknown DHCP options and TCP flag letters", function()
    assert.has_error(function() P.dhcp { options = { bogus = 1 } } end, 'dhcp: unknown option "bogus" (use its code: [n] = bytes)')
    assert.has_error(function() P.tcp_flags("SX") end, 'tcp: unknown flag letter "X" in "SX" (F S R P A U)')
  end)
end)
