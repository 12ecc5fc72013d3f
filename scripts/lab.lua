-- lab.lua: an example lab (the README's; docs/lab.svg is its picture, `make topology` redraws it).
--
--   switch "office", 802.1Q:   user-net (access 10: DHCP, the way out, a host forward to web:80)
--                              web      (e1000 on access 10)
--                              client   (virtio-net on access 10, over a 20 ms, 10 Mbit/s link)
--                              router   (virtio-net on a trunk carrying 10 and 20)
--                              probe    (a scripted endpoint on access 20)
--
-- Both Linux guests take leases, the client fetches a page from web, every guest pings every
-- other, and the lab's topology is printed. `lemu -e 'LAB_DRAW="lab.svg"' scripts/lab.lua` only
-- builds the lab and draws it (what `make topology` does).
local lemu = require "lemu"

local here = (arg and arg[0] or "scripts/lab.lua"):match("^(.*)/scripts/[^/]*$") or "."
local IMAGE = here .. "/guest/images/Image.gz"
local INITRD = here .. "/guest/images/initramfs.cpio.gz"

local office = lemu.vlan("office", { switch = true })
local user = office:user { hostfwd = "tcp:127.0.0.1:10081-10.0.2.15:80", dns_hosts = {} }
office:access("user", 10)

local function guest(name, model, mac)
  local m = lemu.machine { name = name, ram = "256M", kernel = IMAGE, initrd = INITRD,
                           append = "console=ttyS0", start = false }
  local nic = m:nic { vlan = office, model = model, mac = mac }
  m:rng()
  m.console:fail_on("Kernel panic")
  return m, nic
end
local web, web_nic = guest("web", "e1000", "52:54:00:00:10:0f")
local client, client_nic = guest("client", "virtio-net-device", "52:54:00:00:10:10")
local router, router_nic = guest("router", "virtio-net-pci", "52:54:00:00:10:01")
office:access(web_nic, 10)
office:access(client_nic, 10)
office:trunk(router_nic, { 10, 20 })
client_nic:impair { delay = 20, rate = "10mbit", dir = "both" }
local probe = office:endpoint { name = "probe" }
office:access(probe, 20)

if LAB_DRAW then
  lemu.topology { file = LAB_DRAW }
  print("drew the lab into " .. LAB_DRAW)
  lemu.closeall()
  return
end

local function sh(m, cmd, timeout)
  m.console:send(cmd .. "; echo @@$((1+1)) $?\n")
  local _, out, st = m.console:expect("\n(.-)@@2 (%d+)", { timeout = timeout or 30000 })
  m.console:expect("# ", { timeout = 5000 })
  return out, tonumber(st)
end

for _, m in ipairs { web, client, router } do m:start() end
for _, m in ipairs { web, client, router } do m.console:expect("# ", { timeout = 60000 }) end
-- web and client lease on id 10 (web gets .15: the forward points there); the router has VLAN
-- interfaces on both ids
print("web:    " .. sh(web, "udhcpc -i eth0 -q -n -t 5 -T 1"):match("lease of [%d.]+"))
print("client: " .. sh(client, "udhcpc -i eth0 -q -n -t 5 -T 1"):match("lease of [%d.]+"))
sh(router, "ip link set eth0 up && ip link add link eth0 name eth0.10 type vlan id 10 && "
  .. "ip link set eth0.10 up && ip addr add 10.0.2.1/24 dev eth0.10")
sh(web, "httpd -h /www -p 80")
local page = sh(client, "wget -q -O - http://10.0.2.15/hello.txt")
print("client fetched from web: " .. page:gsub("%s+$", ""))
local ok, failed = lemu.ping_all { { web, "10.0.2.15" }, { client, "10.0.2.16" }, { router, "10.0.2.1" } }
print("every guest pings every other: " .. (ok and "yes" or ("no: " .. table.concat(failed, ", "))))
print(lemu.topology { format = "text" })
for _, m in ipairs { web, client, router } do m.console:send("poweroff -f\n") end
for _, m in ipairs { web, client, router } do m:wait_exit { timeout = 20000 } end
lemu.closeall()
