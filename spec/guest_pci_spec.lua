-- virtio over PCI on the virt board's PCIe host, against qemu-system-riscv64 with the same command
-- line: Debian's U-Boot (S-mode behind OpenSBI, and M-mode as the firmware) enumerates the bus,
-- scans virtio, takes a lease, pings and loads a file by TFTP over virtio-net-pci (its legacy I/O
-- BAR); the default guest (Linux's modern virtio-pci, INTx through the interrupt-map) takes its
-- lease, pings, moves TCP both ways, reads a virtio-blk-pci disk and uses virtio-rng-pci, and
-- shows the same PCI functions and interrupts as on QEMU. Then the Lua side: m:nic, m:rng and
-- m:disk with PCI models and addr=, and the errors of the command line.
local lemu = require "lemu"
local H = require "helper"
local U = require "uboot"
local G = require "guest"

local LONG = U.LONG
local have_qemu = H.have("qemu-system-riscv64")
local UBOOT_M = U.UBOOT_M

-- ------------------------------------------------------------------------------- the guest

local PCI_LIST = "for d in /sys/bus/pci/devices/*; do echo ${d##*/} $(cat $d/vendor $d/device "
  .. "$d/subsystem_vendor $d/subsystem_device $d/class); done"

-- Boots the default guest from its command line on bin with three virtio PCI functions (blk at
-- slot 5: it shares INTA's line with the NIC in slot 1) and drives its shell.
local function guest_on(bin, dir, body)
  local args = { "-M", "virt", "-m", "256M", "-smp", "1", "-nographic", "-bios", "default",
    "-kernel", dir .. "/Image", "-initrd", G.INITRD, "-append", "console=ttyS0",
    "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,romfile=", "-device", "virtio-rng-pci",
    "-drive", "file=" .. dir .. "/disk.img,if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,addr=5" }
  local http, hport = U.http_server(body)
  local got = {}
  local sink, sport = U.sink_server(got)
  local c = U.spawn(U.argv(bin, args))
  local seen = {}
  local ok, err = pcall(function()
    c:expect("lemu%-guest: ready", LONG)
    c:expect("# ")
    local out, st = U.run(c, "udhcpc -i eth0 -t 5 -T 1", 30000)
    assert.equal(0, st, out)
    assert.matches("lease of 10%.0%.2%.15 obtained from 10%.0%.2%.2", out)
    out, st = U.run(c, "ping -c 3 10.0.2.2", 20000)
    assert.equal(0, st, out)
    assert.matches("3 packets transmitted, 3 packets received", out)
    -- TCP host -> guest (wget from the host's server) and guest -> host (nc to the host's listener)
    out, st = U.run(c, ("wget -q -O /tmp/body http://10.0.2.2:%d/body && md5sum /tmp/body"):format(hport), 60000)
    assert.equal(0, st, out)
    seen.down_md5 = out:match("(%x+)%s+/tmp/body")
    out, st = U.run(c, ("nc -w 3 10.0.2.2 %d < /tmp/body"):format(sport), 60000)
    assert.equal(0, st, out)
    local deadline = lemu.now() + 30000
    while not got[1] and lemu.now() < deadline do lemu.sleep(20) end   -- the host side reads on
    seen.up = got[1]
    seen.disk = U.run(c, "head -c 20 /dev/vda")
    seen.pci = U.run(c, PCI_LIST)
    seen.irqs = U.run(c, "grep virtio /proc/interrupts | awk '{ $1 = \"\"; $2 = \"\"; print }'")
    seen.rng = U.run(c, "cat /sys/class/misc/hw_random/rng_current")
    c:send("poweroff\n")
    seen.status = c:wait(20000)
  end)
  c:close()
  http:close()
  sink:close()
  if not ok then error(err, 0) end
  return seen
end

describe("virtio over PCI", function()
  after_each(function() lemu.closeall() end)
  local ok, why = U.available()

  for _, fw in ipairs { "smode", "mmode" } do
    local what = fw == "smode" and "S-mode U-Boot behind OpenSBI (-bios default -kernel)" or "M-mode U-Boot as -bios"
    it(what .. ": pci enum, virtio scan, dhcp, ping, tftpboot over virtio-net-pci as on QEMU", function()
      if not ok then return pending(why) end
      if fw == "mmode" and not H.read(UBOOT_M) then return pending(UBOOT_M .. " is missing") end
      lemu.run(function()
        local dir = H.tmpdir()
        local payload = U.random_bytes(256 * 1024)
        H.write(dir .. "/payload.bin", payload)
        local done, err = pcall(function()
          local l = U.netboot(H.lemu_bin, fw, dir, "virtio-net-pci,netdev=n0,romfile=", { "virtio scan" })
          assert.matches("00%.00%.00   0x1b36     0x0008     Bridge device", l.pci)
          assert.matches("00%.01%.00   0x1af4     0x1000     Network controller", l.pci)
          assert.matches("command register ID =%s+0x0007", l.header)   -- I/O, memory, master
          assert.matches("base address 0 =%s+0x00001001", l.header)   -- the first I/O BAR at 0x1000
          assert.equal("10.0.2.15", l.lease)
          assert.matches("^virtio%-net#%d+$", l.dev)
          assert.is_true(l.ping)
          assert.equal(#payload, l.bytes)
          assert.equal(("%08x"):format(U.crc32(payload)), l.crc)
          assert.equal(0, l.status)
          if not have_qemu then return pending("qemu-system-riscv64 is not installed") end
          local q = U.netboot("qemu-system-riscv64", fw, dir, "virtio-net-pci,netdev=n0,romfile=", { "virtio scan" })
          for _, k in ipairs { "pci", "header", "lease", "dev", "ping", "bytes", "crc", "status" } do
            assert.same(q[k], l[k], k)
          end
        end)
        H.sh("rm -rf " .. H.quote(dir))
        if not done then error(err, 0) end
      end)
    end)
  end

  it("the default guest: lease, ping, TCP both ways, blk and rng over PCI; the same functions and IRQs as on QEMU", function()
    if not G.available() then return pending("guest/images is not in this tree") end
    lemu.run(function()
      local dir = H.tmpdir()
      H.sh(("gzip -dc %s > %s/Image"):format(H.quote(G.IMAGE), dir))
      H.write(dir .. "/disk.img", "lemu-pci-disk-sector" .. ("\0"):rep(64 * 512 - 20))
      local body = U.random_bytes(192 * 1024)
      H.write(dir .. "/body", body)
      local body_md5 = H.sh("md5sum " .. dir .. "/body"):match("^(%x+)")
      local done, err = pcall(function()
        local l = guest_on(H.lemu_bin, dir, body)
        assert.equal(body_md5, l.down_md5)
        assert.equal(#body, #(l.up or ""))
        assert.is_true(l.up == body, "the guest's upload differs from what it downloaded")
        assert.matches("lemu%-pci%-disk%-sector", l.disk)
        assert.matches("0000:00:00%.0 0x1b36 0x0008 0x1af4 0x1100 0x060000", l.pci)
        assert.matches("0000:00:01%.0 0x1af4 0x1000 0x1af4 0x0001 0x020000", l.pci)
        assert.matches("0000:00:02%.0 0x1af4 0x1005 0x1af4 0x0004 0x00ff00", l.pci)
        assert.matches("0000:00:05%.0 0x1af4 0x1001 0x1af4 0x0002 0x010000", l.pci)
        -- slot 1 and slot 5 share PLIC 33 (INTA of both after the swizzle); slot 2 is on 34
        assert.matches("SiFive PLIC 33 Edge virtio[02], virtio[02]", l.irqs)
        assert.matches("SiFive PLIC 34 Edge virtio1", l.irqs)
        assert.matches("virtio_rng%.%d", l.rng)
        assert.equal(0, l.status)
        if not have_qemu then return pending("qemu-system-riscv64 is not installed") end
        local q = guest_on("qemu-system-riscv64", dir, body)
        for _, k in ipairs { "down_md5", "up", "disk", "pci", "irqs", "rng", "status" } do
          assert.same(q[k], l[k], k)
        end
      end)
      H.sh("rm -rf " .. H.quote(dir))
      if not done then error(err, 0) end
    end)
  end)

  it("from Lua: m:nic, m:rng and m:disk with PCI models and addr=, and the errors", function()
    if not G.available() then return pending("guest/images is not in this tree") end
    local dir = H.tmpdir()
    local path = dir .. "/d.img"
    H.write(path, "lua-pci-disk" .. ("\0"):rep(8 * 512 - 12))
    lemu.run(function()
      local v = lemu.vlan("pcinet")
      v:user{}
      local nic
      local m = G.boot{ plug = function(mm)
        nic = mm:nic{ vlan = v, model = "virtio-net-pci", addr = 3 }
        mm:rng{ model = "virtio-rng-pci" }
        mm:disk{ file = path, model = "virtio-blk-pci", addr = "0x1f" }
        local e1 = select(2, pcall(mm.disk, mm, { file = path, model = "virtio-blk-pci", addr = "3" }))
        assert.matches("PCI slot 3 is already in use by virtio%-net", e1)
        local e2 = select(2, pcall(mm.rng, mm, { model = "virtio-rng-pci", addr = 0 }))
        assert.matches("PCI slot 0 is the host bridge's", e2)
        local e3 = select(2, pcall(mm.rng, mm, { model = "virtio-rng-pci", addr = "1.2" }))
        assert.matches("addr=1%.2: lemu takes a PCI slot in hex, function 0", e3)
      end }
      assert.equal("virtio-net-pci", nic.model)
      local out = G.run(m, PCI_LIST)
      assert.matches("0000:00:01%.0 0x1af4 0x1005", out)                 -- first free slot
      assert.matches("0000:00:03%.0 0x1af4 0x1000", out)
      assert.matches("0000:00:1f%.0 0x1af4 0x1001", out)
      out = G.run(m, "udhcpc -i eth0 -q -n -t 5 -T 1", 30000)
      assert.matches("lease of 10%.0%.2%.15 obtained", out)
      assert.matches("lua%-pci%-disk", G.run(m, "head -c 12 /dev/vda"))
      assert.is_true(nic:info().rx.frames >= 2)
      nic:link(false)
      lemu.sleep(100)
      assert.not_matches("LOWER_UP", G.run(m, "ip link show eth0"))
      nic:link(true)
      lemu.sleep(100)
      assert.matches("LOWER_UP", G.run(m, "ip link show eth0"))
      local ok2, e4 = pcall(m.nic, m, { model = "virtio-net-pci" })
      assert.is_false(ok2)
      assert.matches("before the machine starts", e4)
    end)
    H.sh("rm -rf " .. H.quote(dir))
  end)

  it("names what the command line gets wrong", function()
    local function fails(args, pattern)
      local out, status = H.lemu(args)
      assert.equal(1, status, out)
      assert.matches(pattern, out)
    end
    fails({ "-nic", "user,model=virtio-net-pcx", "-kernel", G.IMAGE }, "model=virtio%-net%-pcx: unknown NIC model %(lemu has: .*virtio%-net%-pci")
    fails({ "-device", "virtio-rng-pci,addr=2", "-device", "virtio-rng-pci,addr=2", "-kernel", G.IMAGE },
          "PCI slot 2 is already in use by virtio%-rng")
    fails({ "-device", "virtio-rng-pci,addr=20", "-kernel", G.IMAGE }, "PCI slot 32 is out of range")
    fails({ "-device", "virtio-blk-pci", "-kernel", G.IMAGE }, "virtio%-blk%-pci needs drive=ID")
    fails({ "-M", "spike", "-device", "virtio-rng-pci", "-kernel", G.IMAGE }, "no PCIe host")
    -- romfile= names an option ROM: lemu has none and says it ignores the file.
    local out, status = H.lemu({ "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,romfile=efi-virtio.rom",
                                 "-device", "help" })
    assert.equal(0, status, out)
    assert.matches("romfile=efi%-virtio%.rom: ignored %(lemu's NICs have no option ROM", out)
    out, status = H.lemu({ "-device", "help" })
    assert.equal(0, status)
    assert.matches("virtio%-net%-pci%s+virtio network card, transitional %(PCI 1af4:1000%)", out)
  end)
end)
