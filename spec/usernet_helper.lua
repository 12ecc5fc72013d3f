-- usernet_helper: a raw scripted "guest" for the user-net specs that check frames field by field
-- (DHCP options, ARP, ICMP, TFTP, DNS): an endpoint plus the packet library, answering ARP for its
-- address. Specs that need TCP use lemu.host (ep:host) instead.
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

return G
