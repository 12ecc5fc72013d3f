-- Network boot through U-Boot, as boards are booted: Debian's S-mode U-Boot for QEMU's virt board
-- (u-boot-qemu) started by OpenSBI (-bios default) takes a DHCP lease from user-net, fetches the
-- default guest's kernel and initrd from user-net's TFTP directory and boots them with booti; the
-- guest reaches its shell and takes its own lease. Driven through the console as a user would:
-- by hand at U-Boot's prompt (a machine from Lua), and by U-Boot's own autoboot from a boot script
-- on the TFTP server (lemu's command line; a machine on lemu's built-in SBI, without OpenSBI; and
-- the same command line on qemu-system-riscv64 to show what right looks like).
local lemu = require "lemu"
local H = require "helper"
local U = require "uboot"

local LONG = 90000    -- a boot stage on a loaded 2-core machine (or under ASan)

-- What U-Boot prints before its autoboot countdown.
local function banner(c)
  c:expect("U%-Boot 2023%.01", LONG)
  c:expect("Model: riscv%-virtio,qemu")
  c:expect("DRAM:%s+256 MiB")
  c:expect("In:%s+serial@10000000")
  c:expect("Net:%s+eth0: virtio%-net#0")
  c:expect("Hit any key to stop autoboot")
end

-- The guest after booti: its shell, the command line U-Boot passed, its own DHCP lease; then it
-- powers the machine off.
local function guest(c, bootargs)
  c:expect("Starting kernel %.%.%.", LONG)
  c:expect("lemu%-guest: ready", LONG)
  c:expect("# ")
  local out, st = U.run(c, "cat /proc/cmdline")
  assert.equal(0, st, out)
  assert.equal(bootargs, (out:gsub("%s+$", "")))
  out, st = U.run(c, "udhcpc -i eth0 -t 5 -T 1", 30000)
  assert.equal(0, st, out)
  assert.matches("lease of 10%.0%.2%.15 obtained from 10%.0%.2%.2", out)
  assert.matches("eth0 configured: 10%.0%.2%.15/24 via 10%.0%.2%.2 dns 10%.0%.2%.3", out)
  c:send("poweroff\n")
end

-- The boot script user-net's TFTP server hands to U-Boot's distro boot (bootcmd_dhcp fetches
-- boot.scr.uimg and sources it). The kernel is the gzip Image: booti decompresses it through
-- kernel_comp_addr_r.
local SCRIPT_ARGS = "console=ttyS0"
local SCRIPT = [[
echo lemu-netboot: kernel and initrd over TFTP
setenv bootargs ]] .. SCRIPT_ARGS .. "\n" .. [[
tftpboot ${kernel_addr_r} Image.gz
tftpboot ${ramdisk_addr_r} initramfs.cpio.gz
booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}
]]

-- Autoboot with no key pressed: the countdown runs out, distro boot tries its targets, takes a
-- lease, fetches and runs the script, which loads both files and boots.
local function autoboot(c, sizes)
  banner(c)
  c:expect("DHCP client bound to address 10%.0%.2%.15", LONG)
  c:expect("TFTP from server 10%.0%.2%.2; our IP address is 10%.0%.2%.15")
  c:expect("Filename 'boot%.scr%.uimg'%.")
  c:expect("## Executing script at ")
  c:expect("lemu%-netboot: kernel and initrd over TFTP")
  c:expect("Filename 'Image%.gz'%.")
  assert.equal(sizes["Image.gz"], tonumber(c:expect("Bytes transferred = (%d+)", LONG)))
  c:expect("Filename 'initramfs%.cpio%.gz'%.")
  assert.equal(sizes["initramfs.cpio.gz"], tonumber(c:expect("Bytes transferred = (%d+)", LONG)))
  c:expect("Uncompressing Kernel Image")
  guest(c, SCRIPT_ARGS)
end

