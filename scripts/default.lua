-- default.lua: lemu's default topology, what `make run` starts. Copy it to start your own.
--
--   host 127.0.0.1:10080 --hostfwd--> user-net (10.0.2.0/24, gateway 10.0.2.2, DNS 10.0.2.3)
--                                         | VLAN "lan"
--                                    guest: Linux 6.1 + busybox on lemu's RISC-V virt board,
--                                           virtio-net NIC, virtio-rng
--
-- The guest takes a DHCP lease, pings the gateway (the seed's check) and serves HTTP; the host
-- fetches a page through the forward. Then the guest powers off and lemu exits, unless you ran
-- `lemu -i scripts/default.lua keep`: that keeps everything running and gives you the REPL, with
-- `m` and `lan` as globals (m.console:send("ls /\n"), print(m.console:recent())).
local lemu = require "lemu"

local here = (arg and arg[0] or "scripts/default.lua"):match("^(.*)/scripts/[^/]*$") or "."
local IMAGE = here .. "/guest/images/Image.gz"
local INITRD = here .. "/guest/images/initramfs.cpio.gz"
local HOST_PORT = tonumber(os.getenv("LEMU_HTTP_PORT") or "") or 10080
local keep = arg and arg[1] == "keep"

-- A VLAN with user-mode networking. DNS names are answered inside lemu from this table, so the
-- guest's lookups never leave the machine.
lan = lemu.vlan "lan"
local user = lan:user{
  hostfwd = { ("tcp:127.0.0.1:%d-:80"):format(HOST_PORT) },
  dns_hosts = { ["host.lemu"] = "10.0.2.2" },
}

-- The machine: QEMU's virt board, lemu's built-in SBI, the committed guest images.
m = lemu.machine{ ram = "256M", kernel = IMAGE, initrd = INITRD, append = "console=ttyS0",
                  start = false }
local nic = m:nic{ vlan = lan }    -- virtio-net, MAC 52:54:00:12:34:56
m:rng()                            -- entropy, so the guest never blocks on it
m.console:fail_on("Kernel panic")
m:start()

-- m.console:run(cmd, {timeout=}) runs a command at the guest's shell and returns its output and
-- exit status; a command that does not finish in time raises an error naming it.
local function sh(cmd, timeout)
  local out, status = m.console:run(cmd, { timeout = timeout or 20000 })
  if status ~= 0 then print(("guest: '%s' exited with status %d"):format(cmd, status)) end
  return out
end

local t0 = lemu.now()
m.console:expect("lemu%-guest: ready", { timeout = 60000 })
m.console:expect("# ", { timeout = 10000 })
print(("guest booted in %.0f ms (NIC %s)"):format(lemu.now() - t0, nic.mac))

local lease = sh("udhcpc -i eth0 -q -n -t 5 -T 1", 30000):match("lease of ([%d%.]+) obtained")
print(("DHCP lease: %s after %.0f ms"):format(lease or "none", lemu.now() - t0))
local ping = sh("ping -c 3 10.0.2.2", 30000)
print("ping 10.0.2.2: " .. (ping:match("(%d+ packets transmitted, %d+ packets received[^\r\n]*)") or "failed"))
print("host.lemu resolves to " .. (sh("ping -c 1 host.lemu"):match("PING host.lemu %(([%d%.]+)%)") or "nothing"))

sh("httpd -h /www -p 80")
local s = lemu.tcp_connect("127.0.0.1", HOST_PORT, { timeout = 5000 })
s:write("GET /hello.txt HTTP/1.0\r\nHost: guest\r\n\r\n")
local reply = s:read_all { timeout = 10000 }
s:close()
print(("host fetched http://127.0.0.1:%d/hello.txt through hostfwd: %s"):format(HOST_PORT,
  (reply:match("\r\n\r\n(.*)") or reply):gsub("%s+$", "")))
print(tostring(user:info()))

if keep then
  print("the guest keeps running: m.console:send(\"ls /\\n\"); print(m.console:recent())")
else
  m.console:send("poweroff -f\n")
  print(("guest powered off with status %d"):format(m:wait_exit { timeout = 20000 }))
  lemu.closeall()   -- the user-net and its forward would otherwise serve until interrupted
end
