-- deterministic_lab: three machines on two VLANs and a scripted endpoint, on the virtual clock
-- (docs/time.md). Run it twice: every line it prints, lemu.now() included, and both captures are
-- the same bytes, however busy the host is.
--   lemu scripts/deterministic_lab.lua [OUTDIR]      (run from the source tree)
lemu.clock { mode = "virtual", shift = 0, sleep = false, seed = 42 }

local out = arg and arg[1] or "."
local IMAGE, INITRD = "guest/images/Image.gz", "guest/images/initramfs.cpio.gz"
local function log(fmt, ...) print(("[%12.6f ms] " .. fmt):format(lemu.now(), ...)) end

local lan, dmz = lemu.vlan("lan"), lemu.vlan("dmz")
lan:user { restrict = true }
lan:capture { file = out .. "/lan.pcap" }
dmz:capture { file = out .. "/dmz.pcap" }
local probe = dmz:endpoint { name = "probe" }:host { ip = "192.168.7.10", mask = "255.255.255.0" }

local function machine(name, vlans)
  local m = lemu.machine { name = name, ram = "256M", kernel = IMAGE, initrd = INITRD,
                           append = "console=ttyS0", start = false }
  m.console:fail_on("Kernel panic")
  for _, v in ipairs(vlans) do m:nic { vlan = v } end
  return m
end
-- a on the LAN behind user-net, b on both VLANs, c on the DMZ with the probe.
local a, b, c = machine("a", { lan }), machine("b", { lan, dmz }), machine("c", { dmz })

local function sh(m, cmd)
  local text, status = m.console:run(cmd, { timeout = 30000 })
  log("%s$ %s -> %d", m.name, cmd, status)
  for line in text:gmatch("[^\n]+") do log("  %s", line) end
  return text, status
end

for _, m in ipairs { a, b, c } do m:start() end
for _, m in ipairs { a, b, c } do
  m.console:expect("lemu%-guest: ready", { timeout = 60000 })
  m.console:expect("# ", { timeout = 20000 })
  log("%s: shell ready", m.name)
end

sh(a, "udhcpc -i eth0 -q -n -t 5 -T 1")
sh(a, "ping -c 2 10.0.2.2")
sh(b, "ip link set eth1 up && ip addr add 192.168.7.1/24 dev eth1")
sh(c, "ip link set eth0 up && ip addr add 192.168.7.3/24 dev eth0")
sh(c, "ping -c 3 192.168.7.10")
log("probe -> c: %.6f ms", probe:ping("192.168.7.3", { timeout = 5000 }))
sh(b, "ping -c 2 192.168.7.3")
sh(c, "cat /proc/uptime")

local st = lemu.clock()
log("clock: %s, shift %s, %d quanta, deterministic %s", st.mode, st.shift, st.quanta, st.deterministic)
for _, m in ipairs { a, b, c } do m:close() end
lemu.closeall()
