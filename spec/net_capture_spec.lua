-- pcap capture: files tshark reads back with the right frames and timestamps, on a VLAN or one port,
-- valid while still being written; -net dump and -object filter-dump on the command line.
local lemu = require "lemu"
local P = require "lemu.packet"
local H = require "helper"

local function need_tshark()
  if not H.have("tshark") then pending("tshark is not installed (scripts/deps.sh installs it)") return false end
  return true
end

-- tshark's view of a file: one line per frame with the fields asked for.
local function tshark(file, fields)
  local args = {}
  for _, f in ipairs(fields) do args[#args + 1] = "-e " .. f end
  -- stderr apart: tshark warns about running as root there
  local p = io.popen("tshark -r " .. H.quote(file) .. " -T fields -E separator=/t " .. table.concat(args, " ") .. " 2>/dev/null")
  local out = p:read("a")
  assert.is_true(p:close(), "tshark failed on " .. file)
  local rows = {}
  for line in out:gmatch("[^\n]+") do
    local row = {}
    for v in (line .. "\t"):gmatch("([^\t]*)\t") do row[#row + 1] = v end
    rows[#rows + 1] = row
  end
  return rows
end

-- A plain reader for the cheaper checks (tshark takes seconds to start): the records of a classic
-- little-endian pcap file as { ts, caplen, len, data }.
local function records(file)
  local s = assert(H.read(file))
  local magic = string.unpack("<I4", s)
  assert.equal(0xa1b2c3d4, magic)
  local out, pos = {}, 25
  while pos <= #s do
    local sec, usec, incl, orig = string.unpack("<I4I4I4I4", s, pos)
    out[#out + 1] = { ts = sec + usec / 1e6, caplen = incl, len = orig, data = s:sub(pos + 16, pos + 15 + incl) }
    pos = pos + 16 + incl
  end
  return out
end

local A, S = "52:54:00:12:34:56", "52:55:0a:00:02:02"

-- A DHCP exchange crafted by hand: discover, offer, request, ack (and an ARP probe first).
local function dhcp_exchange(client, server)
  local function send(ep, src, dst, sip, dip, sport, dport, dhcp)
    ep:send(P.build { eth = { src = src, dst = dst }, ipv4 = { src = sip, dst = dip },
      udp = { sport = sport, dport = dport }, dhcp = dhcp })
  end
  client:send(P.build { eth = { src = A, dst = P.broadcast }, arp = { op = "request", sha = A, spa = "0.0.0.0", tpa = "10.0.2.2" } })
  send(client, A, P.broadcast, "0.0.0.0", "255.255.255.255", 68, 67, { xid = 42, chaddr = A, options = { msgtype = "discover" } })
  send(server, S, P.broadcast, "10.0.2.2", "255.255.255.255", 67, 68, { xid = 42, chaddr = A, yiaddr = "10.0.2.15",
    options = { msgtype = "offer", server_id = "10.0.2.2", lease_time = 86400, router = "10.0.2.2", dns = "10.0.2.3" } })
  send(client, A, P.broadcast, "0.0.0.0", "255.255.255.255", 68, 67, { xid = 42, chaddr = A,
    options = { msgtype = "request", requested_ip = "10.0.2.15", server_id = "10.0.2.2" } })
  send(server, S, P.broadcast, "10.0.2.2", "255.255.255.255", 67, 68, { xid = 42, chaddr = A, yiaddr = "10.0.2.15",
    options = { msgtype = "ack", server_id = "10.0.2.2", lease_time = 86400, router = "10.0.2.2", dns = "10.0.2.3" } })
end

describe("pcap capture", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function()
    lemu.closeall()
    H.sh("rm -rf " .. H.quote(dir))
  end)

  it("of a crafted ARP/DHCP exchange reads back in tshark with the right frames", function()
    if not need_tshark() then return end
    local file = dir .. "/dhcp.pcap"
    local before = os.time()
    lemu.run(function()
      local v = lemu.vlan("cap-dhcp")
      local cap = v:capture { file = file }
      dhcp_exchange(v:endpoint { mac = A }, v:endpoint { mac = S })
      assert.equal(5, cap:info().frames)
      cap:close()
    end)
    local rows = tshark(file, { "frame.time_epoch", "eth.src", "_ws.col.Protocol", "dhcp.option.dhcp", "dhcp.id", "dhcp.ip.your", "ip.checksum.status", "udp.checksum.status" })
    assert.equal(5, #rows)
    assert.same({ A, "ARP" }, { rows[1][2], rows[1][3] })
    local types = {}
    for i = 2, 5 do
      assert.equal("DHCP", rows[i][3])
      types[#types + 1] = rows[i][4]
      assert.equal("0x0000002a", rows[i][5])
    end
    assert.same({ "1", "2", "3", "5" }, types)   -- discover, offer, request, ack
    assert.equal("10.0.2.15", rows[3][6])
    -- timestamps: wall-clock time of the run, in order
    local t1, t5 = tonumber(rows[1][1]), tonumber(rows[5][1])
    assert.is_true(t1 >= before - 1 and t5 <= os.time() + 1, ("timestamps %s..%s, run at %d"):format(t1, t5, before))
    assert.is_true(t5 >= t1)
  end)

  it("is a valid pcap while it is still being written", function()
    if not need_tshark() then return end
    local file = dir .. "/live.pcap"
    local v = lemu.vlan("cap-live")
    local cap = v:capture { file = file }
    local a = v:endpoint { mac = A }
    v:endpoint()
    a:send(P.build { eth = { src = A }, arp = { op = "request", sha = A, spa = "10.0.2.15", tpa = "10.0.2.2" } })
    local head = H.read(file)
    assert.equal(string.pack("<I4I2I2i4I4I4I4", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1), head:sub(1, 24))
    assert.equal(1, #tshark(file, { "frame.number" }))
    a:send(P.build { eth = { src = A }, arp = { op = "request", sha = A, spa = "10.0.2.15", tpa = "10.0.2.3" } })
    assert.equal(2, #tshark(file, { "frame.number" }))
    cap:close()
  end)

  it("keeps snaplen bytes of each frame and the original length", function()
    local file = dir .. "/snap.pcap"
    local v = lemu.vlan("cap-snap")
    local cap = v:capture { file = file, snaplen = 64 }
    local a = v:endpoint()
    v:endpoint()
    a:send(P.build { eth = { src = a.mac }, ipv4 = { src = "1.1.1.1", dst = "2.2.2.2" }, udp = { sport = 9, dport = 9 }, payload = ("z"):rep(1000) })
    cap:close()
    local r = records(file)
    assert.equal(1, #r)
    assert.same({ 64, 1042 }, { r[1].caplen, r[1].len })
    assert.equal(64, #r[1].data)
  end)

  it("on one port sees only that port's traffic, both ways", function()
    local file = dir .. "/port.pcap"
    local v = lemu.vlan("cap-port")
    local a, b, c = v:endpoint { name = "a" }, v:endpoint { name = "b" }, v:endpoint { name = "c" }
    local cap = b:capture { file = file }
    local function arp(ep, tpa) ep:send(P.build { eth = { src = ep.mac }, arp = { op = "request", sha = ep.mac, spa = "10.0.0.9", tpa = tpa } }) end
    arp(a, "10.0.0.1")   -- reaches b
    arp(b, "10.0.0.2")   -- from b
    c:send(P.build { eth = { src = c.mac, dst = a.mac }, arp = { op = "reply", sha = c.mac, spa = "10.0.0.3", tpa = "10.0.0.9", tha = a.mac } })
    assert.equal(3, cap:info().frames)  -- b receives the unicast too: a hub floods
    cap:close()
    local got = {}
    for _, r in ipairs(records(file)) do got[#got + 1] = P.parse(r.data).arp.tpa end
    assert.same({ "10.0.0.1", "10.0.0.2", "10.0.0.9" }, got)
  end)

  it("stops cleanly when its port or VLAN goes away, and the file stays readable", function()
    local file = dir .. "/gone.pcap"
    local v = lemu.vlan("cap-gone")
    local a, b = v:endpoint(), v:endpoint()
    local cap = b:capture { file = file }
    a:send(P.build { eth = { src = a.mac }, arp = { op = 1, sha = a.mac, spa = "1.1.1.1", tpa = "1.1.1.2" } })
    b:close()
    assert.is_false(cap:info().attached)
    local vcap = v:capture { file = dir .. "/vlan.pcap" }
    v:close()
    assert.is_false(vcap:info().attached)
    cap:close()
    vcap:close()
    assert.equal(1, #records(file))
  end)

  it("of a user-net port records each frame in the order it crossed the port (discover before offer)", function()
    local file = dir .. "/user.pcap"
    lemu.run(function()
      local v = lemu.vlan("cap-user")
      local u = v:user {}
      -- slirp answers inside the call that hands it the discover: the offer crosses the port then
      local cap = v:capture { file = file, port = u:info().name }
      local ep = v:endpoint { mac = A }
      local function dhcp(msgtype, extra)
        local o = { msgtype = msgtype }
        for k, x in pairs(extra or {}) do o[k] = x end
        ep:send(P.build { eth = { src = A, dst = P.broadcast }, ipv4 = { src = "0.0.0.0", dst = "255.255.255.255" },
          udp = { sport = 68, dport = 67 }, dhcp = { xid = 7, chaddr = A, options = o } })
        return ep:recv { timeout = 2000, match = function(f) return P.parse(f).dhcp ~= nil end }
      end
      dhcp("discover")
      dhcp("request", { requested_ip = "10.0.2.15", server_id = "10.0.2.2" })
      cap:close()
    end)
    local types = {}
    for _, r in ipairs(records(file)) do
      local d = P.parse(r.data).dhcp
      if d then types[#types + 1] = d.msgtype end
    end
    assert.same({ "discover", "offer", "request", "ack" }, types)
  end)

  it("refuses a file it cannot create and bad options, naming them", function()
    local v = lemu.vlan("cap-bad")
    assert.has_error(function() v:capture { file = dir .. "/no/such/dir/x.pcap" } end,
      ("capture: cannot create '%s/no/such/dir/x.pcap': No such file or directory"):format(dir))
    assert.has_error(function() v:capture { file = dir .. "/x.pcap", snaplen = 2 } end,
      "capture: snaplen=2 must be a number of bytes from 14 to 262144")
    assert.has_error(function() v:capture { file = dir .. "/x.pcap", snap = 2 } end,
      "capture: unknown option 'snap' (valid: file, snaplen, port)")
    assert.has_error(function() v:capture {} end, "capture: file= must name the pcap file to write")
  end)
end)

describe("capture on the command line", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.sh("rm -rf " .. H.quote(dir)) end)

  local script = [[
    local lemu = require "lemu"
    local P = lemu.packet
    local v = lemu.vlan(%d)
    local a = v:endpoint()
    v:endpoint()
    a:send(P.build { eth = { src = a.mac }, arp = { op = 1, sha = a.mac, spa = "10.0.2.15", tpa = "10.0.2.2" } })
    lemu.closeall()
  ]]

  it("-net dump,vlan=N,file=F,len=L writes VLAN N's frames", function()
    if not need_tshark() then return end
    local file = dir .. "/dump.pcap"
    local out, status = H.lemu { "-net", "dump,vlan=3,file=" .. file .. ",len=48", "-e", script:format(3) }
    assert.equal(0, status, out)
    assert.same({ { "60", "48", "10.0.2.2" } }, tshark(file, { "frame.len", "frame.cap_len", "arp.dst.proto_ipv4" }))
  end)

  it("a bad -net or -object option ends lemu at once, naming it", function()
    local out, status = H.lemu { "-net", "dump,vlan=0,fil=x.pcap" }
    assert.equal(1, status)
    assert.equal("lemu: -net dump,vlan=0,fil=x.pcap: unknown option 'fil' (valid: vlan, file, len, id, name)\n", out)
    out, status = H.lemu { "-net", "nosuchkind" }
    assert.equal(1, status)
    assert.matches("^lemu: %-net nosuchkind: unknown kind 'nosuchkind' %(valid: dump", out)
    out, status = H.lemu { "-object", "filter-dump,id=f0,netdev=n0,file=" .. dir .. "/f.pcap" }
    assert.equal(1, status)
    assert.matches("netdev=n0: no such netdev", out)
  end)
end)
