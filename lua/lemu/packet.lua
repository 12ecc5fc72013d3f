-- lemu.packet: build and parse Ethernet frames and what they carry — ARP, IPv4, IPv6, ICMP,
-- ICMPv6 (echo, neighbour and router discovery), UDP, TCP, DHCP, DNS and TFTP — with the checksums
-- right. Builders take plain tables and return byte strings; parsers take byte strings and return
-- plain tables. `P.build{eth=, ipv4=, udp=, dhcp=}` stacks layers into a frame and `P.parse(frame)`
-- takes one apart. Addresses are strings in their usual text form ("10.0.2.15", "fe80::1",
-- "52:54:00:12:34:56"). See docs/netstack.md.
local P = {}

local spack, sunpack, fmt = string.pack, string.unpack, string.format

local function fail(what, msg, ...)
  error(what .. ": " .. fmt(msg, ...), 0)
end

-- ---------------------------------------------------------------- addresses

function P.mac_bytes(s)
  if type(s) == "string" and #s == 6 and not s:find("^%x%x[:-]") then return s end
  local parts = {}
  if type(s) == "string" then
    for h in s:gmatch("[^:-]+") do parts[#parts + 1] = h end
  end
  if #parts ~= 6 then fail("packet", "MAC address %q is not like 52:54:00:12:34:56", tostring(s)) end
  local b = {}
  for i, h in ipairs(parts) do
    if not h:match("^%x%x?$") then fail("packet", "MAC address %q is not like 52:54:00:12:34:56", s) end
    b[i] = tonumber(h, 16)
  end
  return string.char(table.unpack(b))
end

function P.mac_str(b)
  return fmt("%02x:%02x:%02x:%02x:%02x:%02x", b:byte(1, 6))
end

P.broadcast = "ff:ff:ff:ff:ff:ff"

function P.ip4_bytes(s)
  if type(s) == "string" and #s == 4 and not s:find("^%d+%.") then return s end
  local a, b, c, d = tostring(s):match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
  if not a or a > 255 or b > 255 or c > 255 or d > 255 then
    fail("packet", "IPv4 address %q is not like 10.0.2.15", tostring(s))
  end
  return string.char(a, b, c, d)
end

function P.ip4_str(b) return fmt("%d.%d.%d.%d", b:byte(1, 4)) end

-- "10.0.2.15" -> 0x0a00020f and back.
function P.ip4_num(s) return (sunpack(">I4", P.ip4_bytes(s))) end
function P.ip4_from_num(n) return P.ip4_str(spack(">I4", n & 0xffffffff)) end

function P.ip6_bytes(s)
  if type(s) == "string" and #s == 16 and not s:find(":") then return s end
  s = tostring(s)
  local bad = function() fail("packet", "IPv6 address %q is not like fe80::1", s) end
  local head, tail = s, nil
  local dc = s:find("::", 1, true)
  if dc then
    head, tail = s:sub(1, dc - 1), s:sub(dc + 2)
    if tail:find("::", 1, true) then bad() end
  end
  local function groups(part)
    local g = {}
    if part == "" then return g end
    local fields = {}
    for f in (part .. ":"):gmatch("([^:]*):") do fields[#fields + 1] = f end
    for i, f in ipairs(fields) do
      if i == #fields and f:find("%.") then
        local v4 = P.ip4_bytes(f)
        g[#g + 1] = v4:byte(1) * 256 + v4:byte(2)
        g[#g + 1] = v4:byte(3) * 256 + v4:byte(4)
      elseif f:match("^%x%x?%x?%x?$") then
        g[#g + 1] = tonumber(f, 16)
      else
        bad()
      end
    end
    return g
  end
  local hg, tg = groups(head), tail and groups(tail) or {}
  local n = #hg + #tg
  if (dc and n > 7) or (not dc and n ~= 8) then bad() end
  local all = {}
  for _, v in ipairs(hg) do all[#all + 1] = v end
  for _ = 1, 8 - n do all[#all + 1] = 0 end
  for _, v in ipairs(tg) do all[#all + 1] = v end
  return spack(">I2I2I2I2I2I2I2I2", table.unpack(all))
end

-- RFC 5952 text: lower case, the longest run of two or more zero groups as "::".
function P.ip6_str(b)
  local g = { sunpack(">I2I2I2I2I2I2I2I2", b) }
  g[9] = nil
  local best, bestlen, i = nil, 1, 1
  while i <= 8 do
    if g[i] == 0 then
      local j = i
      while j + 1 <= 8 and g[j + 1] == 0 do j = j + 1 end
      if j - i + 1 > bestlen then best, bestlen = i, j - i + 1 end
      i = j + 1
    else
      i = i + 1
    end
  end
  local function hex(from, to)
    local t = {}
    for k = from, to do t[#t + 1] = fmt("%x", g[k]) end
    return table.concat(t, ":")
  end
  if not best then return hex(1, 8) end
  return hex(1, best - 1) .. "::" .. hex(best + bestlen, 8)
end

local function is_ip6(s) return type(s) == "string" and (s:find(":", 1, true) or (#s == 16)) end

-- ---------------------------------------------------------------- checksums

-- The Internet checksum (RFC 1071) of data, as a number.
function P.checksum(data, initial)
  local sum = initial or 0
  local n = #data
  local i = 1
  while i + 7 <= n do
    local a, b, c, d = sunpack(">I2I2I2I2", data, i)
    sum = sum + a + b + c + d
    i = i + 8
  end
  while i + 1 <= n do
    sum = sum + sunpack(">I2", data, i)
    i = i + 2
  end
  if i == n then sum = sum + data:byte(i) * 256 end
  while sum > 0xffff do sum = (sum & 0xffff) + (sum >> 16) end
  return (~sum) & 0xffff
end

local function pseudo(src, dst, proto, len)
  if #src == 16 then return src .. dst .. spack(">I4I3B", len, 0, proto) end
  return src .. dst .. spack(">BBI2", 0, proto, len)
end

-- Checksum of an upper-layer segment with its pseudo-header (src, dst are address bytes).
local function l4sum(src, dst, proto, seg)
  return P.checksum(pseudo(src, dst, proto, #seg) .. seg)
end

local function put16(s, pos, v) return s:sub(1, pos - 1) .. spack(">I2", v) .. s:sub(pos + 2) end

-- ---------------------------------------------------------------- Ethernet

P.ETH = { ipv4 = 0x0800, arp = 0x0806, ipv6 = 0x86dd, vlan = 0x8100 }
local ethnames = {}
for k, v in pairs(P.ETH) do ethnames[v] = k end

function P.ether(t)
  local ty = t.type or 0x0800
  if type(ty) == "string" then
    ty = P.ETH[ty] or fail("ether", "unknown type %q (ipv4, arp, ipv6 or a number)", ty)
  end
  local f = P.mac_bytes(t.dst or P.broadcast) .. P.mac_bytes(t.src or "52:54:00:12:34:56")
      .. spack(">I2", ty) .. (t.payload or "")
  if t.pad ~= false and #f < 60 then f = f .. string.rep("\0", 60 - #f) end
  return f
end

function P.parse_ether(f)
  if type(f) ~= "string" then fail("ether", "expected a frame (a string), got %s", type(f)) end
  if #f < 14 then fail("ether", "a frame of %d bytes is shorter than an Ethernet header (14)", #f) end
  local ty = sunpack(">I2", f, 13)
  return {
    dst = P.mac_str(f:sub(1, 6)), src = P.mac_str(f:sub(7, 12)), type = ty,
    type_name = ethnames[ty], payload = f:sub(15),
  }
end

-- ---------------------------------------------------------------- ARP

local arpops = { request = 1, reply = 2 }

function P.arp(t)
  local op = arpops[t.op] or t.op
  if type(op) ~= "number" then fail("arp", "op must be 'request', 'reply' or a number, got %s", tostring(t.op)) end
  return spack(">I2I2BBI2", 1, 0x0800, 6, 4, op)
      .. P.mac_bytes(t.sha) .. P.ip4_bytes(t.spa)
      .. P.mac_bytes(t.tha or "00:00:00:00:00:00") .. P.ip4_bytes(t.tpa)
end

function P.parse_arp(b)
  if #b < 28 then fail("arp", "%d bytes, shorter than an IPv4 ARP packet (28)", #b) end
  local htype, ptype, hlen, plen, op = sunpack(">I2I2BBI2", b)
  if htype ~= 1 or ptype ~= 0x0800 or hlen ~= 6 or plen ~= 4 then
    fail("arp", "not Ethernet/IPv4 ARP (htype %d, ptype 0x%04x, hlen %d, plen %d)", htype, ptype, hlen, plen)
  end
  return {
    op = op, op_name = op == 1 and "request" or op == 2 and "reply" or nil,
    sha = P.mac_str(b:sub(9, 14)), spa = P.ip4_str(b:sub(15, 18)),
    tha = P.mac_str(b:sub(19, 24)), tpa = P.ip4_str(b:sub(25, 28)),
  }
end

-- ---------------------------------------------------------------- IPv4 / IPv6

P.PROTO = { icmp = 1, tcp = 6, udp = 17, icmpv6 = 58 }

local function proto_num(p, what)
  if type(p) == "string" then return P.PROTO[p] or fail(what, "unknown protocol %q", p) end
  return p
end

function P.ipv4(t)
  local payload = t.payload or ""
  local total = 20 + #payload
  if total > 65535 then fail("ipv4", "a packet of %d bytes is longer than 65535", total) end
  local flags = (t.df and 0x4000 or 0) | (t.mf and 0x2000 or 0) | ((t.frag or 0) & 0x1fff)
  local h = spack(">BBI2I2I2BBI2", 0x45, t.tos or 0, total, t.id or 0, flags, t.ttl or 64,
    proto_num(t.proto or 0, "ipv4"), 0) .. P.ip4_bytes(t.src) .. P.ip4_bytes(t.dst)
  return put16(h, 11, t.checksum or P.checksum(h)) .. payload
end

function P.parse_ipv4(b)
  if #b < 20 then fail("ipv4", "%d bytes, shorter than an IPv4 header (20)", #b) end
  local vihl, tos, total, id, flags, ttl, proto, sum = sunpack(">BBI2I2I2BBI2", b)
  local ihl = (vihl & 15) * 4
  if vihl >> 4 ~= 4 then fail("ipv4", "version %d, not 4", vihl >> 4) end
  if ihl < 20 or ihl > #b then fail("ipv4", "header length %d of a %d-byte packet", ihl, #b) end
  if total < ihl or total > #b then fail("ipv4", "total length %d but %d bytes present", total, #b) end
  return {
    tos = tos, len = total, id = id, df = flags & 0x4000 ~= 0, mf = flags & 0x2000 ~= 0,
    frag = flags & 0x1fff, ttl = ttl, proto = proto, checksum = sum,
    checksum_ok = P.checksum(b:sub(1, ihl)) == 0,
    src = P.ip4_str(b:sub(13, 16)), dst = P.ip4_str(b:sub(17, 20)),
    options = ihl > 20 and b:sub(21, ihl) or nil,
    payload = b:sub(ihl + 1, total),
  }
end

function P.ipv6(t)
  local payload = t.payload or ""
  if #payload > 65535 then fail("ipv6", "a payload of %d bytes is longer than 65535", #payload) end
  local vtf = (6 << 28) | (((t.tclass or 0) & 0xff) << 20) | ((t.flow or 0) & 0xfffff)
  return spack(">I4I2BB", vtf, #payload, proto_num(t.next or t.proto or 59, "ipv6"), t.hlim or 64)
      .. P.ip6_bytes(t.src) .. P.ip6_bytes(t.dst) .. payload
end

function P.parse_ipv6(b)
  if #b < 40 then fail("ipv6", "%d bytes, shorter than an IPv6 header (40)", #b) end
  local vtf, plen, nxt, hlim = sunpack(">I4I2BB", b)
  if vtf >> 28 ~= 6 then fail("ipv6", "version %d, not 6", vtf >> 28) end
  if 40 + plen > #b then fail("ipv6", "payload length %d but %d bytes present", plen, #b - 40) end
  return {
    tclass = (vtf >> 20) & 0xff, flow = vtf & 0xfffff, len = plen, next = nxt, proto = nxt, hlim = hlim,
    src = P.ip6_str(b:sub(9, 24)), dst = P.ip6_str(b:sub(25, 40)),
    payload = b:sub(41, 40 + plen),
  }
end

-- ---------------------------------------------------------------- ICMP

P.ICMP = { echo_reply = 0, unreachable = 3, echo_request = 8, time_exceeded = 11 }

-- t.type, t.code; echo: t.id, t.seq, t.data; others: t.rest (4 bytes) and t.data.
function P.icmp(t)
  local ty = P.ICMP[t.type] or t.type or 8
  local rest = t.rest or spack(">I2I2", t.id or 0, t.seq or 0)
  local m = spack(">BBI2", ty, t.code or 0, 0) .. rest .. (t.data or "")
  return put16(m, 3, P.checksum(m))
end

function P.parse_icmp(b)
  if #b < 8 then fail("icmp", "%d bytes, shorter than an ICMP header (8)", #b) end
  local ty, code, sum, id, seq = sunpack(">BBI2I2I2", b)
  return { type = ty, code = code, checksum = sum, checksum_ok = P.checksum(b) == 0,
           id = id, seq = seq, rest = b:sub(5, 8), data = b:sub(9) }
end

-- ---------------------------------------------------------------- ICMPv6 and neighbour discovery

P.ICMPV6 = { unreachable = 1, too_big = 2, time_exceeded = 3, echo_request = 128, echo_reply = 129,
             rs = 133, ra = 134, ns = 135, na = 136 }

local function ndopt_ll(kind, mac) return spack(">BB", kind, 1) .. P.mac_bytes(mac) end

local function nd_options(t)
  local o = {}
  if t.src_lladdr then o[#o + 1] = ndopt_ll(1, t.src_lladdr) end
  if t.tgt_lladdr then o[#o + 1] = ndopt_ll(2, t.tgt_lladdr) end
  for _, p in ipairs(t.prefixes or {}) do
    local flags = (p.onlink ~= false and 0x80 or 0) | (p.auto ~= false and 0x40 or 0)
    o[#o + 1] = spack(">BBBBI4I4I4", 3, 4, p.len or 64, flags, p.valid or 86400, p.preferred or 14400, 0)
        .. P.ip6_bytes(p.prefix)
  end
  if t.mtu then o[#o + 1] = spack(">BBI2I4", 5, 1, 0, t.mtu) end
  if t.rdnss then
    local addrs = {}
    for _, a in ipairs(t.rdnss) do addrs[#addrs + 1] = P.ip6_bytes(a) end
    o[#o + 1] = spack(">BBI2I4", 25, 1 + 2 * #addrs, 0, t.rdnss_lifetime or 3600) .. table.concat(addrs)
  end
  return table.concat(o)
end

local function parse_nd_options(b, r)
  local i = 1
  while i + 1 <= #b do
    local kind, len = sunpack("BB", b, i)
    if len == 0 or i + len * 8 - 1 > #b then r.options_error = "malformed option"; return end
    local o = b:sub(i, i + len * 8 - 1)
    if kind == 1 then r.src_lladdr = P.mac_str(o:sub(3, 8))
    elseif kind == 2 then r.tgt_lladdr = P.mac_str(o:sub(3, 8))
    elseif kind == 3 and #o >= 32 then
      local plen, flags, valid, pref = sunpack(">BBI4I4", o, 3)
      r.prefixes = r.prefixes or {}
      r.prefixes[#r.prefixes + 1] = { prefix = P.ip6_str(o:sub(17, 32)), len = plen,
        onlink = flags & 0x80 ~= 0, auto = flags & 0x40 ~= 0, valid = valid, preferred = pref }
    elseif kind == 5 then r.mtu = sunpack(">I4", o, 5)
    elseif kind == 25 then
      r.rdnss = {}
      for k = 9, #o - 15, 16 do r.rdnss[#r.rdnss + 1] = P.ip6_str(o:sub(k, k + 15)) end
    end
    i = i + len * 8
  end
end

-- t.type (number or name), t.code; echo: id, seq, data; ns/na: target (+ router, solicited,
-- override for na); ra: hop_limit, managed, other, lifetime, reachable, retrans; options:
-- src_lladdr, tgt_lladdr, prefixes, mtu, rdnss. src and dst (IPv6) give the checksum.
function P.icmpv6(t, src, dst)
  local ty = P.ICMPV6[t.type] or t.type or 128
  local body
  if ty == 128 or ty == 129 then
    body = spack(">I2I2", t.id or 0, t.seq or 0) .. (t.data or "")
  elseif ty == 133 then
    body = spack(">I4", 0) .. nd_options(t)
  elseif ty == 134 then
    local flags = (t.managed and 0x80 or 0) | (t.other and 0x40 or 0)
    body = spack(">BBI2I4I4", t.hop_limit or 64, flags, t.lifetime or 1800, t.reachable or 0, t.retrans or 0)
        .. nd_options(t)
  elseif ty == 135 then
    body = spack(">I4", 0) .. P.ip6_bytes(t.target) .. nd_options(t)
  elseif ty == 136 then
    local flags = (t.router and 0x80000000 or 0) | (t.solicited and 0x40000000 or 0) | (t.override ~= false and 0x20000000 or 0)
    body = spack(">I4", flags) .. P.ip6_bytes(t.target) .. nd_options(t)
  else
    body = t.body or ""
  end
  local m = spack(">BBI2", ty, t.code or 0, 0) .. body
  if not src or not dst then fail("icmpv6", "the checksum needs the IPv6 source and destination") end
  return put16(m, 3, l4sum(P.ip6_bytes(src), P.ip6_bytes(dst), 58, m))
end

function P.parse_icmpv6(b, src, dst)
  if #b < 4 then fail("icmpv6", "%d bytes, shorter than an ICMPv6 header (4)", #b) end
  local ty, code, sum = sunpack(">BBI2", b)
  local r = { type = ty, code = code, checksum = sum, body = b:sub(5) }
  if src and dst then r.checksum_ok = l4sum(P.ip6_bytes(src), P.ip6_bytes(dst), 58, b) == 0 end
  for k, v in pairs(P.ICMPV6) do if v == ty then r.type_name = k end end
  if (ty == 128 or ty == 129) and #b >= 8 then
    r.id, r.seq = sunpack(">I2I2", b, 5)
    r.data = b:sub(9)
  elseif ty == 133 and #b >= 8 then
    parse_nd_options(b:sub(9), r)
  elseif ty == 134 and #b >= 16 then
    local hl, flags, life, reach, retrans = sunpack(">BBI2I4I4", b, 5)
    r.hop_limit, r.managed, r.other = hl, flags & 0x80 ~= 0, flags & 0x40 ~= 0
    r.lifetime, r.reachable, r.retrans = life, reach, retrans
    parse_nd_options(b:sub(17), r)
  elseif (ty == 135 or ty == 136) and #b >= 24 then
    local flags = sunpack(">I4", b, 5)
    r.target = P.ip6_str(b:sub(9, 24))
    if ty == 136 then
      r.router, r.solicited, r.override = flags & 0x80000000 ~= 0, flags & 0x40000000 ~= 0, flags & 0x20000000 ~= 0
    end
    parse_nd_options(b:sub(25), r)
  end
  return r
end

-- The solicited-node multicast address of an IPv6 address, and the MAC a multicast maps to.
function P.solicited_node(ip6)
  local b = P.ip6_bytes(ip6)
  return P.ip6_str(P.ip6_bytes("ff02::1:ff00:0"):sub(1, 13) .. b:sub(14, 16))
end

function P.ip6_multicast_mac(ip6)
  local b = P.ip6_bytes(ip6)
  return P.mac_str("\51\51" .. b:sub(13, 16))
end

-- ---------------------------------------------------------------- UDP / TCP

-- t.sport, t.dport, t.payload; t.src and t.dst (IPv4 or IPv6 addresses) give the checksum.
function P.udp(t)
  local payload = t.payload or ""
  local len = 8 + #payload
  if len > 65535 then fail("udp", "a datagram of %d bytes is longer than 65535", len) end
  local seg = spack(">I2I2I2I2", t.sport or 0, t.dport or 0, len, 0) .. payload
  if t.src and t.dst then
    local ip6 = is_ip6(t.src)
    local s = ip6 and P.ip6_bytes(t.src) or P.ip4_bytes(t.src)
    local d = ip6 and P.ip6_bytes(t.dst) or P.ip4_bytes(t.dst)
    local sum = l4sum(s, d, 17, seg)
    if sum == 0 then sum = 0xffff end
    seg = put16(seg, 7, t.checksum or sum)
  elseif t.checksum then
    seg = put16(seg, 7, t.checksum)
  end
  return seg
end

local function addr_bytes(a) return is_ip6(a) and P.ip6_bytes(a) or P.ip4_bytes(a) end

function P.parse_udp(b, src, dst)
  if #b < 8 then fail("udp", "%d bytes, shorter than a UDP header (8)", #b) end
  local sport, dport, len, sum = sunpack(">I2I2I2I2", b)
  if len < 8 or len > #b then fail("udp", "length field %d but %d bytes present", len, #b) end
  local r = { sport = sport, dport = dport, len = len, checksum = sum, payload = b:sub(9, len) }
  if src and dst then
    r.checksum_ok = (sum == 0 and not is_ip6(src)) or l4sum(addr_bytes(src), addr_bytes(dst), 17, b:sub(1, len)) == 0
  end
  return r
end

P.TCP = { FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16, URG = 32 }
local flagletters = { F = 1, S = 2, R = 4, P = 8, A = 16, U = 32 }

-- Flags as a number, from a number, "SA"-style letters or { SYN = true, ACK = true }.
function P.tcp_flags(f)
  if type(f) == "number" then return f end
  local n = 0
  if type(f) == "string" then
    for c in f:upper():gmatch(".") do
      n = n | (flagletters[c] or fail("tcp", "unknown flag letter %q in %q (F S R P A U)", c, f))
    end
  elseif type(f) == "table" then
    for k, v in pairs(f) do if v then n = n | (P.TCP[k:upper()] or fail("tcp", "unknown flag %q", k)) end end
  end
  return n
end

function P.tcp_flag_str(n)
  local s = ""
  for _, c in ipairs { "F", "S", "R", "P", "A", "U" } do if n & flagletters[c] ~= 0 then s = s .. c end end
  return s
end

local function tcp_options(o)
  if not o then return "" end
  if type(o) == "string" then return o end
  local parts = {}
  if o.mss then parts[#parts + 1] = spack(">BBI2", 2, 4, o.mss) end
  if o.sack_ok then parts[#parts + 1] = spack("BB", 4, 2) end
  if o.ts then parts[#parts + 1] = spack(">BBI4I4", 8, 10, o.ts[1], o.ts[2] or 0) end
  if o.wscale then parts[#parts + 1] = spack("BBBB", 1, 3, 3, o.wscale) end
  local s = table.concat(parts)
  while #s % 4 ~= 0 do s = s .. "\0" end
  return s
end

-- t.sport, t.dport, t.seq, t.ack, t.flags ("SA", number or table), t.window, t.urg, t.options
-- ({mss=, wscale=, sack_ok=, ts={val, ecr}} or raw bytes), t.payload; t.src, t.dst for the checksum.
function P.tcp(t)
  local opts = tcp_options(t.options)
  if #opts > 40 then fail("tcp", "%d bytes of options, more than 40", #opts) end
  local off = (20 + #opts) // 4
  local seg = spack(">I2I2I4I4BBI2I2I2", t.sport or 0, t.dport or 0, (t.seq or 0) & 0xffffffff,
    (t.ack or 0) & 0xffffffff, off << 4, P.tcp_flags(t.flags or 0), t.window or 65535, 0, t.urg or 0)
    .. opts .. (t.payload or "")
  if t.src and t.dst then
    seg = put16(seg, 17, t.checksum or l4sum(addr_bytes(t.src), addr_bytes(t.dst), 6, seg))
  end
  return seg
end

function P.parse_tcp(b, src, dst)
  if #b < 20 then fail("tcp", "%d bytes, shorter than a TCP header (20)", #b) end
  local sport, dport, seq, ack, off, flags, win, sum, urg = sunpack(">I2I2I4I4BBI2I2I2", b)
  local hlen = (off >> 4) * 4
  if hlen < 20 or hlen > #b then fail("tcp", "header length %d of a %d-byte segment", hlen, #b) end
  local r = { sport = sport, dport = dport, seq = seq, ack = ack, flags = flags,
              flag_str = P.tcp_flag_str(flags), window = win, checksum = sum, urg = urg,
              payload = b:sub(hlen + 1), options = {} }
  for k, v in pairs(P.TCP) do r[k == "ACK" and "ack_flag" or k:lower()] = flags & v ~= 0 end
  local i, o = 21, b:sub(1, hlen)
  while i <= hlen do
    local kind = o:byte(i)
    if kind == 0 then break end
    if kind == 1 then i = i + 1 else
      local len = o:byte(i + 1) or 0
      if len < 2 then break end
      if kind == 2 and len == 4 then r.options.mss = sunpack(">I2", o, i + 2)
      elseif kind == 3 and len == 3 then r.options.wscale = o:byte(i + 2)
      elseif kind == 4 then r.options.sack_ok = true
      elseif kind == 8 and len == 10 then r.options.ts = { sunpack(">I4I4", o, i + 2) }; r.options.ts[3] = nil end
      i = i + len
    end
  end
  if src and dst then r.checksum_ok = l4sum(addr_bytes(src), addr_bytes(dst), 6, b) == 0 end
  return r
end

-- ---------------------------------------------------------------- DHCP

P.DHCP = { discover = 1, offer = 2, request = 3, decline = 4, ack = 5, nak = 6, release = 7, inform = 8 }
local dhcpnames = {}
for k, v in pairs(P.DHCP) do dhcpnames[v] = k end

-- name -> code, kind. Kinds: ip, ips (list), u32, u8, str, bytes (list of numbers), raw.
local dhcpopts = {
  subnet_mask = { 1, "ip" }, router = { 3, "ips" }, dns = { 6, "ips" }, hostname = { 12, "str" },
  domain = { 15, "str" }, broadcast = { 28, "ip" }, requested_ip = { 50, "ip" },
  lease_time = { 51, "u32" }, msgtype = { 53, "u8" }, server_id = { 54, "ip" },
  params = { 55, "bytes" }, message = { 56, "str" }, max_size = { 57, "u16" },
  renewal_time = { 58, "u32" }, rebinding_time = { 59, "u32" }, vendor_class = { 60, "str" },
  client_id = { 61, "raw" }, tftp_server = { 66, "str" }, bootfile = { 67, "str" },
  domain_search = { 119, "raw" },
}
local dhcpcodes = {}
for name, d in pairs(dhcpopts) do dhcpcodes[d[1]] = { name, d[2] } end

local function dhcp_optval(name, kind, v)
  if kind == "ip" then return P.ip4_bytes(v)
  elseif kind == "ips" then
    if type(v) == "string" then v = { v } end
    local t = {}
    for _, a in ipairs(v) do t[#t + 1] = P.ip4_bytes(a) end
    return table.concat(t)
  elseif kind == "u32" then return spack(">I4", v)
  elseif kind == "u16" then return spack(">I2", v)
  elseif kind == "u8" then
    if name == "msgtype" and type(v) == "string" then
      v = P.DHCP[v] or fail("dhcp", "unknown message type %q", v)
    end
    return spack("B", v)
  elseif kind == "bytes" then return string.char(table.unpack(v))
  else return tostring(v) end
end

-- t.op (1 request, 2 reply; default from msgtype), t.xid, t.chaddr (MAC), t.ciaddr, t.yiaddr,
-- t.siaddr, t.giaddr, t.flags (or t.broadcast=true), t.secs, t.sname, t.file, and t.options: by
-- name (msgtype = "discover", requested_ip, server_id, lease_time, router, dns, subnet_mask,
-- hostname, params = {1, 3, 6}, ...) or by code ([43] = "raw bytes"). Options go out in code order.
function P.dhcp(t)
  local opts = t.options or {}
  local mt = opts.msgtype
  local op = t.op or ((mt == "offer" or mt == "ack" or mt == "nak" or mt == 2 or mt == 5 or mt == 6) and 2 or 1)
  local flags = t.flags or (t.broadcast and 0x8000 or 0)
  local z = P.ip4_bytes("0.0.0.0")
  local chaddr = P.mac_bytes(t.chaddr or "00:00:00:00:00:00")
  local sname, file = t.sname or "", t.file or ""
  if #sname > 63 or #file > 127 then fail("dhcp", "sname or file too long (63/127 bytes at most)") end
  local m = spack(">BBBBI4I2I2", op, 1, 6, t.hops or 0, t.xid or 0, t.secs or 0, flags)
      .. (t.ciaddr and P.ip4_bytes(t.ciaddr) or z) .. (t.yiaddr and P.ip4_bytes(t.yiaddr) or z)
      .. (t.siaddr and P.ip4_bytes(t.siaddr) or z) .. (t.giaddr and P.ip4_bytes(t.giaddr) or z)
      .. chaddr .. string.rep("\0", 10)
      .. sname .. string.rep("\0", 64 - #sname) .. file .. string.rep("\0", 128 - #file)
      .. "\99\130\83\99"
  local list = {}
  for k, v in pairs(opts) do
    local code, val
    if type(k) == "number" then
      code, val = k, tostring(v)
    else
      local d = dhcpopts[k] or fail("dhcp", "unknown option %q (use its code: [n] = bytes)", tostring(k))
      code, val = d[1], dhcp_optval(k, d[2], v)
    end
    if #val > 255 then fail("dhcp", "option %s is %d bytes, more than 255", tostring(k), #val) end
    list[#list + 1] = { code, val }
  end
  table.sort(list, function(a, b)
    if a[1] == 53 or b[1] == 53 then return a[1] == 53 and b[1] ~= 53 end  -- message type first
    return a[1] < b[1]
  end)
  local o = {}
  for _, e in ipairs(list) do o[#o + 1] = spack("BB", e[1], #e[2]) .. e[2] end
  m = m .. table.concat(o) .. "\255"
  if #m < 300 then m = m .. string.rep("\0", 300 - #m) end  -- BOOTP's minimum size
  return m
end

function P.parse_dhcp(b)
  if #b < 240 then fail("dhcp", "%d bytes, shorter than a DHCP message (240)", #b) end
  if b:sub(237, 240) ~= "\99\130\83\99" then fail("dhcp", "no DHCP magic cookie (a plain BOOTP message?)") end
  local op, htype, hlen, hops, xid, secs, flags = sunpack(">BBBBI4I2I2", b)
  local r = {
    op = op, htype = htype, hlen = hlen, hops = hops, xid = xid, secs = secs, flags = flags,
    broadcast = flags & 0x8000 ~= 0,
    ciaddr = P.ip4_str(b:sub(13, 16)), yiaddr = P.ip4_str(b:sub(17, 20)),
    siaddr = P.ip4_str(b:sub(21, 24)), giaddr = P.ip4_str(b:sub(25, 28)),
    chaddr = P.mac_str(b:sub(29, 34)),
    sname = b:sub(45, 108):match("^[^%z]*"), file = b:sub(109, 236):match("^[^%z]*"),
    options = {}, raw = {},
  }
  local i = 241
  while i <= #b do
    local code = b:byte(i)
    if code == 255 then break end
    if code == 0 then i = i + 1 else
      local len = b:byte(i + 1)
      if not len or i + 1 + len > #b then fail("dhcp", "option %d runs past the end of the message", code) end
      local v = b:sub(i + 2, i + 1 + len)
      r.raw[code] = v
      local d = dhcpcodes[code]
      if d then
        local name, kind = d[1], d[2]
        local val = v
        if kind == "ip" and len == 4 then val = P.ip4_str(v)
        elseif kind == "ips" then
          val = {}
          for k = 1, len - 3, 4 do val[#val + 1] = P.ip4_str(v:sub(k, k + 3)) end
        elseif kind == "u32" and len == 4 then val = sunpack(">I4", v)
        elseif kind == "u16" and len == 2 then val = sunpack(">I2", v)
        elseif kind == "u8" and len == 1 then val = v:byte()
        elseif kind == "bytes" then val = { v:byte(1, -1) } end
        r.options[name] = val
      end
      i = i + 2 + len
    end
  end
  r.msgtype = dhcpnames[r.options.msgtype]
  return r
end

-- ---------------------------------------------------------------- DNS

P.DNS = { A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, MX = 15, TXT = 16, AAAA = 28, ANY = 255 }
local dnsnames = {}
for k, v in pairs(P.DNS) do dnsnames[v] = k end
P.RCODE = { NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4, REFUSED = 5 }
local rcodenames = {}
for k, v in pairs(P.RCODE) do rcodenames[v] = k end

local function dns_name(name)
  if name == "" or name == "." then return "\0" end
  local parts = {}
  for label in (name:gsub("%.$", "") .. "."):gmatch("([^.]*)%.") do
    if #label == 0 or #label > 63 then fail("dns", "name %q has an empty label or one longer than 63", name) end
    parts[#parts + 1] = string.char(#label) .. label
  end
  local s = table.concat(parts) .. "\0"
  if #s > 255 then fail("dns", "name %q is longer than 255 bytes", name) end
  return s
end

local function dns_type(ty)
  if type(ty) == "string" then return P.DNS[ty:upper()] or fail("dns", "unknown record type %q", ty) end
  return ty or 1
end

-- The name to look up for the PTR record of an address.
function P.ptr_name(ip)
  if is_ip6(ip) then
    local b, t = P.ip6_bytes(ip), {}
    for i = 16, 1, -1 do
      local x = b:byte(i)
      t[#t + 1] = fmt("%x.%x", x & 15, x >> 4)
    end
    return table.concat(t, ".") .. ".ip6.arpa"
  end
  local a, b2, c, d = P.ip4_bytes(ip):byte(1, 4)
  return fmt("%d.%d.%d.%d.in-addr.arpa", d, c, b2, a)
end

local function rdata(rr, ty)
  local d = rr.data
  if ty == 1 then return P.ip4_bytes(d)
  elseif ty == 28 then return P.ip6_bytes(d)
  elseif ty == 2 or ty == 5 or ty == 12 then return dns_name(d)
  elseif ty == 15 then return spack(">I2", rr.preference or 10) .. dns_name(d)
  elseif ty == 16 then return spack("s1", d)
  else return d or "" end
end

-- t.id, t.qr (response), t.opcode, t.aa, t.tc, t.rd, t.ra, t.rcode (number or "NXDOMAIN"),
-- t.questions = { {name=, type="A", class=1} }, t.answers / t.authority / t.additional =
-- { {name=, type=, ttl=, data=} } (data: the address for A/AAAA, the name for PTR/CNAME/NS).
function P.dns(t)
  local rcode = t.rcode or 0
  if type(rcode) == "string" then rcode = P.RCODE[rcode:upper()] or fail("dns", "unknown rcode %q", rcode) end
  local flags = (t.qr and 0x8000 or 0) | (((t.opcode or 0) & 15) << 11) | (t.aa and 0x400 or 0)
      | (t.tc and 0x200 or 0) | (t.rd ~= false and 0x100 or 0) | (t.ra and 0x80 or 0) | (rcode & 15)
  local qs, an, ns, ar = t.questions or {}, t.answers or {}, t.authority or {}, t.additional or {}
  local out = { spack(">I2I2I2I2I2I2", t.id or 0, flags, #qs, #an, #ns, #ar) }
  for _, q in ipairs(qs) do
    out[#out + 1] = dns_name(q.name) .. spack(">I2I2", dns_type(q.type), q.class or 1)
  end
  for _, sec in ipairs { an, ns, ar } do
    for _, rr in ipairs(sec) do
      local ty = dns_type(rr.type)
      local rd = rdata(rr, ty)
      out[#out + 1] = dns_name(rr.name) .. spack(">I2I2I4s2", ty, rr.class or 1, rr.ttl or 300, rd)
    end
  end
  return table.concat(out)
end

-- Reads a possibly compressed name at pos; returns it and the position after it.
local function read_name(b, pos)
  local labels, jumped, after, hops = {}, false, nil, 0
  while true do
    local len = b:byte(pos)
    if not len then fail("dns", "name runs past the end of the message") end
    if len == 0 then pos = pos + 1 break end
    if len & 0xc0 == 0xc0 then
      local ptr = sunpack(">I2", b, pos) & 0x3fff
      if not after then after = pos + 2 end
      hops = hops + 1
      if hops > 64 then fail("dns", "compression pointers loop") end
      pos = ptr + 1
      jumped = true
    elseif len & 0xc0 ~= 0 then
      fail("dns", "label type 0x%02x is not supported", len & 0xc0)
    else
      if pos + len > #b then fail("dns", "label runs past the end of the message") end
      labels[#labels + 1] = b:sub(pos + 1, pos + len)
      pos = pos + 1 + len
    end
  end
  return table.concat(labels, "."), jumped and after or pos
end

function P.parse_dns(b)
  if #b < 12 then fail("dns", "%d bytes, shorter than a DNS header (12)", #b) end
  local id, flags, qd, an, ns, ar = sunpack(">I2I2I2I2I2I2", b)
  local r = { id = id, flags = flags, qr = flags & 0x8000 ~= 0, opcode = (flags >> 11) & 15,
              aa = flags & 0x400 ~= 0, tc = flags & 0x200 ~= 0, rd = flags & 0x100 ~= 0,
              ra = flags & 0x80 ~= 0, rcode = flags & 15,
              questions = {}, answers = {}, authority = {}, additional = {} }
  r.rcode_name = rcodenames[r.rcode]
  local pos = 13
  for _ = 1, qd do
    local name
    name, pos = read_name(b, pos)
    if pos + 3 > #b then fail("dns", "question runs past the end of the message") end
    local ty, class = sunpack(">I2I2", b, pos)
    pos = pos + 4
    r.questions[#r.questions + 1] = { name = name, type = dnsnames[ty] or ty, class = class }
  end
  for _, sec in ipairs { { an, r.answers }, { ns, r.authority }, { ar, r.additional } } do
    for _ = 1, sec[1] do
      local name
      name, pos = read_name(b, pos)
      if pos + 9 > #b then fail("dns", "record runs past the end of the message") end
      local ty, class, ttl, rdlen = sunpack(">I2I2I4I2", b, pos)
      pos = pos + 10
      if pos + rdlen - 1 > #b then fail("dns", "record data runs past the end of the message") end
      local rd = b:sub(pos, pos + rdlen - 1)
      local data = rd
      if ty == 1 and rdlen == 4 then data = P.ip4_str(rd)
      elseif ty == 28 and rdlen == 16 then data = P.ip6_str(rd)
      elseif ty == 2 or ty == 5 or ty == 12 then data = read_name(b, pos)
      elseif ty == 15 then data = read_name(b, pos + 2)
      elseif ty == 16 then data = rd:sub(2, 1 + rd:byte(1)) end
      sec[2][#sec[2] + 1] = { name = name, type = dnsnames[ty] or ty, class = class, ttl = ttl, data = data }
      pos = pos + rdlen
    end
  end
  return r
end

-- ---------------------------------------------------------------- TFTP

P.TFTP = { rrq = 1, wrq = 2, data = 3, ack = 4, error = 5, oack = 6 }
local tftpnames = {}
for k, v in pairs(P.TFTP) do tftpnames[v] = k end

local function tftp_opts(o)
  if not o then return "" end
  local keys = {}
  for k in pairs(o) do keys[#keys + 1] = k end
  table.sort(keys)
  local t = {}
  for _, k in ipairs(keys) do t[#t + 1] = k .. "\0" .. tostring(o[k]) .. "\0" end
  return table.concat(t)
end

-- t.op ("rrq", "wrq", "data", "ack", "error", "oack"); rrq/wrq: filename, mode ("octet"),
-- options {blksize=, tsize=}; data: block, data; ack: block; error: code, message; oack: options.
function P.tftp(t)
  local op = P.TFTP[t.op] or t.op
  if op == 1 or op == 2 then
    if type(t.filename) ~= "string" or t.filename == "" then fail("tftp", "%s needs a filename", t.op) end
    return spack(">I2", op) .. t.filename .. "\0" .. (t.mode or "octet") .. "\0" .. tftp_opts(t.options)
  elseif op == 3 then
    return spack(">I2I2", 3, t.block or 1) .. (t.data or "")
  elseif op == 4 then
    return spack(">I2I2", 4, t.block or 0)
  elseif op == 5 then
    return spack(">I2I2", 5, t.code or 0) .. (t.message or "") .. "\0"
  elseif op == 6 then
    return spack(">I2", 6) .. tftp_opts(t.options)
  end
  fail("tftp", "unknown op %s (rrq, wrq, data, ack, error, oack)", tostring(t.op))
end

function P.parse_tftp(b)
  if #b < 2 then fail("tftp", "%d bytes, shorter than an opcode", #b) end
  local op = sunpack(">I2", b)
  local r = { op = tftpnames[op] or op }
  local function strings(from)
    local t = {}
    for s in b:sub(from):gmatch("([^%z]*)%z") do t[#t + 1] = s end
    return t
  end
  if op == 1 or op == 2 then
    local s = strings(3)
    if #s < 2 then fail("tftp", "%s without a filename and mode", r.op) end
    r.filename, r.mode, r.options = s[1], s[2]:lower(), {}
    for i = 3, #s - 1, 2 do r.options[s[i]:lower()] = s[i + 1] end
  elseif op == 3 or op == 4 then
    if #b < 4 then fail("tftp", "%s of %d bytes has no block number", r.op, #b) end
    r.block = sunpack(">I2", b, 3)
    if op == 3 then r.data = b:sub(5) end
  elseif op == 5 then
    if #b < 4 then fail("tftp", "error of %d bytes has no code", #b) end
    r.code = sunpack(">I2", b, 3)
    r.message = b:sub(5):match("^[^%z]*")
  elseif op == 6 then
    r.options = {}
    local s = strings(3)
    for i = 1, #s - 1, 2 do r.options[s[i]:lower()] = s[i + 1] end
  else
    fail("tftp", "unknown opcode %d", op)
  end
  return r
end

-- ---------------------------------------------------------------- whole frames

local l3_of = { ipv4 = true, ipv6 = true, arp = true }

-- Stacks layers into a frame: t.eth = {src=, dst=}, then one of t.arp / t.ipv4 / t.ipv6, then one
-- of t.icmp / t.icmpv6 / t.udp / t.tcp, then one of t.dhcp / t.dns / t.tftp or t.payload (bytes).
-- Lengths, protocol numbers, Ethernet types and checksums are filled in.
function P.build(t)
  if type(t) ~= "table" then fail("packet.build", "expected a table of layers, got %s", type(t)) end
  local eth = t.eth or {}
  local payload = t.payload or ""
  if t.dhcp then payload = P.dhcp(t.dhcp)
  elseif t.dns then payload = P.dns(t.dns)
  elseif t.tftp then payload = P.tftp(t.tftp) end
  local ip = t.ipv4 or t.ipv6
  local src, dst = ip and ip.src, ip and ip.dst
  local l4, proto
  if t.udp then
    l4, proto = P.udp(setmetatable({ payload = payload, src = src, dst = dst }, { __index = t.udp })), 17
  elseif t.tcp then
    l4, proto = P.tcp(setmetatable({ payload = payload, src = src, dst = dst }, { __index = t.tcp })), 6
  elseif t.icmp then
    l4, proto = P.icmp(t.icmp), 1
  elseif t.icmpv6 then
    l4, proto = P.icmpv6(t.icmpv6, src, dst), 58
  else
    l4 = payload
  end
  local l3, ty
  if t.arp then
    l3, ty = P.arp(t.arp), 0x0806
  elseif t.ipv4 then
    l3, ty = P.ipv4(setmetatable({ payload = l4, proto = t.ipv4.proto or proto }, { __index = t.ipv4 })), 0x0800
  elseif t.ipv6 then
    l3, ty = P.ipv6(setmetatable({ payload = l4, next = t.ipv6.next or proto }, { __index = t.ipv6 })), 0x86dd
  else
    l3 = l4
  end
  return P.ether { dst = eth.dst, src = eth.src, type = eth.type or ty, payload = l3, pad = eth.pad }
end

-- Well-known UDP ports that P.parse looks inside.
P.udp_apps = { [67] = "dhcp", [68] = "dhcp", [53] = "dns", [69] = "tftp" }

-- Takes a frame apart: { eth=, arp= | ipv4= | ipv6=, icmp= | icmpv6= | udp= | tcp=, dhcp= | dns= |
-- tftp=, payload= (the innermost bytes) }. Each layer carries checksum_ok where it has a checksum.
-- A frame shorter than an Ethernet header raises; a malformed inner layer stops the parse and is
-- named in r.error.
function P.parse(frame)
  local r = { eth = P.parse_ether(frame) }
  r.payload = r.eth.payload
  local ok, err = pcall(function()
    local ty = r.eth.type
    local l4, proto, src, dst
    if ty == 0x0806 then
      r.arp = P.parse_arp(r.eth.payload)
      return
    elseif ty == 0x0800 then
      r.ipv4 = P.parse_ipv4(r.eth.payload)
      l4, proto, src, dst = r.ipv4.payload, r.ipv4.proto, r.ipv4.src, r.ipv4.dst
      if r.ipv4.frag ~= 0 or r.ipv4.mf then r.payload = l4 return end
    elseif ty == 0x86dd then
      r.ipv6 = P.parse_ipv6(r.eth.payload)
      l4, proto, src, dst = r.ipv6.payload, r.ipv6.next, r.ipv6.src, r.ipv6.dst
    else
      return
    end
    r.payload = l4
    if proto == 1 then r.icmp = P.parse_icmp(l4); r.payload = r.icmp.data
    elseif proto == 58 then r.icmpv6 = P.parse_icmpv6(l4, src, dst)
    elseif proto == 6 then r.tcp = P.parse_tcp(l4, src, dst); r.payload = r.tcp.payload
    elseif proto == 17 then
      r.udp = P.parse_udp(l4, src, dst)
      r.payload = r.udp.payload
      local app = P.udp_apps[r.udp.dport] or P.udp_apps[r.udp.sport]
      if app == "dhcp" then r.dhcp = P.parse_dhcp(r.payload)
      elseif app == "dns" then r.dns = P.parse_dns(r.payload)
      elseif app == "tftp" then r.tftp = P.parse_tftp(r.payload) end
    end
  end)
  if not ok then r.error = tostring(err) end
  return r
end

-- A one-line summary of a frame, for logs and taps.
function P.summary(frame)
  local ok, r = pcall(P.parse, frame)
  if not ok then return "malformed frame: " .. tostring(r) end
  local s = r.eth.src .. " > " .. r.eth.dst
  if r.arp then
    return s .. fmt(" ARP %s %s asks/tells %s", r.arp.op_name or r.arp.op, r.arp.spa, r.arp.tpa)
  end
  local ip = r.ipv4 or r.ipv6
  if not ip then return s .. fmt(" type 0x%04x, %d bytes", r.eth.type, #frame) end
  s = fmt("%s %s > %s", r.ipv4 and "IPv4" or "IPv6", ip.src, ip.dst)
  if r.udp then s = s .. fmt(" UDP %d > %d len %d", r.udp.sport, r.udp.dport, #r.udp.payload) end
  if r.tcp then s = s .. fmt(" TCP %d > %d [%s] seq %d ack %d len %d", r.tcp.sport, r.tcp.dport,
    r.tcp.flag_str, r.tcp.seq, r.tcp.ack, #r.tcp.payload) end
  if r.icmp then s = s .. fmt(" ICMP type %d code %d", r.icmp.type, r.icmp.code) end
  if r.icmpv6 then s = s .. fmt(" ICMPv6 %s", r.icmpv6.type_name or r.icmpv6.type) end
  if r.dhcp then s = s .. " DHCP " .. tostring(r.dhcp.msgtype) end
  if r.dns then s = s .. fmt(" DNS %s id %d", r.dns.qr and "response" or "query", r.dns.id) end
  if r.tftp then s = s .. " TFTP " .. tostring(r.tftp.op) end
  if r.error then s = s .. " (" .. r.error .. ")" end
  return s
end

return P
