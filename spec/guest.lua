-- guest: the default guest image (guest/images) on lemu's virt machine, for specs — boot it with its
-- devices and drive its shell through the console (the contract in docs/guest.md).
local lemu = require "lemu"
local H = require "helper"

local G = {}

G.IMAGE, G.INITRD = "guest/images/Image.gz", "guest/images/initramfs.cpio.gz"

function G.available() return H.read(G.IMAGE) ~= nil and H.read(G.INITRD) ~= nil end

-- Boots the default guest: a NIC on opts.vlan (with opts.mac, of opts.model) when given, then opts.plug(m) for
-- other devices; opts.name names the machine, opts.smp gives it harts, opts.bios firmware ("default":
-- Debian's OpenSBI; none given: the built-in SBI), opts.accel its engine. Returns the machine and its NIC once the shell
-- prompts. A kernel panic fails every wait at once.
function G.boot(opts)
  opts = opts or {}
  local m = lemu.machine{ ram = "256M", kernel = G.IMAGE, initrd = G.INITRD, append = "console=ttyS0",
                          name = opts.name, smp = opts.smp, bios = opts.bios, accel = opts.accel,
                          start = false }
  m.console:fail_on("Kernel panic")
  local nic = opts.vlan and m:nic{ vlan = opts.vlan, mac = opts.mac, model = opts.model }
  if opts.plug then opts.plug(m) end
  m:start()
  m.console:expect("lemu%-guest: ready", { timeout = opts.timeout or 60000 })
  m.console:expect("# ", { timeout = 20000 })
  return m, nic
end

-- Runs a shell command in the guest; returns its output (without the echoed line) and its exit
-- status. The typed line holds "END$((6*7))", never "END42", so the echo cannot match.
function G.run(m, cmd, timeout)
  m.console:send(cmd .. "; echo END$((6*7)) $?\n")
  local _, out, st = m.console:expect("\n(.-)END42 (%d+)", { timeout = timeout or 20000 })
  m.console:expect("# ", { timeout = 5000 })
  return out, tonumber(st)
end

return G
