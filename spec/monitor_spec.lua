-- QEMU's monitor on lemu's command line, with the default guest: -monitor stdio (stdin a FIFO,
-- the guest's console on stdout beside it), a unix monitor beside a -nographic console, and
-- -nographic's Ctrl-A c switching the console to the monitor and back. info status around
-- stop/cont, info network and set_link as the guest sees them, hostfwd_add reaching the guest's
-- httpd from the host and hostfwd_remove closing it, system_reset booting the guest again, quit
-- ending lemu with status 0; and the -monitor values lemu refuses.
local lemu = require "lemu"
local H = require "helper"
local U = require "uboot"
local G = require "guest"

local LONG = 90000

local function guest_args(extra)
  local a = { "-M", "virt", "-m", "256M", "-kernel", G.IMAGE, "-initrd", G.INITRD, "-append", "console=ttyS0",
    "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0,id=nic0" }
  for _, x in ipairs(extra) do a[#a + 1] = x end
  return a
end

local function free_port()
  local l = lemu.tcp_listen("127.0.0.1", 0)
  local port = select(2, l:address())
  l:close()
  return port
end

-- A command on a stream monitor: its output, without the echoed line and the next prompt.
local function mon(s, cmd)
  s:write(cmd .. "\n")
  local text = s:read_until("\r\n(qemu) ", { timeout = 20000 }):gsub("\r", "")
  text = text:gsub("%(qemu%) $", "")             -- the next prompt
  return (text:gsub("^[^\n]*\n", ""))            -- the echoed command
end

describe("QEMU's monitor", function()
  if not G.available() then
    it("needs the default guest", function() pending("guest/images is not built") end)
    return
  end

  it("-monitor stdio: info status around stop and cont, info network, system_reset boots again, quit ends with 0", function()
    lemu.run(function()
      local c = U.spawn(U.argv(H.lemu_bin, guest_args { "-monitor", "stdio" }))
      local ok, err = pcall(function()
        c:expect("monitor %- type 'help' for more information\n%(qemu%) ", 20000)
        c:expect("lemu%-guest: ready", LONG)
        c:send("info status\n")
        c:expect("VM status: running\n")
        c:send("stop\ninfo status\n")
        c:expect("VM status: paused\n")
        c:send("cont\ninfo status\n")
        c:expect("VM status: running\n")
        c:send("info network\n")
        c:expect("nic0: index=0,type=nic,model=virtio%-net%-device,macaddr=52:54:00:12:34:56\n \\ n0: index=0,type=user,net=10%.0%.2%.0,restrict=off\n")
        c:send("nosuch\n")
        c:expect("unknown command: 'nosuch'\n")
        c:send("help\n")
        c:expect("hostfwd_add %[netdev_id%]")
        c:send("system_reset\n")
        c:expect("Linux version", LONG)       -- the kernel boots again
        c:expect("lemu%-guest: ready", LONG)
        c:send("quit\n")
        assert.equal(0, c:wait(20000))
      end)
      c:close()
      if not ok then error(err, 0) end
    end)
  end)

  it("a unix monitor beside -nographic: hostfwd_add reaches the guest's httpd, set_link is seen by the guest, Ctrl-A c switches, quit ends with 0", function()
    lemu.run(function()
      local dir = H.tmpdir()
      local path = dir .. "/mon.sock"
      local c = U.spawn(U.argv(H.lemu_bin, guest_args { "-nographic", "-monitor", "unix:" .. path .. ",server,nowait" }))
      local s
      local ok, err = pcall(function()
        c:expect("lemu%-guest: ready", LONG)
        c:expect("# ")
        local out, st = U.run(c, "udhcpc -i eth0 -q -n -t 5 -T 1", 30000)
        assert.equal(0, st, out)
        out, st = U.run(c, "httpd -h /www -p 80")
        assert.equal(0, st, out)

        s = lemu.unix_connect(path, { timeout = 5000 })
        assert.matches("monitor %- type 'help' for more information\r\n%(qemu%) $", s:read_until("(qemu) ", { timeout = 10000 }))
        assert.equal("VM status: running\n", mon(s, "info status"))

        local port = free_port()
        assert.equal("", mon(s, ("hostfwd_add n0 tcp:127.0.0.1:%d-:80"):format(port)))
        assert.matches(("TCP%%[HOST_FORWARD%%]%%s+%%d+%%s+127%%.0%%.0%%.1%%s+%d%%s+10%%.0%%.2%%.15%%s+80"):format(port),
          mon(s, "info usernet"))
        local h = lemu.tcp_connect("127.0.0.1", port, { timeout = 5000 })
        h:write("GET /hello.txt HTTP/1.0\r\nHost: guest\r\n\r\n")
        local reply = h:read_all { timeout = 10000 }
        h:close()
        assert.matches("^HTTP/1%.[01] 200", reply)
        assert.matches("lemu%-guest tftp and wget test file", reply)
        assert.equal(("host forwarding rule for tcp:127.0.0.1:%d removed\n"):format(port),
          mon(s, ("hostfwd_remove n0 tcp:127.0.0.1:%d"):format(port)))
        assert.is_false((pcall(lemu.tcp_connect, "127.0.0.1", port, { timeout = 5000 })))

        assert.equal("", mon(s, "set_link n0 off"))
        assert.matches("macaddr=52:54:00:12:34:56,link=down\n", mon(s, "info network"))
        out = U.run(c, "sleep 1; cat /sys/class/net/eth0/carrier")
        assert.equal("0", out:match("%d"))
        assert.equal("", mon(s, "set_link nic0 on"))
        out = U.run(c, "sleep 1; cat /sys/class/net/eth0/carrier")
        assert.equal("1", out:match("%d"))
        assert.equal("Error: Device 'nosuch' not found\n", mon(s, "set_link nosuch off"))

        -- Ctrl-A c on the -nographic console: the monitor on stdio, then back to the guest's shell.
        c:send("\1c")
        c:expect("monitor %- type 'help' for more information\n%(qemu%) ")
        c:send("stop\ninfo status\n")
        c:expect("VM status: paused\n")
        assert.equal("VM status: paused\n", mon(s, "info status"))
        c:send("cont\n")
        c:expect("%(qemu%) ")
        c:send("\1c")
        out, st = U.run(c, "echo back at the shell")
        assert.equal(0, st, out)
        assert.matches("back at the shell", out)

        s:write("quit\n")
        assert.equal(0, c:wait(20000))
      end)
      if s then s:close() end
      c:close()
      H.sh("rm -rf " .. H.quote(dir))
      if not ok then error(err, 0) end
    end)
  end)

  it("lemu.monitor(line), lemu.netdev(id) and lemu.monitor_listen from Lua", function()
    local out, st = H.lemu({ "-netdev", "user,id=n0", "-e", [[
      local nd = assert(lemu.netdev("n0"))
      assert(nd.kind == "user" and nd.vlan:name() == "n0" and nd.port == "n0")
      nd.handle:hostfwd_add("tcp:127.0.0.1:0-:22")
      io.write(lemu.monitor("info usernet"))
      print(select(2, lemu.netdev("nope")))
      io.write(lemu.monitor("info status"))
      lemu.monitor("quit")]] })
    assert.equal(0, st, out)
    assert.matches("VLAN n0 %(n0%):", out)
    assert.matches("TCP%[HOST_FORWARD%]", out)
    assert.matches("no netdev 'nope' %(defined: n0%)", out)
    assert.matches("VM status: no machine", out)

    -- As QEMU's -S: a machine that never ran is "paused (prelaunch)"; stopped after running, "paused".
    out, st = H.lemu({ "-e", [[
      local m = lemu.machine{ bios = "none", kernel = "guest/board/echo.elf", ram = "16M", start = false }
      io.write(lemu.monitor("info status"))
      m:start()
      m:pause()
      io.write(lemu.monitor("info status"))
      lemu.monitor("quit")]] })
    assert.equal(0, st, out)
    assert.equal("VM status: paused (prelaunch)\nVM status: paused\n", out)

    -- A script's own lab behind lemu.monitor_listen; quit there ends lemu with 0.
    local dir = H.tmpdir()
    out, st = H.lemu({ "-e", ([[
      local u = lemu.vlan("lab"):user{}
      lemu.monitor_listen("unix:%s/m.sock,server,nowait")
      lemu.spawn(function()
        local s = lemu.unix_connect("%s/m.sock")
        s:read_until("(qemu) ")
        s:write("info usernet\n")
        io.write((s:read_until("(qemu) ")))
        s:write("quit\n")
      end)
      keep = lemu.core.timer(86400000, 86400000, function() end)]]):format(dir, dir) })
    H.sh("rm -rf " .. H.quote(dir))
    assert.equal(0, st, out)
    assert.matches("VLAN lab %(user%):", out)
  end)

  it("a tcp monitor on loopback serves a network built from options, and quit ends lemu with 0", function()
    lemu.run(function()
      local port = free_port()
      local c = U.spawn(U.argv(H.lemu_bin, { "-netdev", "user,id=n0",
        "-monitor", ("tcp:127.0.0.1:%d,server,nowait"):format(port) }), 60)
      local s
      local ok, err = pcall(function()
        local deadline = lemu.now() + 20000
        while not s do
          local okc, r = pcall(lemu.tcp_connect, "127.0.0.1", port, { timeout = 2000 })
          if okc then s = r elseif lemu.now() > deadline then error(r) else lemu.sleep(50) end
        end
        s:read_until("(qemu) ", { timeout = 10000 })
        assert.equal("n0: index=0,type=user,net=10.0.2.0,restrict=off\n", mon(s, "info network"))
        assert.equal("", mon(s, "hostfwd_add tcp:127.0.0.1:0-:22"))
        assert.matches("VLAN n0 %(n0%):\n.*TCP%[HOST_FORWARD%]", mon(s, "info usernet"))
        assert.equal("VM status: no machine\n", mon(s, "info status"))
        s:write("quit\n")
        assert.equal(0, c:wait(20000))
      end)
      if s then s:close() end
      c:close()
      if not ok then error(err, 0) end
    end)
  end)

  it("-nographic alone: Ctrl-A c is the monitor (quit ends with 0); -monitor none takes it away", function()
    lemu.run(function()
      local c = U.spawn(U.argv(H.lemu_bin, { "-M", "virt", "-nographic", "-bios", "none", "-kernel", "guest/board/echo.elf" }), 60)
      local ok, err = pcall(function()
        c:expect("echo>", 20000)
        c:send("\1c")
        c:expect("monitor %- type 'help' for more information\n%(qemu%) ")
        c:send("info status\n")
        c:expect("VM status: running\n")
        c:send("quit\n")
        assert.equal(0, c:wait(20000))
      end)
      c:close()
      if not ok then error(err, 0) end
      c = U.spawn(U.argv(H.lemu_bin, { "-M", "virt", "-nographic", "-bios", "none", "-kernel", "guest/board/echo.elf",
        "-monitor", "none" }), 60)
      ok, err = pcall(function()
        c:expect("echo>", 20000)
        c:send("\1c")
        c:expect("lemu: no monitor")
        c:send("\1x")
        assert.equal(0, c:wait(20000))
      end)
      c:close()
      if not ok then error(err, 0) end
    end)
  end)

  it("refuses -monitor values it cannot serve, naming the value and why", function()
    local cases = {
      { { "-monitor", "tcp:0.0.0.0:4444,server,nowait" }, "loopback only" },
      { { "-monitor", "unix:/tmp/x.sock,server" }, "add nowait" },
      { { "-monitor", "unix:/tmp/x.sock" }, "add server,nowait" },
      { { "-monitor", "vc" }, "'vc': lemu's monitor takes stdio" },
      { { "-monitor", "tcp:127.0.0.1:99999,server,nowait" }, "out of range" },
      { { "-M", "virt", "-bios", "none", "-nographic", "-monitor", "stdio" }, "stdin is already the %-nographic console" },
    }
    for _, k in ipairs(cases) do
      local out, st = H.lemu(k[1])
      assert.equal(1, st, out)
      assert.matches("^lemu: %-monitor ", out)
      assert.matches(k[2], out)
    end
  end)
end)
