-- The default guest on lemu's virt machine with a virtio-net NIC, driven through its console in
-- the scenarios users run: TFTP and HTTP from the host, host forwards (static and at run time),
-- restrict=on, the local DNS table, two guests on one VLAN, across two lemu processes and with a
-- QEMU guest over socket links, and IPv6 SLAAC. Host sides stay on 127.0.0.1; DNS is answered
-- by lemu from dns_hosts only.
local lemu = require "lemu"
local H = require "helper"
local Q = require "qemu_guest"

local G = require "guest"
local run = G.run

local function lease(m, ip)
  local out, st = run(m, "udhcpc -i eth0 -q -n -t 5 -T 1", 20000)
  assert.equal(0, st, out)
  assert.matches("lease of " .. (ip or "10.0.2.15"):gsub("%.", "%%.") .. " obtained", out)
end

local function static(m, addr)
  local out, st = run(m, "ip link set eth0 up && ip addr add " .. addr .. " dev eth0")
  assert.equal(0, st, out)
end

-- Starts a one-connection echo server in the guest (nc -l -e cat, in the background) and waits
-- until it listens.
local function nc_echo(m, port)
  local out, st = run(m, ("(nc -l -p %d -e cat &); until netstat -ltn | grep -q ':%d '; do usleep 20000; done")
    :format(port, port), 10000)
  assert.equal(0, st, out)
end

local function md5(path) return (H.sh("md5sum " .. H.quote(path)):match("^(%x+)")) end

local function random_bytes(n)
  local t = {}
  for i = 1, n do t[i] = string.char(math.random(0, 255)) end
  return table.concat(t)
end

