-- The project's Linux guest (guest/images, from the guest branch) on the virt board, driven from
-- Lua: boot to the shell on the built-in SBI and through OpenSBI, run a command over ttyS0 and on
-- the SBI console (hvc0), power off. Pending where the images (or OpenSBI) are not present.
local lemu = require "lemu"
local H = require "helper"

local IMAGE, INITRD = "guest/images/Image.gz", "guest/images/initramfs.cpio.gz"
local OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"

describe("the Linux guest on the virt board", function()
  after_each(function() lemu.closeall() end)

  local function boot_and_run(opts)
    if not (H.read(IMAGE) and H.read(INITRD)) then pending("the guest images are not in this tree") return end
    if opts.bios and not H.read(OPENSBI) then pending("Debian's opensbi package is not installed") return end
    lemu.run(function()
      local m = lemu.machine{ ram = "256M", bios = opts.bios, kernel = IMAGE, initrd = INITRD,
                              append = opts.append }
      m.console:fail_on("Kernel panic")
      m.console:expect("lemu%-guest: ready", { timeout = 60000 })
      m.console:expect("# ", { timeout = 20000 })   -- the shell reads its terminal from here on
      -- One command at a time: on hvc0 the echo of typed input may interleave with output.
      m.console:send("echo sum=$((40+2))\n")
      assert.equal("sum=42", m.console:expect("sum=%d+", { timeout = 20000 }))
      m.console:expect("# ", { timeout = 20000 })
      m.console:send("uname -m\n")
      assert.equal("riscv64", m.console:expect("riscv64", { timeout = 20000 }))
      m.console:expect("# ", { timeout = 20000 })
      m.console:send("poweroff -f\n")
      local ok, status = pcall(m.wait_exit, m, { timeout = 20000 })
      assert(ok, tostring(status) .. "; console: " .. m.console:recent():sub(-300))
      assert.equal(0, status)
    end)
  end

  it("boots on the built-in SBI with the console on the UART", function()
    boot_and_run({ append = "console=ttyS0" })
  end)

  it("boots through Debian's OpenSBI", function()
    boot_and_run({ bios = OPENSBI, append = "console=ttyS0" })
  end)

  it("runs its shell on the SBI console (hvc0)", function()
    boot_and_run({ append = "console=hvc0 earlycon=sbi" })
  end)
end)
