-- IPv6 host forwards: QEMU's hostfwd syntax extended by brackets ("tcp:[::1]:8080-[fec0::15]:80",
-- "tcp:[::1]:8080-:80" for the default guest's SLAAC address), through slirp_add_hostxfwd. From
-- the host's ::1 to the default guest's busybox httpd over IPv6, at start and at run time; and the
-- mistakes (brackets, mixed families, IPv6 off) refused with errors naming the rule and why.
-- The guest test is pending where the host has no IPv6 loopback or the images are absent.
local lemu = require "lemu"
local G = require "guest"
local H = require "helper"

local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function has_ipv6_loopback()
  local ok = pcall(function()
    lemu.run(function() lemu.tcp_listen("::1", 0, function(s) s:close() end):close() end)
  end)
  return ok
end

describe("IPv6 host forwards", function()
  after_each(function() lemu.closeall() end)

  it("parse into IPv6 host and guest addresses, defaulting to ::1 and the guest's SLAAC address", function()
    local u = lemu.vlan("v6a"):user { hostfwd = { "tcp:[::1]:0-:80", "udp:[]:0-[fec0::15]:53" } }
    local f = u:info().forwards
    assert.equal("::1", f[1].host_addr)
    assert.is_true(f[1].ipv6)
    assert.equal("fec0::5054:ff:fe12:3456", f[1].guest_addr)
    assert.equal(80, f[1].guest_port)
    assert.is_true(f[1].host_port > 0)
    assert.equal("udp", f[2].proto)
    assert.equal("::1", f[2].host_addr)
    assert.equal("fec0::15", f[2].guest_addr)
    assert.matches("hostfwd tcp [::1]:" .. f[1].host_port .. " -> [fec0::5054:ff:fe12:3456]:80", tostring(u:info()), 1, true)
    -- removed by QEMU's short form with brackets ("[]" is ::1 there too)
    u:hostfwd_remove("tcp:[::1]:" .. f[1].host_port)
    u:hostfwd_remove("udp:[]:" .. f[2].host_port)
    assert.equal(0, #u:info().forwards)
    -- a custom prefix: the default guest address follows it
    local u2 = lemu.vlan("v6b"):user { ipv6_net = "fd00:1::/64", hostfwd = "tcp:[::1]:0-:22" }
    assert.equal("fd00:1::5054:ff:fe12:3456", u2:info().forwards[1].guest_addr)
  end)

  it("refuses bad brackets, mixed address families and IPv6 forwards with ipv6=off", function()
    local v = lemu.vlan "v6e"
    local function bad(rule, msg)
      assert.matches(msg, err_of(function() v:user { hostfwd = rule } end), 1, true)
    end
    bad("tcp:[::1:8080-:80", "hostfwd rule 'tcp:[::1:8080-:80': the IPv6 host address has no closing ']'")
    bad("tcp:[::1]8080-:80", "hostfwd rule 'tcp:[::1]8080-:80': expected ':' and the host port after ']'")
    bad("tcp:[nothost]:8080-:80", "host address '[nothost]' is not an IPv6 address")
    bad("tcp:[::1]:8080-10.0.2.15:80",
      "hostfwd rule 'tcp:[::1]:8080-10.0.2.15:80': an IPv6 host address with an IPv4 guest address '10.0.2.15'")
    bad("tcp:127.0.0.1:8080-[fec0::15]:80",
      "hostfwd rule 'tcp:127.0.0.1:8080-[fec0::15]:80': an IPv4 host address with an IPv6 guest address")
    bad("tcp:[::1]:8080-[fec0::15:80", "the IPv6 guest address has no closing ']'")
    bad("tcp:[::1]:8080-[fd99::15]:80", "guest address fd99::15 is outside the network fec0::/64")
    bad("tcp:[::1]:8080-[fec0::15]:0", "guest port '0' is not 1..65535")
    bad("tcp:::1:8080-:80", "host port ':1:8080' is not 0..65535")
    assert.matches("hostfwd rule 'tcp:[::1]:0-:80': an IPv6 forward needs ipv6=on",
      err_of(function() lemu.vlan("v6f"):user { ipv6 = false, hostfwd = "tcp:[::1]:0-:80" } end), 1, true)
    -- and on the command line, naming the option
    local out, status = H.lemu { "-netdev", "user,id=n0,hostfwd=tcp:[::1]:8080-10.0.2.15:80" }
    assert.equal(1, status)
    assert.matches("an IPv6 host address with an IPv4 guest address", out, 1, true)
  end)

  it("carry TCP from the host's ::1 to the default guest's IPv6 httpd", function()
    if not G.available() then pending("the guest images are not in this tree") return end
    if not has_ipv6_loopback() then pending("this host has no IPv6 loopback (::1): IPv6 forwards cannot be tried") return end
    lemu.run(function()
      local v = lemu.vlan "v6g"
      local u = v:user { hostfwd = "tcp:[::1]:0-:80" }
      local m = G.boot { vlan = v, mac = "52:54:00:12:34:56" }
      local out, st = m.console:run("ip link set eth0 up; for i in $(seq 20); do ip -6 addr show dev eth0 | "
        .. "grep fec0: | grep -qv tentative && break; sleep 0.5; done; ip -6 addr show dev eth0", { timeout = 15000 })
      assert.equal(0, st, out)
      assert.matches("inet6 fec0::5054:ff:fe12:3456/64", out, 1, true)
      out, st = m.console:run("httpd -h /www -p 80 && netstat -ltn")
      assert.equal(0, st, out)
      assert.matches(":::80", out, 1, true)   -- busybox httpd listens on IPv6 (and IPv4)
      local function get(port)
        local s = lemu.tcp_connect("::1", port, { timeout = 5000 })
        s:write("GET /hello.txt HTTP/1.0\r\nHost: guest\r\n\r\n")
        local reply = s:read_all { timeout = 10000 }
        s:close()
        return reply
      end
      local reply = get(u:info().forwards[1].host_port)
      assert.matches("^HTTP/1%.[01] 200", reply)
      assert.matches("lemu-guest tftp and wget test file", reply, 1, true)
      -- added at run time, to an explicit guest address; the guest saw an IPv6 peer
      local f = u:hostfwd_add("tcp:[::1]:0-[fec0::5054:ff:fe12:3456]:80")
      reply = get(f.host_port)
      assert.matches("lemu-guest tftp and wget test file", reply, 1, true)
      out = m.console:run("netstat -tn")
      assert.not_matches("10%.0%.2%.2:", out)   -- no IPv4 connection carried these
      u:hostfwd_remove("tcp:[::1]:" .. f.host_port)
      local ok = pcall(lemu.tcp_connect, "::1", f.host_port, { timeout = 2000 })
      assert.is_false(ok)
      m.console:send("poweroff -f\n")
      assert.equal(0, m:wait_exit { timeout = 20000 })
    end)
  end)
end)