-- The command line of the brief, for lemu and for QEMU alike.
local function cmdline(bin, dir)
  local argv = {}
  if os.getenv("LEMU_ASAN_OPTIONS") and bin == H.lemu_bin then
    argv = { "env", "ASAN_OPTIONS=" .. os.getenv("LEMU_ASAN_OPTIONS") }
  elseif bin ~= H.lemu_bin then
    argv = { "env", "-u", "LD_PRELOAD", "-u", "ASAN_OPTIONS" }   -- QEMU gets no ASan runtime
  end
  for _, a in ipairs { bin, "-M", "virt", "-m", "256M", "-smp", "1", "-nographic", "-bios", "default",
      "-kernel", U.BIN, "-netdev", "user,id=n0,tftp=" .. dir, "-device", "virtio-net-device,netdev=n0" } do
    argv[#argv + 1] = a
  end
  return argv
end

local function autoboot_on(bin)
  lemu.run(function()
    local dir, sizes = U.tftpdir { ["boot.scr.uimg"] = U.script_image(SCRIPT, "lemu netboot") }
    local c = U.spawn(cmdline(bin, dir))
    local ok, err = pcall(function()
      autoboot(c, sizes)
      assert.equal(0, c:wait(20000))   -- poweroff: SBI system reset, the emulator exits
    end)
    c:close()
    H.sh("rm -rf " .. H.quote(dir))
    if not ok then error(err, 0) end
  end)
end

describe("network boot through U-Boot", function()
  after_each(function() lemu.closeall() end)
  local ok, why = U.available()

  it("on a lemu machine: stop autoboot, dhcp and tftpboot the guest, booti, and the guest's own lease", function()
    if not ok then return pending(why) end
    lemu.run(function()
      local dir, sizes = U.tftpdir()
      local done, err = pcall(function()
        local v = lemu.vlan("uboot")
        v:user { tftp = dir, bootfile = "Image" }      -- DHCP names the uncompressed kernel
        local m = lemu.machine { ram = "256M", bios = "default", kernel = U.BIN, name = "uboot", start = false }
        m:nic { vlan = v }
        m:start()
        local c = U.machine_console(m)
        banner(c)
        c:send(" ")
        c:expect("\n=> ")
        -- U-Boot's own load addresses, which the commands below use
        c:send("printenv kernel_addr_r ramdisk_addr_r fdtcontroladdr\n")
        c:expect("kernel_addr_r=0x%x+")
        c:expect("ramdisk_addr_r=0x%x+")
        c:expect("fdtcontroladdr=%x+")
        c:expect("\n=> ")
        -- the lease, and the bootfile it names, loaded over TFTP
        c:send("dhcp ${kernel_addr_r}\n")
        c:expect("BOOTP broadcast 1", LONG)
        assert.equal("10.0.2.15", c:expect("DHCP client bound to address ([%d.]+)", LONG))
        c:expect("TFTP from server 10%.0%.2%.2; our IP address is 10%.0%.2%.15")
        c:expect("Filename 'Image'%.")
        c:expect("Load address: 0x84000000")
        assert.equal(sizes.Image, tonumber(c:expect("Bytes transferred = (%d+)", LONG)))
        c:expect("\n=> ")
        c:send("tftpboot ${ramdisk_addr_r} initramfs.cpio.gz\n")
        c:expect("Filename 'initramfs%.cpio%.gz'%.", LONG)
        assert.equal(sizes["initramfs.cpio.gz"], tonumber(c:expect("Bytes transferred = (%d+)", LONG)))
        c:expect("\n=> ")
        c:send("setenv bootargs console=ttyS0 earlycon\n")
        c:expect("\n=> ")
        c:send("booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}\n")
        c:expect("Moving Image from 0x84000000 to 0x80200000", LONG)
        c:expect("Using Device Tree in place")
        guest(c, "console=ttyS0 earlycon")
        assert.equal(0, (m:wait_exit { timeout = 20000 }))
      end)
      H.sh("rm -rf " .. H.quote(dir))
      if not done then error(err, 0) end
    end)
  end)

  it("from lemu's command line: autoboot runs boot.scr.uimg from user-net's TFTP server", function()
    if not ok then return pending(why) end
    autoboot_on(H.lemu_bin)
  end)

  it("without -bios, on lemu's built-in SBI: the same autoboot from the TFTP server", function()
    if not ok then return pending(why) end
    lemu.run(function()
      local dir, sizes = U.tftpdir { ["boot.scr.uimg"] = U.script_image(SCRIPT, "lemu netboot") }
      local done, err = pcall(function()
        local v = lemu.vlan("uboot-sbi")
        v:user { tftp = dir }
        local m = lemu.machine { ram = "256M", kernel = U.BIN, name = "uboot-sbi", start = false }
        m:nic { vlan = v }
        m:start()
        autoboot(U.machine_console(m), sizes)
        assert.equal(0, (m:wait_exit { timeout = 20000 }))
      end)
      H.sh("rm -rf " .. H.quote(dir))
      if not done then error(err, 0) end
    end)
  end)

  it("the same command line on qemu-system-riscv64 (the reference) boots the same way", function()
    if not ok then return pending(why) end
    if not H.have("qemu-system-riscv64") then
      return pending("qemu-system-riscv64 is not installed (Debian: qemu-system-misc)")
    end
    autoboot_on("qemu-system-riscv64")
  end)
end)
