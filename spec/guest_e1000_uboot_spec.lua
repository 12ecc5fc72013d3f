-- The e1000 (Intel 82540EM) under Debian's U-Boot 2023.01, against qemu-system-riscv64 with the
-- same command line: S-mode U-Boot behind OpenSBI and M-mode U-Boot as the firmware enumerate the
-- bus, find the card (U-Boot's eth_e1000: EEPROM by Microwire, the PHY's auto-negotiation, the
-- legacy rings), take a lease, ping the gateway and load a 300000-byte file by TFTP whose CRC-32
-- must be the host's.
local lemu = require "lemu"
local H = require "helper"
local U = require "uboot"

local have_qemu = H.have("qemu-system-riscv64")
local UBOOT_M = U.UBOOT_M

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
        local payload = U.random_bytes(300000)
        H.write(dir .. "/payload.bin", payload)
        local done, err = pcall(function()
          local l = U.netboot(H.lemu_bin, fw, dir, "e1000,netdev=n0,romfile=")
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
          local q = U.netboot("qemu-system-riscv64", fw, dir, "e1000,netdev=n0,romfile=")
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
