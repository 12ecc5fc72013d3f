-- usernet_helper: a scripted "guest" for the user-net specs, built on an endpoint and the packet
-- library: answers ARP for its address, runs DHCP, pings, and speaks just enough TCP (in-order,
-- one segment at a time) to complete an exchange. The net layer's host helpers were not on the
-- branch when these specs were written; this stays small on purpose.
local lemu = require "lemu"
local P = require "lemu.packet"

local G = {}
G.__index = G

local BCAST = "ff:ff:ff:ff:ff:ff"

function G.new(vlan, mac, ip)
  local g = setmetatable({ mac = mac or "52:54:00:12:34:56", ip = ip }, G)
  g.ep = vlan:endpoint { mac = g.mac, name = "guest-" .. g.mac }
  return g
end

-- Parses f; answers an ARP request for our address on the way. Returns the parse.
function G:look(f)
  local ok, r = pcall(P.parse, f)
  if not ok then return nil end
  if r.arp and r.arp.op == 1 and self.ip and r.arp.tpa == self.ip then
    self.ep:send(P.build { eth = { src = self.mac, dst = r.arp.sha },
      arp = { op = 2, sha = self.mac, spa = self.ip, tha = r.arp.sha, tpa = r.arp.spa } })
    return nil
  end
  return r
end

-- Waits for a frame whose parse satisfies pred; returns the parse.
function G:recv(pred, timeout, what)
  local got
  self.ep:recv { timeout = timeout or 3000, what = what, match = function(f)
    local r = self:look(f)
    if r and pred(r) then got = r return true end
    return false
  end }
  return got
end

function G:send(t)
  t.eth = t.eth or {}
  t.eth.src = t.eth.src or self.mac
  t.eth.dst = t.eth.dst or self.router_mac
  self.ep:send(P.build(t))
end

-- DHCP DISCOVER/OFFER/REQUEST/ACK; returns the ACK's parse (dhcp table) and sets ip, router, dns.
function G:dhcp()
  local xid = math.random(1, 0x7fffffff)
  local function ask(msgtype, extra)
    local opts = { msgtype = msgtype, params = { 1, 3, 6, 15, 67 } }
    for k, v in pairs(extra or {}) do opts[k] = v end
    self.ep:send(P.build { eth = { src = self.mac, dst = BCAST },
      ipv4 = { src = "0.0.0.0", dst = "255.255.255.255" }, udp = { sport = 68, dport = 67 },
      dhcp = { xid = xid, chaddr = self.mac, options = opts } })
  end
  local function reply(t)
    return self:recv(function(r) return r.dhcp and r.dhcp.xid == xid and r.dhcp.msgtype == t end, 3000,
      "DHCP " .. t)
  end
  ask("discover")
  local offer = reply("offer")
  ask("request", { requested_ip = offer.dhcp.yiaddr, server_id = offer.dhcp.options.server_id })
  local ack = reply("ack")
  self.ip = ack.dhcp.yiaddr
  self.router = ack.dhcp.options.router and ack.dhcp.options.router[1] or ack.dhcp.options.router
  self.dns = ack.dhcp.options.dns and ack.dhcp.options.dns[1]
  self.router_mac = ack.eth.src
  return ack.dhcp, ack
end

-- ARP for ip; returns the MAC that answered.
function G:arp(ip)
  self.ep:send(P.build { eth = { src = self.mac, dst = BCAST },
    arp = { op = 1, sha = self.mac, spa = self.ip or "0.0.0.0", tha = "00:00:00:00:00:00", tpa = ip } })
  local r = self:recv(function(r) return r.arp and r.arp.op == 2 and r.arp.spa == ip end, 2000, "ARP reply from " .. ip)
  return r.arp.sha
end

-- One ICMP echo to dst; returns the reply's parse.
function G:ping(dst, seq, data)
  seq = seq or 1
  self:send { ipv4 = { src = self.ip, dst = dst }, icmp = { type = 8, code = 0, id = 0x4c45, seq = seq, data = data or "lemu" } }
  return self:recv(function(r)
    return r.icmp and r.icmp.type == 0 and r.icmp.seq == seq and r.ipv4.src == dst
  end, 2000, "ICMP echo reply from " .. dst)