-- A host HTTP/1.0 server on 127.0.0.1 (any port) that answers every GET with body; counts
-- connections in srv.hits.
local function http_server(body)
  local srv = { hits = 0 }
  srv.l = lemu.tcp_listen("127.0.0.1", 0, function(s)
    srv.hits = srv.hits + 1
    s:read_until("\r\n\r\n", { timeout = 10000 })
    s:write(("HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n")
      :format(#body) .. body)
    s:drain { timeout = 10000 }
    s:close()
  end)
  srv.port = select(2, srv.l:address())
  return srv
end

-- GET path from 127.0.0.1:port; returns the whole reply.
local function http_get(port, path)
  local s = lemu.tcp_connect("127.0.0.1", port, { timeout = 5000 })
  s:write("GET " .. path .. " HTTP/1.0\r\nHost: guest\r\n\r\n")
  local reply = s:read_all { timeout = 10000 }
  s:close()
  return reply
end

local function hostfwd_port(u, guest_port)
  for _, f in ipairs(u:info().forwards) do
    if f.kind == "hostfwd" and f.guest_port == guest_port then return f.host_port end
  end
  error("no hostfwd to guest port " .. guest_port)
end

-- A TCP port on 127.0.0.1 that nothing listens on now.
local function free_port()
  local l = lemu.tcp_listen("127.0.0.1", 0)
  local port = select(2, l:address())
  l:close()
  return port
end

describe("guest scenarios on lemu's virt machine", function()
  local dirs = {}
  local function tmpdir()
    local d = H.tmpdir()
    dirs[#dirs + 1] = d
    return d
  end
  after_each(function()
    lemu.closeall()
    for _, d in ipairs(dirs) do H.sh("rm -rf " .. H.quote(d)) end
    dirs = {}
  end)
  if not G.available() then
    it("needs the guest images", function() pending("guest/images is not in this tree") end)
    return
  end

  it("tftp -g fetches a file from user-net's tftp directory intact", function()
    lemu.run(function()
      local d = tmpdir()
      H.write(d .. "/blob.bin", random_bytes(300 * 1024 + 77))   -- 601 blocks, a short last one
      local v = lemu.vlan "tftp"
      v:user{ tftp = d }
      local m = G.boot{ vlan = v }
      lease(m)
      local out, st = run(m, "cd /tmp && tftp -g -r blob.bin 10.0.2.2 && ls -l blob.bin && md5sum blob.bin", 30000)
      assert.equal(0, st, out)
      assert.matches(" 307277 ", out)
      assert.equal(md5(d .. "/blob.bin"), out:match("(%x+)  blob%.bin"))
      out, st = run(m, "tftp -g -r missing.bin 10.0.2.2", 10000)
      assert.are_not.equal(0, st, out)
      assert.matches("File not found", out)
    end)
  end)

  it("wget in the guest fetches a body intact from a host HTTP server as 10.0.2.2:PORT", function()
    lemu.run(function()
      local d = tmpdir()
      local body = random_bytes(200 * 1024)
      H.write(d .. "/body", body)
      local srv = http_server(body)
      local v = lemu.vlan "wget"
      v:user{}
      local m = G.boot{ vlan = v }
      lease(m)
      local out, st = run(m, ("wget -T 10 -q -O /tmp/body http://10.0.2.2:%d/body && ls -l /tmp/body && md5sum /tmp/body")
        :format(srv.port), 30000)
      assert.equal(0, st, out)
      assert.matches(" " .. #body .. " ", out)
      assert.equal(md5(d .. "/body"), out:match("(%x+)  /tmp/body"))
      assert.equal(1, srv.hits)
    end)
  end)

  it("hostfwd reaches the guest's httpd (a start rule) and nc -l (a run-time rule) until removed", function()
    lemu.run(function()
      local v = lemu.vlan "fwd"
      local u = v:user{ hostfwd = { "tcp:127.0.0.1:0-:80" } }
      local m = G.boot{ vlan = v }
      lease(m)
      local out, st = run(m, "httpd -h /www -p 80")   -- it listens before it goes to the background
      assert.equal(0, st, out)
      nc_echo(m, 7777)
      local reply = http_get(hostfwd_port(u, 80), "/hello.txt")
      assert.matches("^HTTP/1%.[01] 200", reply)
      assert.matches("\r\n\r\nlemu%-guest tftp and wget test file\n$", reply)

      local port = free_port()
      local rule = u:hostfwd_add(("tcp:127.0.0.1:%d-:7777"):format(port))
      assert.equal(port, rule.host_port)
      local s = lemu.tcp_connect("127.0.0.1", port, { timeout = 5000 })
      s:write("echoed by the guest\n")
      assert.equal("echoed by the guest\n", s:read_until("\n", { timeout = 10000 }))
      s:close()

      u:hostfwd_remove(("tcp:127.0.0.1:%d"):format(port))
      local ok, err = pcall(lemu.tcp_connect, "127.0.0.1", port, { timeout = 5000 })
      assert.is_false(ok)
      assert.matches("refused", err)
      -- the start rule is still there
      assert.matches("lemu%-guest tftp and wget test file", http_get(hostfwd_port(u, 80), "/hello.txt"))
    end)
  end)

  it("restrict=on stops the guest's connections out while a hostfwd into it still works", function()
    lemu.run(function()
      local srv = http_server("not for a restricted guest\n")
      local v = lemu.vlan "restrict"
      local u = v:user{ restrict = true, hostfwd = { "tcp:127.0.0.1:0-:80" } }
      local m = G.boot{ vlan = v }
      lease(m)
      local out, st = run(m, ("wget -T 3 -q -O - http://10.0.2.2:%d/x"):format(srv.port), 15000)
      assert.are_not.equal(0, st, out)
      assert.not_matches("not for a restricted guest", out)
      out, st = run(m, ("echo hi | nc -w 3 10.0.2.2 %d"):format(srv.port), 15000)
      assert.are_not.equal(0, st, out)
      assert.equal(0, srv.hits)
      -- the same server answers the host, so it was up all along
      assert.matches("not for a restricted guest", http_get(srv.port, "/x"))
      assert.equal(1, srv.hits)
      out, st = run(m, "httpd -h /www -p 80")
      assert.equal(0, st, out)
      assert.matches("lemu%-guest tftp and wget test file", http_get(hostfwd_port(u, 80), "/hello.txt"))
    end)
  end)

  it("resolves a name from dns_hosts and fails on a name not in the table", function()
    lemu.run(function()
      local v = lemu.vlan "dns"
      local u = v:user{ dns_hosts = { ["server.test"] = "10.0.2.2", ["files.test"] = "10.0.2.77" } }
      local m = G.boot{ vlan = v }
      lease(m)
      local out, st = run(m, "nslookup files.test", 15000)
      assert.equal(0, st, out)
      assert.matches("Name:%s+files%.test%s+Address:? ?%s*10%.0%.2%.77", out)
      out, st = run(m, "ping -c 1 -W 2 server.test", 15000)
      assert.equal(0, st, out)
      assert.matches("PING server%.test %(10%.0%.2%.2%)", out)
      assert.matches("1 packets received", out)
      out, st = run(m, "nslookup nowhere.test", 15000)
      assert.are_not.equal(0, st, out)
      assert.matches("NXDOMAIN", out)
      out, st = run(m, "ping -c 1 -W 2 nowhere.test", 15000)
      assert.are_not.equal(0, st, out)
      assert.matches("bad address 'nowhere%.test'", out)
      local dns = u:info().counters.dns
      assert.is_true(dns.answered >= 2)
      assert.is_true(dns.nxdomain >= 2)
    end)
  end)

  it("two guests in one runtime lease .15 and .16 from one user-net, ping and connect to each other", function()
    lemu.run(function()
      local v = lemu.vlan "two"
      local u = v:user{}
      local a = G.boot{ vlan = v, name = "a" }
      local b = G.boot{ vlan = v, name = "b" }
      lease(a, "10.0.2.15")
      lease(b, "10.0.2.16")
      -- The hub floods their frames to user-net too; only the other guest may answer (no DUP
      -- echo replies from slirp, no RST from slirp racing the other guest's SYN-ACK).
      local out, st = run(a, "ping -c 2 -W 2 10.0.2.16", 15000)
      assert.equal(0, st, out)
      assert.matches("2 packets transmitted, 2 packets received", out)
      assert.not_matches("DUP", out)
      out, st = run(b, "ping -c 2 -W 2 10.0.2.15", 15000)
      assert.equal(0, st, out)
      assert.matches("2 packets transmitted, 2 packets received", out)
      assert.not_matches("DUP", out)
      nc_echo(b, 7777)
      out, st = run(a, "echo across the VLAN | nc -w 3 10.0.2.16 7777", 15000)
      assert.equal(0, st, out)
      assert.matches("across the VLAN", out)
      assert.is_true(u:info().counters.foreign_frames >= 8)   -- what user-net was not given
    end)
  end)

  it("two guests in two lemu processes joined by a socket link ping each other both ways", function()
    lemu.run(function()
      local d = tmpdir()
      local p = lemu.process({ H.lemu_bin, "spec/fixtures/guestpeer.lua", d, "192.168.77.2/24",
                               "192.168.77.1" }, { quiet = true })
      local v, c = lemu.vlan "sock", nil
      local ok, err = pcall(function()
        local function published(name)
          local text
          lemu.wait("the peer's " .. name, { timeout = 40000 }, function(wake)
            local t = lemu.every(20, function()
              text = H.read(d .. "/" .. name)
              if text or p:status() then wake() end
            end)
            return function() t:close() end
          end)
          if not text then error("the peer process exited with status " .. tostring((p:status()))) end
          return text
        end
        c = v:socket { connect = published("listen") }
        c:wait { timeout = 5000 }
        -- the peer's guest has the first default MAC; two machines on one wire need their own
        local m = G.boot{ vlan = v, mac = "52:54:00:aa:00:01" }
        static(m, "192.168.77.1/24")
        local out, st = run(m, "ping -c 2 -W 3 192.168.77.2", 20000)
        assert.equal(0, st, out)
        assert.matches("2 packets transmitted, 2 packets received", out)
        assert.matches("1 packets transmitted, 1 packets received", published("ping"))
      end)
      if c then c:close() end   -- first, so that the peer's exit drops no connection
      if not p:status() then p:kill() end
      pcall(p.wait, p, { timeout = 3000 })
      p:close()
      if not ok then error(err, 0) end
    end)
  end)

  it("a lemu guest and a qemu-system-riscv64 guest ping each other over a socket link", function()
    local avail, why = Q.available()
    if not avail then return pending(why) end
    lemu.run(function()
      local v = lemu.vlan "qemu"
      local l = v:socket { listen = "127.0.0.1:0" }
      local g = Q.boot { netdev = "socket,id=n0,connect=" .. l:local_addr(),
                         device = "virtio-net-device,netdev=n0,mac=52:54:00:aa:00:02" }
      local ok, err = pcall(function()
        l:wait { timeout = 10000 }
        local m = G.boot{ vlan = v, mac = "52:54:00:aa:00:01" }
        static(m, "192.168.78.1/24")
        g:expect("lemu%-guest: ready", 40000)
        g:expect("# ")
        local out, st = g:run("ip link set eth0 up && ip addr add 192.168.78.2/24 dev eth0")
        assert.equal(0, st, out)
        out, st = run(m, "ping -c 2 -W 3 192.168.78.2", 20000)
        assert.equal(0, st, out)
        assert.matches("2 packets transmitted, 2 packets received", out)
        out, st = g:run("ping -c 2 -W 3 192.168.78.1", 20000)
        assert.equal(0, st, out)
        assert.matches("2 packets transmitted, 2 packets received", out)
      end)
      l:close()   -- first, so that QEMU's exit drops no connection
      g:close()
      if not ok then error(err, 0) end
    end)
  end)

  it("gets its SLAAC address in fec0::/64 from user-net and pings fec0::2", function()
    lemu.run(function()
      local v = lemu.vlan "ipv6"
      v:user{}
      local m = G.boot{ vlan = v, mac = "52:54:00:12:34:56" }
      run(m, "ip link set eth0 up")
      -- the router advertisement, then duplicate address detection, take a moment
      local out, st = run(m, "for i in $(seq 20); do ip -6 addr show dev eth0 | "
        .. "grep fec0: | grep -qv tentative && break; sleep 0.5; done; ip -6 addr show dev eth0", 15000)
      assert.equal(0, st, out)
      -- fec0::/64 is a site-local prefix, as in QEMU
      assert.matches("inet6 fec0::5054:ff:fe12:3456/64 scope site dynamic", out)
      assert.not_matches("tentative", out)
      out, st = run(m, "ping6 -c 2 -W 2 fec0::2", 15000)
      assert.equal(0, st, out)
      assert.matches("2 packets transmitted, 2 packets received", out)
    end)
  end)
end)
