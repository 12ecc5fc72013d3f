-- The default guest image (guest/images) on qemu-system-riscv64's virt board, booted by OpenSBI
-- with -kernel/-initrd, the way lemu boots it: it reaches its ready line, takes a DHCP lease from
-- user-net, pings the gateway, serves HTTP through a host forward and powers the machine off.
local lemu = require "lemu"
local H = require "helper"
local Q = require "qemu_guest"

describe("the default guest on qemu-system-riscv64", function()
  local ok, why = Q.available()

  it("boots to its ready line, takes a lease, pings 10.0.2.2 and serves HTTP through hostfwd", function()
    if not ok then return pending(why) end
    lemu.run(function()
      local g = Q.boot { hostfwd = 80 }
      local done, err = pcall(function()
        g:expect("lemu%-guest: ready", 30000)
        g:expect("# ")
        local log = g:log()
        -- the drivers lemu's board has to satisfy, as the kernel reports them
        assert.matches("plic: [^\n]* mapped %d+ interrupts", log)
        assert.matches("ttyS0 at MMIO 0x10000000 %(irq = %d+[^\n]*16550A", log)
        local out = g:run("ls /sys/bus/virtio/drivers/virtio_net/")
        assert.matches("virtio%d", out)
        local st
        out, st = g:run("udhcpc -i eth0 -t 5 -T 1", 20000)
        assert.equal(0, st, out)
        assert.matches("lease of 10%.0%.2%.15 obtained", out)
        out = g:run("ip -4 addr show eth0; ip route; cat /etc/resolv.conf")
        assert.matches("inet 10%.0%.2%.15/24", out)
        assert.matches("default via 10%.0%.2%.2 dev eth0", out)
        assert.matches("nameserver 10%.0%.2%.3", out)
        out, st = g:run("ping -c 3 10.0.2.2", 15000)
        assert.equal(0, st, out)
        assert.matches("3 packets transmitted, 3 packets received", out)
        out, st = g:run("httpd -h /www")
        assert.equal(0, st, out)
        local page, hst = H.sh(("bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d && " ..
          "printf \"GET /hello.txt HTTP/1.0\\r\\n\\r\\n\" >&3 && timeout -k 2 10 cat <&3'"):format(g.port))
        assert.equal(0, hst, page)
        assert.matches("^HTTP/1%.[01] 200", page)
        assert.matches("lemu%-guest tftp and wget test file", page)
        -- poweroff goes through init and the SBI system-reset call: QEMU exits by itself
        g:send("poweroff")
        assert.equal(0, (g.proc:wait { timeout = 15000 }))
      end)
      g:close()
      if not done then error(err, 0) end
    end)
  end)

  it("runs its shell on the SBI console with console=hvc0 earlycon=sbi", function()
    if not ok then return pending(why) end
    lemu.run(function()
      local g = Q.boot { append = "console=hvc0 earlycon=sbi" }
      local done, err = pcall(function()
        g:expect("earlycon: sbi0", 30000)
        g:expect("lemu%-guest: ready", 30000)
        g:expect("# ")
        local out, st = g:run("tty")
        assert.equal(0, st, out)
        assert.matches("/dev/hvc0", out)
        g:send("poweroff")
        assert.equal(0, (g.proc:wait { timeout = 15000 }))
      end)
      g:close()
      if not done then error(err, 0) end
    end)
  end)
end)