end

-- UDP datagram; and waiting for one (pred on the parse).
function G:udp_send(dst, sport, dport, payload)
  self:send { ipv4 = { src = self.ip, dst = dst }, udp = { sport = sport, dport = dport }, payload = payload }
end

function G:udp_recv(dport, timeout)
  return self:recv(function(r) return r.udp and r.udp.dport == dport end, timeout, "UDP to port " .. dport)
end

-- ---- a minimal TCP ----

local C = {}
C.__index = C

local function seg(c, flags, payload)
  c.g:send { ipv4 = { src = c.g.ip, dst = c.raddr }, tcp = { sport = c.lport, dport = c.rport,
    seq = c.snd, ack = c.rcv, flags = flags, window = 65535 }, payload = payload }
end

-- The acknowledgment number, read from the segment itself: lemu.packet's parse_tcp sets r.ack to
-- the ACK flag (a boolean), which hides the number.
local function acknum(r) return (string.unpack(">I4", r.ipv4.payload, 9)) end

local function tcp_from(c, r)
  return r.tcp and r.ipv4 and r.ipv4.src == c.raddr and r.tcp.sport == c.rport and r.tcp.dport == c.lport
end

-- Waits for a SYN to port; answers it. Returns the connection and the SYN's parse.
function G:tcp_accept(port, timeout)
  local syn = self:recv(function(r) return r.tcp and r.tcp.dport == port and r.tcp.flag_str == "S" end,
    timeout, "a TCP SYN to port " .. port)
  local c = setmetatable({ g = self, lport = port, rport = syn.tcp.sport, raddr = syn.ipv4.src,
    snd = 1000, rcv = (syn.tcp.seq + 1) & 0xffffffff }, C)
  seg(c, "SA")
  c.snd = c.snd + 1
  self:recv(function(r) return tcp_from(c, r) and r.tcp.flags & 0x10 ~= 0 end, timeout, "the ACK of our SYN-ACK")
  return c, syn
end

function G:tcp_connect(dst, port, timeout)
  local c = setmetatable({ g = self, lport = 40000 + math.random(0, 9999), rport = port, raddr = dst,
    snd = 5000, rcv = 0 }, C)
  seg(c, "S")
  c.snd = c.snd + 1
  local r = self:recv(function(r) return tcp_from(c, r) end, timeout, ("a reply to our SYN to %s:%d"):format(dst, port))
  if r.tcp.flags & 0x04 ~= 0 then return nil, "reset" end
  c.rcv = (r.tcp.seq + 1) & 0xffffffff
  seg(c, "A")
  return c
end

-- Sends data (one segment) and waits until it is acknowledged.
function C:send(data)
  seg(self, "PA", data)
  self.snd = (self.snd + #data) & 0xffffffff
  local want = self.snd
  self.g:recv(function(r)
    if not tcp_from(self, r) then return false end
    if #r.tcp.payload > 0 then self:_take(r) end
    return acknum(r) == want
  end, 3000, "the ACK of our data")
end

function C:_take(r)
  if r.tcp.seq == self.rcv then
    self.buf = (self.buf or "") .. r.tcp.payload
    self.rcv = (self.rcv + #r.tcp.payload) & 0xffffffff
    seg(self, "A")
  end
end

-- Returns the next data that arrived (nil once the peer sent FIN).
function C:recv(timeout)
  if self.buf and #self.buf > 0 then local b = self.buf self.buf = nil return b end
  if self.fin then return nil end
  self.g:recv(function(r)
    if not tcp_from(self, r) then return false end
    if #r.tcp.payload > 0 then self:_take(r) end
    if r.tcp.flags & 0x01 ~= 0 and r.tcp.seq + #r.tcp.payload == self.rcv then
      self.rcv = (self.rcv + 1) & 0xffffffff
      self.fin = true
      seg(self, "A")
    end
    return (self.buf and #self.buf > 0) or self.fin
  end, timeout or 3000, "TCP data")
  local b = self.buf
  self.buf = nil
  return b
end

function C:close()
  seg(self, "FA")
  self.snd = (self.snd + 1) & 0xffffffff
end

return G
