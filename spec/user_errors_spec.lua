-- User-mode networking, bad input: each mistake is a clear error at the call that made it, and the
-- runtime (and the user net already running) goes on. Also the command line's -netdev/-net user.
local lemu = require "lemu"
local G = require "usernet_helper"
local H = require "helper"

local DNS = { ["server.test"] = "10.0.2.2" }

local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("vlan:user bad input", function()
  after_each(function() lemu.closeall() end)

  it("names an unknown option and lists the valid ones", function()
    local e = err_of(function() lemu.vlan("e1"):user { dns_hosts = DNS, hostfwd_rule = "x" } end)
    assert.matches("unknown option 'hostfwd_rule'", e, 1, true)
    assert.matches("valid: net, host, dhcpstart, dns,", e, 1, true)
    assert.matches("user_errors_spec.lua:%d+:", e)   -- raised at the caller's line
  end)

  it("accepts ipv6_net and ipv6-net as the same option, and refuses both at once", function()
    local u = lemu.vlan("e2"):user { ipv6_net = "fd00:1::/64", dns_hosts = DNS }
    assert.equal("fd00:1::/64", u:info().config["ipv6-net"])
    assert.equal("fd00:1::2", u:info().config["ipv6-host"])
    u:close()
    local e = err_of(function() lemu.vlan("e2b"):user { ipv6_net = "fd00::/64", ["ipv6-net"] = "fd00::/64" } end)
    assert.matches("given twice", e)
  end)

  it("refuses addresses outside the network", function()
    assert.matches("option 'host': 10.0.3.2 is outside the network 10.0.2.0/24",
      err_of(function() lemu.vlan("e3"):user { host = "10.0.3.2" } end), 1, true)
    assert.matches("option 'dhcpstart': 192.168.1.15 is outside the network 10.0.2.0/24",
      err_of(function() lemu.vlan("e3"):user { dhcpstart = "192.168.1.15" } end), 1, true)
    assert.matches("guest address 10.9.9.9 is outside the network",
      err_of(function() lemu.vlan("e3"):user { hostfwd = "tcp::0-10.9.9.9:22" } end), 1, true)
    assert.matches("option 'net': prefix length 33 is outside 8..30",
      err_of(function() lemu.vlan("e3"):user { net = "10.0.2.0/33" } end), 1, true)
    assert.matches("option 'ipv6-host': outside", err_of(function()
      lemu.vlan("e3"):user { ["ipv6-host"] = "fd00:99::2" } end), 1, true)
    assert.matches("at least one must be on", err_of(function() lemu.vlan("e3"):user { ipv4 = "off", ipv6 = false } end))
    assert.matches("option 'restrict': 'maybe' is not on or off", err_of(function() lemu.vlan("e3"):user { restrict = "maybe" } end))
  end)

  it("refuses a missing tftp directory and names it", function()
    assert.matches("option 'tftp': directory '/nonexistent/lemu-tftp' does not exist",
      err_of(function() lemu.vlan("e4"):user { tftp = "/nonexistent/lemu-tftp" } end), 1, true)
  end)

  it("refuses malformed rules with QEMU's syntax in the message, and the net goes on", function()
    lemu.run(function()
      local v = lemu.vlan("e5")
      local u = v:user { dns_hosts = DNS }
      local function bad(rule, pat)
        local e = err_of(u.hostfwd_add, u, rule)
        assert.matches(pat, e, 1, true)
      end
      bad("tcp:2222", "is malformed: expected [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport")
      bad("sctp::2222-:22", "protocol 'sctp' is not tcp, udp or unix")
      bad("unix:relative.sock-:22", "the Unix socket path must be absolute")
      bad("tcp::70000-:22", "host port '70000' is not 0..65535")
      bad("tcp::2222-:0", "guest port '0' is not 1..65535")
      bad("tcp:localhost:2222-:22", "host address 'localhost' is not an IPv4 address")
      bad("tcp::2222-:22x", "guest port '22x'")
      assert.matches("no such forward", err_of(u.hostfwd_remove, u, "tcp::2222"))
      assert.matches("is malformed", err_of(u.guestfwd_add, u, "tcp:10.0.2.100"))
      assert.matches("must be an unused address inside the network",
        err_of(u.guestfwd_add, u, "tcp:10.0.2.2:80-cmd:cat"))
      assert.matches("not cmd:COMMAND or [tcp:]HOST:PORT",
        err_of(u.guestfwd_add, u, "tcp:10.0.2.100:80-chardev:x"), 1, true)
      assert.equal(0, #u:info().forwards)
      -- base 0 ports, as QEMU parses them
      local f = u:hostfwd_add("udp::0-:0x35")
      assert.equal(53, f.guest_port)
      local g = G.new(v)
      assert.equal("10.0.2.15", g:dhcp().yiaddr)
    end)
  end)

  it("reports a host port already in use", function()
    lemu.run(function()
      local l = lemu.tcp_listen("127.0.0.1", 0)
      local _, port = l:address()
      local u = lemu.vlan("e6"):user { dns_hosts = DNS }
      local e = err_of(u.hostfwd_add, u, "tcp::" .. port .. "-:22")
      assert.matches(("cannot listen on TCP 127.0.0.1:%d: Address already in use"):format(port), e, 1, true)
      -- an empty host address means 127.0.0.1, so an explicit 127.0.0.1 is the same forward
      u:hostfwd_add("tcp::" .. (port == 65535 and 65534 or port + 1) .. "-:22")
      assert.equal("127.0.0.1", u:info().forwards[1].host_addr)
    end)
  end)

  it("refuses frames shorter than an Ethernet header or longer than 65535 bytes at ep:send", function()
    lemu.run(function()
      local v = lemu.vlan("e7")
      local u = v:user { dns_hosts = DNS }
      local g = G.new(v)
      assert.has_error(function() g.ep:send("short") end)
      assert.has_error(function() g.ep:send(("\0"):rep(65536)) end)
      assert.equal("10.0.2.15", g:dhcp().yiaddr)
      assert.is_true(u:info().counters.rx.frames >= 2)
    end)
  end)

  it("smb= writes QEMU's private smb.conf, runs smbd per connection to 10.0.2.4:445, removes it on close", function()
    local share = H.tmpdir()
    local fake = H.tmpdir() .. "/smbd"
    -- A stand-in smbd: shows the guest its arguments and the generated configuration.
    H.write(fake, "#!/bin/sh\necho \"args: $*\"\ncat \"$4\"\n")
    H.sh("chmod +x " .. H.quote(fake))
    local saved = lemu.smbd
    lemu.smbd = fake
    local smbdir
    lemu.run(function()
      local v = lemu.vlan "smb1"
      local u = v:user { smb = share, dns_hosts = DNS }
      smbdir = u:info().config.smb_dir
      assert.matches("^/tmp/lemu%-smb%.", smbdir)
      local h = v:endpoint {}:host()
      h:dhcp()
      local c = h:tcp_connect("10.0.2.4", 445, { timeout = 3000 })
      local text = c:read_all { timeout = 5000 }
      assert.matches("args: -l " .. smbdir .. " -s " .. smbdir .. "/smb.conf", text, 1, true)
      assert.matches("[qemu]\npath=" .. share .. "\n", text, 1, true)
      assert.matches("interfaces=127.0.0.1", text, 1, true)
      assert.matches("map to guest = Bad User", text, 1, true)
      u:close()
    end)
    lemu.smbd = saved
    assert.is_nil(H.read(smbdir .. "/smb.conf"))
    assert.equal(1, select(2, H.sh("test -d " .. H.quote(smbdir))))
    H.sh("rm -rf " .. H.quote(share) .. " " .. H.quote(fake:match("^(.*)/")))
  end)

  it("refuses a share whose path smb.conf cannot hold, and a user with no name for 'force user'", function()
    local top = H.tmpdir()
    local bad = top .. "/two\nlines"
    H.sh("mkdir " .. H.quote(bad))
    local e = err_of(function() lemu.vlan("e9"):user { smb = bad, dns_hosts = DNS } end)
    assert.matches("option 'smb': '" .. bad .. "' has a line break in its path", e, 1, true)
    if H.sh("id -u"):match("%d+") == "0" and H.have("setpriv") then
      -- uid 54321 has no passwd entry here (checked): smbd could not be told whom to act as.
      assert.equal(2, select(2, H.sh("getent passwd 54321")))
      H.sh("chmod 755 " .. H.quote(top))
      local out, st = H.sh("timeout -k 5 60 setpriv --reuid=54321 --regid=54321 --clear-groups env " .. H.lemu_env
        .. H.lemu_bin .. " -netdev user,id=n0,smb=" .. H.quote(top) .. " </dev/null")
      assert.equal(1, st, out)
      assert.matches("option 'smb': uid 54321 has no user name, which smbd's 'force user' needs", out, 1, true)
    end
    H.sh("rm -rf " .. H.quote(top))
  end)

  it("says smbd is missing when it is", function()
    local dir = H.tmpdir()
    assert.matches("not a directory", err_of(function() lemu.vlan("e8"):user { smb = "/nonexistent" } end))
    if not (H.have("smbd") or select(2, H.sh("test -x /usr/sbin/smbd")) == 0) then
      local e = err_of(function() lemu.vlan("e8"):user { smb = dir, dns_hosts = DNS } end)
      assert.matches("option 'smb': smbd was not found", e, 1, true)
    elseif H.sh("id -u"):match("%d+") == "0" and H.have("unshare") then
      -- make deps installs samba: hide its smbd from a lemu in a mount namespace of its own
      -- (/dev/null over it is not executable; /sbin is /usr/sbin on Debian 12).
      local out, st = H.sh("timeout -k 5 60 unshare -m sh -c 'mount --bind /dev/null /usr/sbin/smbd && exec env "
        .. H.lemu_env .. H.lemu_bin .. " -netdev user,id=n0,smb=" .. dir .. "' </dev/null")
      assert.equal(1, st, out)
      assert.matches("option 'smb': smbd was not found (install Debian's samba package, or set lemu.smbd)", out, 1, true)
    else
      pending("smbd is installed and this is not root: the missing-smbd error cannot be shown")
    end
    H.sh("rmdir " .. H.quote(dir))
  end)
end)

describe("command line -netdev user / -net user", function()
  it("ends at once with a non-zero status naming an unknown option", function()
    local out, status = H.lemu { "-netdev", "user,id=n0,hostfwd=tcp::0-:22,colour=blue" }
    assert.equal(1, status)
    assert.matches("unknown option 'colour'", out, 1, true)
    assert.matches("valid: id, net, host,", out, 1, true)
    out, status = H.lemu { "-net", "user,vlan=1,hostfwd=tcp::2222" }
    assert.equal(1, status)
    assert.matches("hostfwd rule 'tcp::2222' is malformed", out, 1, true)
  end)

  -- Found by the option parsers' fuzz target (fuzz_opts): an id or vlan= that lemu.vlan refuses
  -- (too long, not a whole number) ended with lemu.vlan's "bad argument #1 to 'vlan'".
  it("names the id or vlan= value a VLAN cannot have, and why", function()
    local long = ("a"):rep(48)
    for _, c in ipairs {
      { { "-netdev", "user,id=" .. long }, "id=" .. long .. ": a netdev needs an id that starts with a letter" },
      { { "-nic", "user,id=" .. long }, "id=" .. long .. ": a netdev needs an id that starts with a letter" },
      { { "-net", "user,vlan=" .. long }, "vlan=" .. long .. ": a VLAN name is 1 to 47 characters" },
      { { "-net", "user,vlan=1.5" }, "vlan=1.5: expected a VLAN number (a whole number from 0)" },
      { { "-net", "user,vlan=-2" }, "vlan=-2: expected a VLAN number (a whole number from 0)" },
      { { "-net", "socket,vlan=1e30,listen=127.0.0.1:0" }, "vlan=1e30: expected a VLAN number" },
      { { "-net", "dump,vlan=99999999999999999999" }, "vlan=99999999999999999999: expected a VLAN number" },
    } do
      local out, status = H.lemu(c[1])
      assert.equal(1, status, out)
      assert.matches(c[2], out, 1, true)
      assert.not_matches("bad argument", out, 1, true)
    end
    local out, status = H.lemu { "-netdev", "user,id=" .. long:sub(1, 47), "-e", "print(lemu.vlan('" .. long:sub(1, 47) .. "'):info().name) io.stdout:flush() os.exit(0)" }
    assert.equal(0, status, out)
    assert.matches(long:sub(1, 47), out, 1, true)
  end)

  it("translates options into vlan:user calls (repeated hostfwd, dns_hosts) and keeps serving", function()
    local l = lemu.tcp_listen("127.0.0.1", 0)
    local _, port = l:address()
    l:close()
    local dir = H.tmpdir()
    local script = dir .. "/check.lua"
    H.write(script, ([[
      local lemu = require "lemu"
      local u = assert(lemu.vlan(1):ports()[1])
      assert(u.kind == "user", "a user port on VLAN 1")
      local l = lemu.vlan("gw"):ports()[1]
      print("netdev", l.kind, l.name)
      io.stdout:flush()
      os.exit(0, true)   -- the forwards would keep the network serving
    ]]))
    local out, status = H.lemu { "-net", "user,vlan=1,hostfwd=tcp::" .. port .. "-:22,hostfwd=udp::" .. port .. "-:53",
      "-netdev", "user,id=gw,restrict=on,dns_hosts=a.test=10.0.2.2", script }
    H.sh("rm -rf " .. H.quote(dir))
    assert.equal(0, status, out)
    assert.matches("netdev\tuser\tgw", out)
    -- No script: the network runs until SIGINT.
    out, status = H.sh("(" .. H.lemu_env .. H.lemu_bin .. " -netdev user,id=n0 2>&1 & p=$!; sleep 0.4; kill -INT $p; wait $p)")
    assert.equal(0, status, out)
    assert.matches("terminating on SIGINT", out)
  end)
end)
