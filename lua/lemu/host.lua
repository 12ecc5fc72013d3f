-- lemu.host: an IPv4 host on a scripted endpoint, for scenarios that stand in for a guest.
-- `local h = ep:host{ip=, mask=, gw=, dns=}` answers ARP and ICMP echo for its address, keeps an
-- ARP cache, and runs a TCP stack small but real (sequence numbers, ACKs, windows, FIN and RST;
-- no retransmission). h:dhcp() leases an address; h:ping(ip) measures a round trip;
-- h:tcp_connect / h:tcp_listen open connections; h:udp_send / h:udp_recv; h:tftp_get reads a file.
-- Frames the host does not handle stay on the endpoint for ep:recv. See docs/netstack.md.
local P = require "lemu.packet"
local cmdline = require "lemu.cmdline"

local M = {}
local Host, Conn, Listener = {}, {}, {}
Host.__index, Conn.__index, Listener.__index = Host, Conn, Listener

local function mask_bits(m)
  if m == nil then return 24 end
  if type(m) == "number" then
    if m < 0 or m > 32 or m % 1 ~= 0 then error(("mask=%s: expected a prefix length 0..32"):format(m), 0) end
    return m
  end
  local n, bits = P.ip4_num(m), 0
  while bits < 32 and n & (1 << (31 - bits)) ~= 0 do bits = bits + 1 end
  if n ~= (bits == 0 and 0 or (0xffffffff << (32 - bits)) & 0xffffffff) then
    error(("mask=%s: not a contiguous netmask"):format(m), 0)
  end
  return bits
end

local function prefix_mask(bits) return bits == 0 and 0 or (0xffffffff << (32 - bits)) & 0xffffffff end

-- ---------------------------------------------------------------- events

