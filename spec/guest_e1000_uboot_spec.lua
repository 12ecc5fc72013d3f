-- The e1000 (Intel 82540EM) under Debian's U-Boot 2023.01, against qemu-system-riscv64 with the
-- same command line: S-mode U-Boot behind OpenSBI and M-mode U-Boot as the firmware enumerate the
-- bus, find the card (U-Boot's eth_e1000: EEPROM by Microwire, the PHY's auto-negotiation, the
-- legacy rings), take a lease, ping the gateway and load a 300000-byte file by TFTP whose CRC-32
-- must be the host's.
local lemu = require "lemu"
local H = require "helper"
local U = require "uboot"

local LONG = 90000    -- a boot stage on a loaded 2-core machine (or under ASan)
local have_qemu = H.have("qemu-system-riscv64")
local UBOOT_M = "/usr/lib/u-boot/qemu-riscv64/u-boot.bin"

-- An emulator's argv: lemu under ASan keeps leak checking; QEMU never gets the ASan runtime.
local function argv(bin, args)
  local a
  if bin == H.lemu_bin then
    a = os.getenv("LEMU_ASAN_OPTIONS") and { "env", "ASAN_OPTIONS=" .. os.getenv("LEMU_ASAN_OPTIONS"), bin } or { bin }
  else
    a = { "env", "-u", "LD_PRELOAD", "-u", "ASAN_OPTIONS", bin }
  end
  for _, x in ipairs(args) do a[#a + 1] = x end
  return a
end

local function random_bytes(n)
  local t = {}
  for i = 1, n do t[i] = string.char(math.random(0, 255)) end
  return table.concat(t)
end

-- Runs U-Boot from its command line on bin with an e1000 and drives its prompt; returns what is
-- compared.
local function uboot_on(bin, firmware, dir)
  local args = { "-M", "virt", "-m", "256M", "-smp", "1", "-nographic" }
  if firmware == "smode" then
    for _, x in ipairs { "-bios", "default", "-kernel", U.BIN } do args[#args + 1] = x end
  else
    for _, x in ipairs { "-bios", UBOOT_M } do args[#args + 1] = x end
  end
  for _, x in ipairs { "-netdev", "user,id=n0,tftp=" .. dir, "-device", "e1000,netdev=n0,romfile=" } do
    args[#args + 1] = x
  end
  local c = U.spawn(argv(bin, args))
  local seen = {}
  local ok, err = pcall(function()
    c:expect("U%-Boot 2023%.01", LONG)
    c:expect("Hit any key to stop autoboot", LONG)
    c:send(" ")
    c:expect("\n=> ")
    -- A command's output: from the end of its echoed line to the next prompt at a line's start
    -- (crc32 prints "==> " inside its line).
    local function cmd(line, timeout)
      c:send(line .. "\n")
      return (c:expect("\n(.-)%f[^\n]=> ", timeout or 20000):gsub("\n$", ""))
    end
    cmd("pci enum")
    seen.pci = cmd("pci")
    seen.header = cmd("pci header 0.1.0")
    cmd("setenv autoload no")
    local out = cmd("dhcp", LONG)
    seen.lease = out:match("DHCP client bound to address ([%d.]+)")
    out = cmd("ping 10.0.2.2", LONG)
    seen.dev = out:match("Using (%S+) device")
    seen.ping = out:match("host 10%.0%.2%.2 is alive") ~= nil
    out = cmd("tftpboot ${kernel_addr_r} payload.bin", LONG)
    seen.bytes = tonumber(out:match("Bytes transferred = (%d+)"))
    seen.crc = cmd("crc32 ${kernel_addr_r} ${filesize}"):match("==> (%x+)")
    c:send("poweroff\n")
    seen.status = c:wait(20000)
  end)
  c:close()
  if not ok then error(err, 0) end
  return seen
end

describe("e1000 under U-Boot", function()
  after_each(function() lemu.closeall() end)
  local ok, why = U.available()

  for _, fw in ipairs { "smode", "mmode" } do
    local what = fw == "smode" and "S-mode U-Boot behind OpenSBI (-bios default -kernel)" or "M-mode U-Boot as -bios"
    it(what .. ": pci enum, dhcp, ping, tftpboot over e1000 with the host's CRC-32, as on QEMU", function()
      if not ok then return pending(why) end
      if fw == "mmode" and not H.read(UBOOT_M) then return pending(UBOOT_M .. " is missing") end
      lemu.run(function()
        local dir = H.tmpdir()
        local payload = random_bytes(300000)
        H.write(dir .. "/payload.bin", payload)
        local done, err = pcall(function()
          local l = uboot_on(H.lemu_bin, fw, dir)
          assert.matches("00%.00%.00   0x1b36     0x0008     Bridge device", l.pci)
          assert.matches("00%.01%.00   0x8086     0x100e     Network controller", l.pci)
          assert.matches("command register ID =%s+0x0006", l.header)  -- eth_e1000: memory, master
          assert.matches("revision ID =%s+0x03", l.header)
          assert.matches("base address 0 =%s+0x40000000", l.header)   -- BAR0: 128 KiB of MMIO
          assert.matches("base address 1 =%s+0x00001001", l.header)   -- BAR1: the inert I/O window
          assert.matches("sub system vendor ID =%s+0x1af4", l.header)
          assert.matches("interrupt pin =%s+0x01", l.header)
          assert.equal("10.0.2.15", l.lease)
          assert.matches("^e1000#%d+$", l.dev)
          assert.is_true(l.ping)
          assert.equal(#payload, l.bytes)
          assert.equal(("%08x"):format(U.crc32(payload)), l.crc)
          assert.equal(0, l.status)
          if not have_qemu then return pending("qemu-system-riscv64 is not installed") end
          local q = uboot_on("qemu-system-riscv64", fw, dir)
          for _, k in ipairs { "pci", "header", "lease", "dev", "ping", "bytes", "crc", "status" } do
            assert.same(q[k], l[k], k)
          end
        end)
        H.sh("rm -rf " .. H.quote(dir))
        if not done then error(err, 0) end
      end)
    end)
  end
end)