-- A condition: waiters re-check their predicate whenever the host's state changes.
local function notify(h)
  local ws = h.waiters
  h.waiters = {}
  for _, w in ipairs(ws) do
    if w.pred() then w.wake() else h.waiters[#h.waiters + 1] = w end
  end
end

local function wait_until(h, what, opts, pred)
  if pred() then return end
  local ok, err = pcall(h.lemu.wait, what, opts, function(wake)
    local w = { pred = pred, wake = wake }
    h.waiters[#h.waiters + 1] = w
    return function()
      for i, x in ipairs(h.waiters) do if x == w then table.remove(h.waiters, i) break end end
    end
  end)
  if not ok then error(type(err) == "string" and err:gsub("^[^:]*:%d+: ", "") or err, 0) end
end

-- ---------------------------------------------------------------- construction

local valid = { ip = true, mask = true, gw = true, dns = true, arp = true, ping = true, ip6 = true }

function M.new(lemu, ep, opts)
  opts = opts or {}
  local bad = cmdline.unknown_key(opts, valid)
  if bad ~= nil then
    error(("ep:host: unknown option '%s' (valid: ip, mask, gw, dns, ip6, arp, ping)"):format(tostring(bad)), 3)
  end
  local h = setmetatable({
    lemu = lemu, ep = ep, mac = ep.mac, arp_cache = {}, nd_cache = {}, conns = {}, listeners = {},
    waiters = {}, ipid = math.random(0, 0xffff), answer_arp = opts.arp ~= false,
    answer_ping = opts.ping ~= false, next_port = 49152 + math.random(0, 8191),
  }, Host)
  local ok, err = pcall(function()
    if opts.ip then h:configure { ip = opts.ip, mask = opts.mask, gw = opts.gw, dns = opts.dns } end
    if opts.ip6 then h.ip6 = P.ip6_str(P.ip6_bytes(opts.ip6)) end
  end)
  if not ok then error("ep:host: " .. tostring(err), 3) end
  ep:_set_handler(function(frame) return h:_handle(frame) end)
  return h
end

-- Sets the address (and mask, gateway, DNS server). A DHCP lease calls this too.
function Host:configure(c)
  self.ip = P.ip4_str(P.ip4_bytes(c.ip))
  self.bits = mask_bits(c.mask)
  self.mask = P.ip4_from_num(prefix_mask(self.bits))
  self.gw = c.gw and P.ip4_str(P.ip4_bytes(c.gw)) or nil
  self.dns = c.dns and P.ip4_str(P.ip4_bytes(c.dns)) or nil
end

function Host:close()
  if not self.ep:closed() then self.ep:_set_handler(nil) end
  for _, c in pairs(self.conns) do c.state = "CLOSED"; c.reset = "host closed" end
  self.conns, self.listeners = {}, {}
  notify(self)
end

local function on_link(h, ip)
  if not h.ip then return false end
  local m = prefix_mask(h.bits)
  return P.ip4_num(ip) & m == P.ip4_num(h.ip) & m
end

-- ---------------------------------------------------------------- frames in

function Host:_handle(frame)
  local ok, r = pcall(P.parse, frame)
  if not ok or r.error then return false end
  if r.eth.dst ~= self.mac and r.eth.dst ~= P.broadcast and r.eth.dst:sub(1, 5) ~= "33:33" then return false end
  if r.arp then return self:_arp(r.arp) end
  if r.ipv6 then return self:_ipv6(r) end
  if not r.ipv4 or not self.ip or r.ipv4.dst ~= self.ip then return false end
  if r.icmp and r.icmp.type == 8 and self.answer_ping then
    self:send_ip(r.ipv4.src, { icmp = { type = 0, id = r.icmp.id, seq = r.icmp.seq, data = r.icmp.data } }, r.eth.src)
    return true
  end
  if r.tcp then return self:_tcp(r, r.tcp) end
  return false
end

function Host:_arp(a)
  -- Learn from every ARP packet that names a sender, as hosts do.
  if a.spa ~= "0.0.0.0" then
    local known = self.arp_cache[a.spa]
    self.arp_cache[a.spa] = a.sha
    if not known then notify(self) end
  end
  if a.op == 1 and self.ip and a.tpa == self.ip and self.answer_arp then
    self.ep:send(P.build { eth = { src = self.mac, dst = a.sha },
      arp = { op = "reply", sha = self.mac, spa = self.ip, tha = a.sha, tpa = a.spa } })
    return true
  end
  return a.op == 2 and a.tpa == self.ip
end

-- ---------------------------------------------------------------- frames out

-- The MAC to send to ip: from the cache, or by ARP (waits up to opts.timeout).
function Host:resolve(ip, opts)
  ip = P.ip4_str(P.ip4_bytes(ip))
  if ip == "255.255.255.255" then return P.broadcast end
  local hop = ip
  if not on_link(self, ip) then
    hop = self.gw or error(("no route to %s: it is off the local network and the host has no gateway"):format(ip), 2)
  end
  if self.arp_cache[hop] then return self.arp_cache[hop] end
  if not self.ip then error("resolve: the host has no address (configure it or run dhcp first)", 2) end
  opts = opts or {}
  local function ask()
    self.ep:send(P.build { eth = { src = self.mac, dst = P.broadcast },
      arp = { op = "request", sha = self.mac, spa = self.ip, tpa = hop } })
  end
  ask()
  -- Ask again every second while waiting: a peer may not be listening yet.
  local timer = self.lemu.every(1000, ask)
  local ok, err = pcall(wait_until, self, "an ARP reply from " .. hop, opts, function() return self.arp_cache[hop] ~= nil end)
  timer:close()
  if not ok then error(err, 2) end
  return self.arp_cache[hop]
end

-- Sends an IPv4 packet to dst with the layers in l4 ({udp=}, {tcp=}, {icmp=} plus payload).
function Host:send_ip(dst, layers, dstmac)
  layers.eth = { src = self.mac, dst = dstmac or self:resolve(dst) }
  self.ipid = (self.ipid + 1) & 0xffff
  layers.ipv4 = { src = layers.src or self.ip or "0.0.0.0", dst = dst, id = self.ipid, ttl = 64 }
  layers.src = nil
  return self.ep:send(P.build(layers))
end

-- ---------------------------------------------------------------- ping

-- Sends an ICMP echo request and waits for the reply; returns the round trip in ms.
function Host:ping(ip, opts)
  opts = opts or {}
  local mac = self:resolve(ip, opts)
  self.ping_id = ((self.ping_id or math.random(1, 0xfff0)) + 1) & 0xffff
  local id, seq = self.ping_id, opts.seq or 1
  local data = opts.data or string.rep("lemu", math.max(1, (opts.size or 56) // 4)):sub(1, opts.size or 56)
  local t0 = self.lemu.now()
  self:send_ip(ip, { icmp = { type = 8, id = id, seq = seq, data = data } }, mac)
  local f = self.ep:recv { timeout = opts.timeout, what = "an ICMP echo reply from " .. ip,
    match = function(frame)
      local r = P.parse(frame)
      return r.icmp and r.icmp.type == 0 and r.icmp.id == id and r.icmp.seq == seq and r.ipv4.src == ip
    end }
  local rtt = self.lemu.now() - t0
  local r = P.parse(f)
  if r.icmp.data ~= data then error("ping: the echo reply from " .. ip .. " carries different data", 2) end
  return rtt
end

-- ---------------------------------------------------------------- UDP

function Host:ephemeral_port()
  self.next_port = self.next_port + 1
  if self.next_port > 65535 then self.next_port = 49152 end
  return self.next_port
end

-- h:udp_send{dst=, dport=, sport=, payload=}
function Host:udp_send(t)
  local sport = t.sport or self:ephemeral_port()
  self:send_ip(t.dst, { udp = { sport = sport, dport = t.dport }, payload = t.payload or "" })
  return sport
end

-- h:udp_recv{port=, from=, timeout=}: the next datagram to our port; returns payload, src, sport.
function Host:udp_recv(t)
  local f = self.ep:recv { timeout = t.timeout, what = ("a UDP datagram to port %d"):format(t.port),
    match = function(frame)
      local r = P.parse(frame)
      return r.udp and r.ipv4 and r.udp.dport == t.port and (not self.ip or r.ipv4.dst == self.ip
        or r.ipv4.dst == "255.255.255.255") and (not t.from or r.ipv4.src == t.from)
    end }
  local r = P.parse(f)
  return r.udp.payload, r.ipv4.src, r.udp.sport
end

-- ---------------------------------------------------------------- DHCP

-- Runs DISCOVER/OFFER/REQUEST/ACK and configures the host. Returns the lease: address, mask,
-- router, dns (the first server), dns_servers, lease_time, server, domain, bootfile, next_server.
function Host:dhcp(opts)
  opts = opts or {}
  local xid = opts.xid or math.random(1, 0x7fffffff)
  local function send(options, ciaddr)
    options.params = options.params or { 1, 3, 6, 15, 51, 54, 66, 67 }
    options.hostname = options.hostname or opts.hostname
    self.ep:send(P.build { eth = { src = self.mac, dst = P.broadcast },
      ipv4 = { src = "0.0.0.0", dst = "255.255.255.255" }, udp = { sport = 68, dport = 67 },
      dhcp = { xid = xid, chaddr = self.mac, ciaddr = ciaddr, broadcast = opts.broadcast, options = options } })
  end
  local function reply(types, what)
    local f = self.ep:recv { timeout = opts.timeout, what = what, match = function(frame)
      local r = P.parse(frame)
      return r.dhcp and r.udp.dport == 68 and r.dhcp.xid == xid and r.dhcp.op == 2
        and r.dhcp.chaddr == self.mac and types[r.dhcp.msgtype] ~= nil
    end }
    return P.parse(f)
  end
  send { msgtype = "discover", requested_ip = opts.requested_ip }
  local offer = reply({ offer = true }, "a DHCP offer")
  local server = offer.dhcp.options.server_id or offer.ipv4.src
  send { msgtype = "request", requested_ip = offer.dhcp.yiaddr, server_id = server }
  local ack = reply({ ack = true, nak = true }, "a DHCP ack")
  if ack.dhcp.msgtype == "nak" then
    error(("dhcp: server %s refused %s: %s"):format(server, offer.dhcp.yiaddr, ack.dhcp.options.message or "NAK"), 2)
  end
  local o = ack.dhcp.options
  local lease = {
    address = ack.dhcp.yiaddr, mask = o.subnet_mask, router = o.router and o.router[1],
    routers = o.router, dns = o.dns and o.dns[1], dns_servers = o.dns or {},
    lease_time = o.lease_time, server = server, domain = o.domain, hostname = o.hostname,
    bootfile = o.bootfile or (ack.dhcp.file ~= "" and ack.dhcp.file or nil),
    next_server = ack.dhcp.siaddr, tftp_server = o.tftp_server, options = o, raw = ack.dhcp.raw,
  }
  self:configure { ip = lease.address, mask = lease.mask or 24, gw = lease.router, dns = lease.dns }
  if ack.eth.src and server then self.arp_cache[server] = self.arp_cache[server] or ack.eth.src end
  self.lease = lease
  return lease
end

-- ---------------------------------------------------------------- TCP

local function seq_add(a, n) return (a + n) & 0xffffffff end
local function seq_lt(a, b) return a ~= b and ((b - a) & 0xffffffff) < 0x80000000 end
local function seq_le(a, b) return a == b or seq_lt(a, b) end

local function conn_key(rip, rport, lport) return rip .. ":" .. rport .. ":" .. lport end

local function new_conn(h, rip, rport, lport, rmac)
  local c = setmetatable({
    host = h, rip = rip, rport = rport, lport = lport, rmac = rmac,
    iss = math.random(0, 0xffffffff), rbuf = {}, rlen = 0, peer_window = 65535, mss = 536,
    state = "CLOSED", bytes_in = 0, bytes_out = 0,
  }, Conn)
  c.snd_una, c.snd_nxt = c.iss, c.iss
  h.conns[conn_key(rip, rport, lport)] = c
  return c
end

local RECV_WINDOW = 65535

-- Sends a segment starting at snd_nxt and advances snd_nxt past what it carries (SYN, data, FIN)
-- before sending: the peer may answer synchronously, from inside this call.
function Conn:_send(flags, payload, opts)
  local h = self.host
  payload = payload or ""
  local seq = self.snd_nxt
  local len = #payload + (flags:find("S") and 1 or 0) + (flags:find("F") and 1 or 0)
  self.snd_nxt = seq_add(seq, len)
  local t = { sport = self.lport, dport = self.rport, seq = seq, flags = flags,
              window = math.max(0, RECV_WINDOW - self.rlen), options = opts }
  if flags:find("A") then t.ack = self.rcv_nxt end
  h:send_ip(self.rip, { tcp = t, payload = payload }, self.rmac)
end

function Host:_tcp(r, seg)
  local c = self.conns[conn_key(r.ipv4.src, seg.sport, seg.dport)]
  if not c then
    local l = self.listeners[seg.dport]
    if not l or not seg.syn or seg.ack_flag then return false end
    if seg.rst then return true end
    c = new_conn(self, r.ipv4.src, seg.sport, seg.dport, r.eth.src)
    c.listener = l
    c.rcv_nxt = seq_add(seg.seq, 1)
    c.peer_window = seg.window
    c.mss = seg.options.mss or 536
    c.state = "SYN_RCVD"
    c:_send("SA", "", { mss = 1460 })
    return true
  end
  c:_input(seg)
  -- A connection that has fully closed (or was reset) frees its four-tuple for a new one.
  if c.state == "CLOSED" then self.conns[conn_key(c.rip, c.rport, c.lport)] = nil end
  notify(self)
  return true
end

function Conn:_input(seg)
  if seg.rst then
    if self.state ~= "CLOSED" then self.reset = "connection reset by peer" end
    self.state = "CLOSED"
    return
  end
  if self.state == "SYN_SENT" then
    if seg.syn and seg.ack_flag and seg.ack == self.snd_nxt then
      self.rcv_nxt = seq_add(seg.seq, 1)
      self.snd_una = seg.ack
      self.peer_window = seg.window
      self.mss = seg.options.mss or 536
      self.state = "ESTABLISHED"
      self.established = true
      self:_send("A")
    end
    return
  end
  if seg.syn then
    -- A retransmitted SYN(-ACK): our answer was lost or is late; acknowledge again.
    if self.state == "SYN_RCVD" then
      self.snd_nxt = self.iss
      self:_send("SA", "", { mss = 1460 })
    else
      self:_send("A")
    end
    return
  end
  if seg.ack_flag then
    if seq_lt(self.snd_una, seg.ack) and seq_le(seg.ack, self.snd_nxt) then self.snd_una = seg.ack end
    self.peer_window = seg.window
    if self.state == "SYN_RCVD" and self.snd_una == self.snd_nxt then
      self.state = "ESTABLISHED"
      self.established = true
      local l = self.listener
      if l and not l.closed then l.pending[#l.pending + 1] = self end
    end
    if self.fin_seq and seq_lt(self.fin_seq, self.snd_una) then
      if self.state == "FIN_WAIT_1" then self.state = "FIN_WAIT_2"
      elseif self.state == "CLOSING" or self.state == "LAST_ACK" then self.state = "CLOSED" end
    end
  end
  local data = seg.payload
  if #data > 0 or seg.fin then
    if seg.seq ~= self.rcv_nxt then
      self:_send("A")   -- out of order or a duplicate: say what we expect
      return
    end
    if #data > 0 then
      self.rbuf[#self.rbuf + 1] = data
      self.rlen = self.rlen + #data
      self.bytes_in = self.bytes_in + #data
      self.rcv_nxt = seq_add(self.rcv_nxt, #data)
    end
    if seg.fin then
      self.rcv_nxt = seq_add(self.rcv_nxt, 1)
      self.peer_fin = true
      if self.state == "ESTABLISHED" or self.state == "SYN_RCVD" then self.state = "CLOSE_WAIT"
      elseif self.state == "FIN_WAIT_1" then self.state = "CLOSING"
      elseif self.state == "FIN_WAIT_2" then self.state = "CLOSED" end
    end
    self:_send("A")
  end
end

-- h:tcp_connect(ip, port, {timeout=, sport=}): an established connection.
function Host:tcp_connect(ip, port, opts)
  opts = opts or {}
  ip = P.ip4_str(P.ip4_bytes(ip))
  local mac = self:resolve(ip, opts)
  local c = new_conn(self, ip, port, opts.sport or self:ephemeral_port(), mac)
  c.state = "SYN_SENT"
  c:_send("S", "", { mss = 1460 })
  local ok, err = pcall(wait_until, self, ("a TCP connection to %s:%d"):format(ip, port), opts,
    function() return c.state ~= "SYN_SENT" end)
  -- The peer may already have sent data and closed by now: what counts is that it was accepted.
  if not ok or not c.established then
    self.conns[conn_key(c.rip, c.rport, c.lport)] = nil
    error(("tcp_connect %s:%d: %s"):format(ip, port, ok and (c.reset or "refused") or err), 2)
  end
  return c
end

-- h:tcp_listen(port): a listener; l:accept{timeout=} returns the next established connection.
function Host:tcp_listen(port)
  if type(port) ~= "number" or port < 1 or port > 65535 then
    error(("tcp_listen: port %s is not 1..65535"):format(tostring(port)), 2)
  end
  if self.listeners[port] then error(("tcp_listen: port %d is already listening"):format(port), 2) end
  local l = setmetatable({ host = self, port = port, pending = {} }, Listener)
  self.listeners[port] = l
  return l
end

function Listener:accept(opts)
  local h = self.host
  wait_until(h, ("a TCP connection to port %d"):format(self.port), opts, function() return #self.pending > 0 or self.closed end)
  if self.closed then error("accept: the listener was closed", 2) end
  return table.remove(self.pending, 1)
end

function Listener:close()
  self.closed = true
  if self.host.listeners[self.port] == self then self.host.listeners[self.port] = nil end
  notify(self.host)
end

-- c:send(data, {timeout=}): sends all of data in segments of at most the peer's MSS, within the
-- peer's window (waiting for ACKs to open it).
function Conn:send(data, opts)
  if self.reset then error("send: " .. self.reset, 2) end
  if self.state ~= "ESTABLISHED" and self.state ~= "CLOSE_WAIT" then
    error("send: the connection is " .. self.state, 2)
  end
  local pos = 1
  while pos <= #data do
    local inflight = (self.snd_nxt - self.snd_una) & 0xffffffff
    local room = math.min(self.peer_window - inflight, self.mss, #data - pos + 1)
    if room <= 0 then
      wait_until(self.host, "the peer's window to open", opts, function()
        return self.reset ~= nil or self.peer_window - ((self.snd_nxt - self.snd_una) & 0xffffffff) > 0
      end)
      if self.reset then error("send: " .. self.reset, 2) end
    else
      local chunk = data:sub(pos, pos + room - 1)
      self.bytes_out = self.bytes_out + #chunk
      self:_send(pos + room > #data and "PA" or "A", chunk)
      pos = pos + room
    end
  end
end

-- c:recv{timeout=, n=}: data received so far (at most n bytes), waiting for some; nil once the
-- peer has closed and everything was read. Raises if the connection was reset.
function Conn:recv(opts)
  opts = opts or {}
  wait_until(self.host, ("data on TCP %s:%d"):format(self.rip, self.rport), opts,
    function() return self.rlen > 0 or self.peer_fin or self.reset ~= nil end)
  if self.rlen == 0 then
    if self.reset then error("recv: " .. self.reset, 2) end
    return nil
  end
  local all = table.concat(self.rbuf)
  local n = opts.n or #all
  local out = all:sub(1, n)
  local rest = all:sub(n + 1)
  self.rbuf = rest ~= "" and { rest } or {}
  local was_full = self.rlen >= RECV_WINDOW
  self.rlen = #rest
  if was_full then self:_send("A") end  -- a window update
  return out
end

-- c:read_all{timeout=}: everything until the peer closes.
function Conn:read_all(opts)
  local t = {}
  while true do
    local d = self:recv(opts)
    if not d then return table.concat(t) end
    t[#t + 1] = d
  end
end

-- c:close{timeout=}: sends FIN and waits until it is acknowledged.
function Conn:close(opts)
  local h = self.host
  if self.state == "ESTABLISHED" or self.state == "CLOSE_WAIT" or self.state == "SYN_RCVD" then
    self.fin_seq = self.snd_nxt
    self.state = self.state == "CLOSE_WAIT" and "LAST_ACK" or "FIN_WAIT_1"
    self:_send("FA")
    wait_until(h, "the peer to acknowledge our FIN", opts, function()
      return self.reset ~= nil or seq_lt(self.fin_seq, self.snd_una) or self.state == "CLOSED"
    end)
  end
  if self.state == "LAST_ACK" or self.state == "CLOSED" then
    h.conns[conn_key(self.rip, self.rport, self.lport)] = nil
  end
end

-- c:abort(): sends RST and forgets the connection.
function Conn:abort()
  if self.state ~= "CLOSED" then self:_send("RA") end
  self.state = "CLOSED"
  self.host.conns[conn_key(self.rip, self.rport, self.lport)] = nil
end

-- c:info(): state, addresses, sequence numbers and byte counts.
function Conn:info()
  return { state = self.state, local_port = self.lport, remote = self.rip, remote_port = self.rport,
           snd_una = self.snd_una, snd_nxt = self.snd_nxt, rcv_nxt = self.rcv_nxt,
           bytes_in = self.bytes_in, bytes_out = self.bytes_out, buffered = self.rlen }
end

-- ---------------------------------------------------------------- IPv6: neighbour discovery, SLAAC, ping6

-- The host's link-local address (fe80:: with the modified EUI-64 of its MAC).
local function eui64(prefix, mac)
  local m = { P.mac_bytes(mac):byte(1, 6) }
  local iid = string.char(m[1] ~ 2, m[2], m[3], 0xff, 0xfe, m[4], m[5], m[6])
  return P.ip6_str(P.ip6_bytes(prefix):sub(1, 8) .. iid)
end

function Host:link_local()
  self.ll6 = self.ll6 or eui64("fe80::", self.mac)
  return self.ll6
end

local function mine6(h, a) return a == h:link_local() or (h.ip6 and a == h.ip6) end

function Host:_ipv6(r)
  local ip, m = r.ipv6, r.icmpv6
  if not m then return false end
  if m.type == 135 and mine6(self, m.target) then          -- neighbour solicitation for us
    if m.src_lladdr then self.nd_cache[ip.src] = m.src_lladdr end
    if ip.src ~= "::" then
      self:send_ip6(ip.src, { type = "na", target = m.target, solicited = true, router = false,
        tgt_lladdr = self.mac }, r.eth.src, 255)
    end
    notify(self)
    return true
  elseif m.type == 136 then                                -- neighbour advertisement
    self.nd_cache[m.target] = m.tgt_lladdr or r.eth.src
    notify(self)
    return ip.dst == self:link_local() or (self.ip6 and ip.dst == self.ip6) or false
  elseif m.type == 128 and mine6(self, ip.dst) and self.answer_ping then
    self:send_ip6(ip.src, { type = "echo_reply", id = m.id, seq = m.seq, data = m.data }, r.eth.src)
    return true
  end
  return false
end

-- Sends an ICMPv6 message (a P.icmpv6 table) to dst, from our global address when dst is not
-- link-local and we have one.
function Host:send_ip6(dst, icmp, dstmac, hlim)
  local src = (dst:match("^fe80:") or dst:match("^ff02:") or not self.ip6) and self:link_local() or self.ip6
  return self.ep:send(P.build { eth = { src = self.mac, dst = dstmac or self:resolve6(dst) },
    ipv6 = { src = src, dst = dst, hlim = hlim or 64 }, icmpv6 = icmp })
end

-- The MAC for an IPv6 neighbour: the cache, or a neighbour solicitation (asked again every second).
function Host:resolve6(ip6, opts)
  ip6 = P.ip6_str(P.ip6_bytes(ip6))
  if ip6:match("^ff") then return P.ip6_multicast_mac(ip6) end
  if not ip6:match("^fe80:") and self.router6 and not (self.prefix6 and
      P.ip6_bytes(ip6):sub(1, 8) == P.ip6_bytes(self.prefix6):sub(1, 8)) then
    ip6 = self.router6
  end
  if self.nd_cache[ip6] then return self.nd_cache[ip6] end
  local target = ip6
  local function ask()
    local sn = P.solicited_node(target)
    self.ep:send(P.build { eth = { src = self.mac, dst = P.ip6_multicast_mac(sn) },
      ipv6 = { src = self:link_local(), dst = sn, hlim = 255 },
      icmpv6 = { type = "ns", target = target, src_lladdr = self.mac } })
  end
  ask()
  local timer = self.lemu.every(1000, ask)
  local ok, err = pcall(wait_until, self, "a neighbour advertisement from " .. target, opts or {},
    function() return self.nd_cache[target] ~= nil end)
  timer:close()
  if not ok then error(err, 2) end
  return self.nd_cache[target]
end

-- Stateless autoconfiguration: a router solicitation, then the first router advertisement with
-- an autonomous prefix gives the address (prefix + EUI-64). Returns { address, prefix, prefix_len,
-- router, router_mac, dns (RDNSS list), mtu }.
function Host:slaac(opts)
  opts = opts or {}
  self.ep:send(P.build { eth = { src = self.mac, dst = P.ip6_multicast_mac("ff02::2") },
    ipv6 = { src = self:link_local(), dst = "ff02::2", hlim = 255 },
    icmpv6 = { type = "rs", src_lladdr = self.mac } })
  local f = self.ep:recv { timeout = opts.timeout, what = "a router advertisement", match = function(frame)
    local r = P.parse(frame)
    if not (r.icmpv6 and r.icmpv6.type == 134) then return false end
    for _, p in ipairs(r.icmpv6.prefixes or {}) do if p.auto and p.len == 64 then return true end end
    return false
  end }
  local r = P.parse(f)
  local ra, pfx = r.icmpv6, nil
  for _, p in ipairs(ra.prefixes) do if p.auto and p.len == 64 then pfx = p break end end
  self.prefix6 = pfx.prefix
  self.ip6 = eui64(pfx.prefix, self.mac)
  self.router6 = r.ipv6.src
  self.nd_cache[r.ipv6.src] = ra.src_lladdr or r.eth.src
  return { address = self.ip6, prefix = pfx.prefix, prefix_len = pfx.len, router = r.ipv6.src,
           router_mac = self.nd_cache[r.ipv6.src], dns = ra.rdnss or {}, mtu = ra.mtu }
end

-- ICMPv6 echo; returns the round trip in ms.
function Host:ping6(ip6, opts)
  opts = opts or {}
  ip6 = P.ip6_str(P.ip6_bytes(ip6))
  local mac = self:resolve6(ip6, opts)
  self.ping_id = ((self.ping_id or math.random(1, 0xfff0)) + 1) & 0xffff
  local id, seq, data = self.ping_id, opts.seq or 1, opts.data or "lemu ping6"
  local t0 = self.lemu.now()
  self:send_ip6(ip6, { type = "echo_request", id = id, seq = seq, data = data }, mac)
  self.ep:recv { timeout = opts.timeout, what = "an ICMPv6 echo reply from " .. ip6, match = function(frame)
    local r = P.parse(frame)
    return r.icmpv6 and r.icmpv6.type == 129 and r.icmpv6.id == id and r.icmpv6.seq == seq and r.ipv6.src == ip6
  end }
  return self.lemu.now() - t0
end

-- ---------------------------------------------------------------- TFTP

-- h:tftp_get(server, filename, {timeout=, blksize=}): the file's contents.
function Host:tftp_get(server, filename, opts)
  opts = opts or {}
  local sport = self:ephemeral_port()
  self:send_ip(server, { udp = { sport = sport, dport = 69 },
    tftp = { op = "rrq", filename = filename, options = opts.blksize and { blksize = opts.blksize } or nil } })
  local blksize, expect, parts, tid = 512, 1, {}, nil
  while true do
    local f = self.ep:recv { timeout = opts.timeout, what = ("TFTP block %d of %s"):format(expect, filename),
      match = function(frame)
        local r = P.parse(frame)
        return r.udp and r.ipv4.src == server and r.udp.dport == sport and (not tid or r.udp.sport == tid)
      end }
    local r = P.parse(f)
    tid = tid or r.udp.sport
    local m = P.parse_tftp(r.udp.payload)
    if m.op == "error" then
      error(("tftp_get %s: server error %d: %s"):format(filename, m.code, m.message), 2)
    elseif m.op == "oack" then
      blksize = tonumber(m.options.blksize) or blksize
      self:send_ip(server, { udp = { sport = sport, dport = tid }, tftp = { op = "ack", block = 0 } })
    elseif m.op == "data" then
      if m.block == expect & 0xffff then
        parts[#parts + 1] = m.data
        expect = expect + 1
      end
      self:send_ip(server, { udp = { sport = sport, dport = tid }, tftp = { op = "ack", block = m.block } })
      if m.block == (expect - 1) & 0xffff and #m.data < blksize then return table.concat(parts) end
    end
  end
end

return M
