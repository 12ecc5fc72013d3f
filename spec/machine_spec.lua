-- The virt board end to end: bare-metal programs (guest/board/, built with Debian's
-- gcc-riscv64-unknown-elf) compared with QEMU, OpenSBI handing over to an S-mode payload, the
-- built-in SBI, exit codes, the device tree against QEMU's, and bad images and options.
local H = require "helper"

local G = "guest/board/"
local OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
local have_qemu = H.have("qemu-system-riscv64")

local function qemu(args)
  local parts = {}
  for _, a in ipairs(args) do parts[#parts + 1] = H.quote(a) end
  return H.sh("env -u LD_PRELOAD -u ASAN_OPTIONS timeout -k 5 20 qemu-system-riscv64 " .. table.concat(parts, " ") .. " </dev/null 2>/dev/null")
end

local function lemu(args) return H.lemu(args, "timeout -k 5 20") end

describe("the virt board", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(function() H.sh("rm -rf " .. H.quote(dir)) end)

  it("prints through the UART exactly as QEMU does, and powers off with status 0", function()
    local args = { "-M", "virt", "-m", "128M", "-nographic", "-bios", "none", "-kernel", G .. "hello.elf" }
    local out, status = lemu(args)
    assert.equal(0, status)
    assert.matches("hello from a bare%-metal program", out)
    assert.matches("timer interrupt: 1\r?\n", out)
    assert.matches("plic claimed source 10\r?\n", out)
    if not have_qemu then pending("qemu-system-riscv64 is not installed") return end
    local qout, qstatus = qemu(args)
    assert.equal(qstatus, status)
    assert.equal(qout, out)
  end)

  it("enters a -bios ELF from the reset ROM with the hart id, device tree and fw_dynamic info", function()
    local out, status = lemu({ "-nographic", "-bios", G .. "hello.elf" })
    assert.equal(0, status)
    assert.matches("hart 0, device tree magic 0xd00dfeed, fw_dynamic magic 0x4942534f version 2\n", out, 1, true)
  end)

  it("takes console input through the UART's receive interrupt, as QEMU does", function()
    local cmd = "printf 'hello\\nquit\\n' | " .. H.lemu_env .. " timeout -k 5 20 " .. H.lemu_bin
      .. " -nographic -bios none -kernel " .. G .. "echo.elf"
    local out, status = H.sh(cmd)
    assert.equal(0, status)
    assert.equal("echo> HELLO\necho> bye\n", out)
    if not have_qemu then pending("qemu-system-riscv64 is not installed") return end
    local qout = H.sh("printf 'hello\\nquit\\n' | env -u LD_PRELOAD -u ASAN_OPTIONS timeout -k 5 20 qemu-system-riscv64 -M virt -nographic -bios none -kernel "
      .. G .. "echo.elf 2>/dev/null")
    assert.equal(qout, out)
  end)

  it("boots Debian's OpenSBI, which prints its banner and hands over to our S-mode payload", function()
    if not H.read(OPENSBI) then pending("Debian's opensbi package is not installed") return end
    local out, status = lemu({ "-M", "virt", "-m", "256M", "-nographic", "-bios", OPENSBI,
                               "-kernel", G .. "payload.elf" })
    assert.equal(0, status)
    assert.matches("OpenSBI v%d+%.%d+", out)
    assert.matches("Platform Name%s+: riscv%-virtio,qemu\r?\n", out)
    assert.matches("Platform HART Count%s+: 1\r?\n", out)
    assert.matches("Platform Console Device%s+: uart8250\r?\n", out)
    assert.matches("Platform Shutdown Device%s+: sifive_test\r?\n", out)
    assert.matches("Domain0 Name%s+: root\r?\n", out)
    assert.matches("Domain0 Next Address%s+: 0x0000000080200000\r?\n", out)
    assert.matches("Domain0 Next Mode%s+: S%-mode\r?\n", out)
    assert.matches("Boot HART Base ISA%s+: rv64imafdc\r?\n", out)
    assert.matches("payload: S%-mode on hart 0, device tree magic 0xd00dfeed\r?\n", out)
    assert.matches("payload: SBI spec 1%.0, TIME present, SRST present\r?\n", out)
    assert.matches("payload: timer interrupt via SBI\r?\npayload: no other hart\r?\npayload: powering off\r?\n$", out)
  end)

  it("boots OpenSBI on two harts; the payload starts the other one through HSM", function()
    if not H.read(OPENSBI) then pending("Debian's opensbi package is not installed") return end
    local out, status = lemu({ "-smp", "2", "-nographic", "-bios", "default", "-kernel", G .. "payload.bin" })
    assert.equal(0, status)
    assert.matches("Platform HART Count%s+: 2\r?\n", out)
    assert.matches("payload: another hart started through HSM\r?\n", out)
    assert.matches("payload: IPI delivered, error 0, remote sfence.vma error 0\r?\n", out)
    if not have_qemu then pending("qemu-system-riscv64 is not installed") return end
    -- What the payload sees of the firmware is the same as on QEMU.
    local qout = qemu({ "-M", "virt", "-smp", "2", "-nographic", "-bios", "default", "-kernel", G .. "payload.bin" })
    -- (OpenSBI's boot hart is whichever wins its lottery, on QEMU as here: the number may differ.)
    local function payload_lines(s) return (s:gsub("\r", ""):gsub("on hart %d", "on hart N")):match("payload:.*$") end
    assert.equal(payload_lines(qout), payload_lines(out))
  end)

  it("serves an S-mode kernel itself when there is no -bios (SBI v2.0, timer, HSM, SRST)", function()
    local out, status = lemu({ "-nographic", "-smp", "2", "-kernel", G .. "payload.elf" })
    assert.equal(0, status)
    assert.equal("payload: S-mode on hart 0, device tree magic 0xd00dfeed\n"
      .. "payload: SBI spec 2.0, TIME present, SRST present\n"
      .. "payload: timer interrupt via SBI\n"
      .. "payload: another hart started through HSM\n"
      .. "payload: IPI delivered, error 0, remote sfence.vma error 0\n"
      .. "payload: powering off\n", out)
  end)

  it("loads a raw kernel image at 0x80200000, gzip-compressed or not", function()
    local out, status = lemu({ "-nographic", "-kernel", G .. "payload.bin" })
    assert.equal(0, status)
    assert.matches("payload: powering off\r?\n", out)
    H.sh("gzip -c " .. G .. "payload.bin > " .. dir .. "/payload.bin.gz")
    out, status = lemu({ "-nographic", "-kernel", dir .. "/payload.bin.gz" })
    assert.equal(0, status)
    assert.matches("payload: powering off\r?\n", out)
  end)

  it("ends with sifive_test's failure code as its exit status, as QEMU does", function()
    local out, status = lemu({ "-nographic", "-bios", "none", "-kernel", G .. "fail.elf" })
    assert.equal("failing with 42\n", out)
    assert.equal(42, status)
    if not have_qemu then pending("qemu-system-riscv64 is not installed") return end
    local _, qstatus = qemu({ "-M", "virt", "-nographic", "-bios", "none", "-kernel", G .. "fail.elf" })
    assert.equal(qstatus, status)
  end)

  it("sends the UART to a file with -serial file:F, or nowhere with -serial none", function()
    local out, status = lemu({ "-serial", "file:" .. dir .. "/con.txt", "-bios", "none", "-kernel", G .. "fail.elf" })
    assert.equal(42, status)
    assert.equal("", out)
    assert.equal("failing with 42\n", H.read(dir .. "/con.txt"))
    out, status = lemu({ "-serial", "none", "-bios", "none", "-kernel", G .. "fail.elf" })
    assert.equal(42, status)
    assert.equal("", out)
  end)

  it("boots with a device tree given by -dtb", function()
    lemu({ "-M", "virt,dumpdtb=" .. dir .. "/given.dtb" })
    local out, status = lemu({ "-nographic", "-dtb", dir .. "/given.dtb", "-append", "x=1", "-kernel", G .. "payload.elf" })
    assert.equal(0, status)
    assert.matches("device tree magic 0xd00dfeed", out)
    H.write(dir .. "/bad.dtb", "not a device tree at all, just text padding it out")
    out, status = lemu({ "-nographic", "-dtb", dir .. "/bad.dtb", "-kernel", G .. "payload.elf" })
    assert.equal(1, status)
    assert.matches("%-dtb .*bad%.dtb: not a flattened device tree", out)
  end)

  it("takes a version 16 -dtb and refuses older ones, naming the version", function()
    lemu({ "-M", "virt,dumpdtb=" .. dir .. "/v17.dtb" })
    local tree = H.read(dir .. "/v17.dtb")
    assert.equal(17, string.unpack(">I4", tree, 21))
    -- A version 17 tree with the header's version fields set to 16 is a version 16 tree.
    local function relabel(version, name)
      H.write(dir .. "/" .. name, tree:sub(1, 20) .. string.pack(">I4I4", version, version) .. tree:sub(29))
      return dir .. "/" .. name
    end
    local out, status = lemu({ "-nographic", "-dtb", relabel(16, "v16.dtb"), "-kernel", G .. "payload.elf" })
    assert.equal(0, status)
    assert.matches("device tree magic 0xd00dfeed", out)
    out, status = lemu({ "-nographic", "-dtb", relabel(3, "v3.dtb"), "-kernel", G .. "payload.elf" })
    assert.equal(1, status)
    assert.matches("%-dtb .*v3%.dtb: device tree version 3 is too old", out)
  end)

  it("reboots through sifive_test, keeping RAM as QEMU does", function()
    local out, status = lemu({ "-nographic", "-bios", "none", "-kernel", G .. "reboot.elf" })
    assert.equal(0, status)
    assert.equal("boot 1\nboot 2\n", out)
    if not have_qemu then pending("qemu-system-riscv64 is not installed") return end
    assert.equal(qemu({ "-M", "virt", "-nographic", "-bios", "none", "-kernel", G .. "reboot.elf" }), out)
  end)

  it("ends an HTIF test (tohost) with its result on -M spike and on virt", function()
    for _, board in ipairs({ "spike", "virt" }) do
      local out, status = lemu({ "-M", board, "-nographic", "-bios", "none", "-kernel", G .. "htif-pass.elf" })
      assert.equal(0, status)
      assert.equal("htif test, code 0\n", out)
      out, status = lemu({ "-M", board, "-nographic", "-kernel", G .. "htif-fail.elf" })
      assert.equal(3, status)
      assert.equal("htif test, code 3\n", out)
    end
    if not have_qemu then pending("qemu-system-riscv64 is not installed") return end
    local qout, qstatus = qemu({ "-M", "spike", "-nographic", "-bios", "none", "-kernel", G .. "htif-fail.elf" })
    assert.equal(3, qstatus)
    assert.equal("htif test, code 3\n", qout)
  end)
end)

describe("the device tree", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(function() H.sh("rm -rf " .. H.quote(dir)) end)

  local function dts(path)
    local out, status = H.sh("dtc -I dtb -O dts " .. H.quote(path) .. " 2>/dev/null")
    assert.equal(0, status)
    return out
  end
  local function nodes(text)
    local set = {}
    for name in text:gmatch("\n%s*([%w,._@-]+) {") do set[name] = true end
    return set
  end

  it("is written by -machine dumpdtb, decompiles with dtc and names QEMU's nodes", function()
    if not H.have("dtc") then pending("dtc (device-tree-compiler) is not installed") return end
    local out, status = lemu({ "-M", "virt,dumpdtb=" .. dir .. "/l.dtb", "-m", "256M", "-smp", "2" })
    assert.equal(0, status)
    assert.matches("dtb dumped to", out)
    local text = dts(dir .. "/l.dtb")
    assert.matches('compatible = "sifive,clint0\\0riscv,clint0"', text, 1, true)
    assert.matches('compatible = "sifive,plic%-1%.0%.0\\0riscv,plic0"', text)
    assert.matches('compatible = "ns16550a"', text, 1, true)
    assert.matches('compatible = "sifive,test1\\0sifive,test0\\0syscon"', text, 1, true)
    assert.matches('compatible = "google,goldfish-rtc"', text, 1, true)
    assert.matches('riscv,isa = "rv64imafdc_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc"', text, 1, true)
    assert.matches('stdout-path = "/soc/serial@10000000"', text, 1, true)
    assert.matches("reg = <0x00 0x80000000 0x00 0x10000000>", text, 1, true)
    if not have_qemu then pending("qemu-system-riscv64 is not installed") return end
    H.sh("env -u LD_PRELOAD timeout -k 5 20 qemu-system-riscv64 -M virt,dumpdtb=" .. dir .. "/q.dtb -m 256M -smp 2 -nographic </dev/null")
    local ours, theirs = nodes(text), nodes(dts(dir .. "/q.dtb"))
    -- Hardware lemu does not model yet: no node, so no driver probes it. (The PCIe node is
    -- compared property by property below.)
    local absent = { ["fw-cfg@10100000"] = true, ["flash@20000000"] = true,
                     ["platform-bus@4000000"] = true, pmu = true }
    for name in pairs(theirs) do
      if not absent[name] then assert(ours[name], "QEMU's node " .. name .. " is missing") end
    end
    for name in pairs(ours) do assert(theirs[name], "node " .. name .. " is not in QEMU's tree") end
  end)

  -- One node of a decompiled tree, with the phandle cells of an interrupt-map (the 5th of each
  -- 6-cell entry) replaced by the name of the node they point to: lemu numbers phandles its own way.
  local function node(text, name)
    local body = text:match("\n(%s*" .. name:gsub("[%-%.@]", "%%%0") .. " {.-\n%s*};)")
    assert(body, "no node " .. name)
    local handles = {}
    for n, ph in text:gmatch("\n%s*([%w,._@-]+) {[^{}]-phandle = <(0x%x+)>;") do handles[ph] = n end
    return (body:gsub("interrupt%-map = <([^>]*)>", function(cells)
      local out, i = {}, 0
      for c in cells:gmatch("%S+") do
        out[#out + 1] = (i % 6 == 4) and ("&" .. (handles[c] or c)) or c
        i = i + 1
      end
      return "interrupt-map = <" .. table.concat(out, " ") .. ">"
    end))
  end

  it("has QEMU's pcie node, property by property, with the 64-bit window above RAM", function()
    if not H.have("dtc") then pending("dtc (device-tree-compiler) is not installed") return end
    if not have_qemu then pending("qemu-system-riscv64 is not installed") return end
    -- 15 GiB of RAM end past 16 GiB: the high window moves to the next 16 GiB boundary.
    for _, ram in ipairs { "256M", "15G" } do
      local l, q = dir .. "/lp" .. ram .. ".dtb", dir .. "/qp" .. ram .. ".dtb"
      local _, status = lemu({ "-M", "virt,dumpdtb=" .. l, "-m", ram })
      assert.equal(0, status)
      H.sh("env -u LD_PRELOAD timeout -k 5 20 qemu-system-riscv64 -M virt,dumpdtb=" .. q .. " -m " .. ram .. " -nographic </dev/null")
      local ours, theirs = node(dts(l), "pci@30000000"), node(dts(q), "pci@30000000")
      assert.matches("interrupt%-map = <0x00 0x00 0x00 0x01 &plic@c000000 0x20 ", ours)
      assert.matches(ram == "15G" and "0x3000000 0x08 0x00 0x08 0x00 0x04 0x00>" or "0x3000000 0x04 0x00 0x04 0x00 0x04 0x00>", ours)
      assert.equal(theirs, ours)
    end
  end)

  it("carries -append and the -initrd range in /chosen", function()
    if not H.have("dtc") then pending("dtc (device-tree-compiler) is not installed") return end
    H.write(dir .. "/initrd", ("x"):rep(1000))
    lemu({ "-M", "virt,dumpdtb=" .. dir .. "/c.dtb", "-kernel", G .. "payload.elf",
           "-initrd", dir .. "/initrd", "-append", "console=ttyS0 quiet" })
    local text = dts(dir .. "/c.dtb")
    assert.matches('bootargs = "console=ttyS0 quiet"', text, 1, true)
    -- QEMU's placement: kernel start + min(RAM/2, 128 MiB); 128 MiB of RAM -> 0x84200000.
    assert.matches("linux,initrd-start = <0x00 0x84200000>", text, 1, true)
    assert.matches("linux,initrd-end = <0x00 0x842003e8>", text, 1, true)
  end)
end)

describe("bad input", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(function() H.sh("rm -rf " .. H.quote(dir)) end)

  local function fails(args, pattern)
    local out, status = lemu(args)
    assert.equal(1, status)
    assert.matches(pattern, out)
    assert.not_matches("Segmentation|AddressSanitizer|runtime error", out)
  end

  -- Found by the option parsers' fuzz target: -drive file=F with the default if=virtio (QEMU's
  -- plain -drive) ended in "attempt to index a nil value": the disk it queued had no model.
  it("plugs a plain -drive file=F as a virtio-blk disk", function()
    H.sh("truncate -s 64K " .. dir .. "/plain.img")
    for _, v in ipairs { "file=" .. dir .. "/plain.img", "file=" .. dir .. "/plain.img,if=virtio" } do
      local out, status = lemu { "-drive", v, "-bios", "none", "-e",
        "for _, d in ipairs(lemu.machines()[1]:info().devices) do print(d.kind, d.model, d.bus) end os.exit(0)" }
      assert.equal(0, status, out)
      assert.matches("disk\tvirtio%-blk%-device\tvirtio%-mmio", out)
    end
    fails({ "-drive", "file=" .. dir .. "/none.img", "-bios", "none" }, "cannot open disk image '.*none%.img'")
    fails({ "-drive", "file=" .. dir .. "/plain.img,if=none,id=d0", "-device", "virtio-blk-device,drive=d1",
            "-bios", "none" }, "drive=d1: no %-drive with that id")
  end)

  -- Found by the option parsers' fuzz target: -device NIC without netdev= ended in "attempt to get
  -- the length of a nil value" (before: lemu.vlan's "bad argument"); QEMU makes such a card, on no
  -- network, with a warning.
  it("makes a -device NIC without netdev= on no VLAN, with QEMU's warning", function()
    local out, status = lemu { "-device", "e1000", "-device", "virtio-net-device,id=n9", "-bios", "none", "-e",
      "for _, d in ipairs(lemu.machines()[1]:info().devices) do print(d.kind, d.model, d.name) end os.exit(0)" }
    assert.equal(0, status, out)
    assert.matches("warning: nic e1000 has no peer", out, 1, true)
    assert.matches("warning: nic n9 has no peer", out, 1, true)
    assert.matches("nic\te1000\tm1%.eth0", out)
    assert.matches("nic\tvirtio%-net%-device\tm1%.n9", out)
  end)

  it("names a missing image", function()
    fails({ "-nographic", "-kernel", dir .. "/nope.elf" }, "%-kernel .*nope%.elf: No such file or directory")
    fails({ "-nographic", "-bios", dir .. "/nope.bin" }, "%-bios .*nope%.bin: No such file or directory")
  end)

  it("names a truncated ELF and a truncated gzip image, and the option that gave it", function()
    H.sh("head -c 200 " .. G .. "hello.elf > " .. dir .. "/short.elf")
    fails({ "-nographic", "-bios", dir .. "/short.elf" }, "%-bios [^ ]*short%.elf: truncated ELF")
    H.sh("gzip -c " .. G .. "payload.bin | head -c 300 > " .. dir .. "/short.gz")
    fails({ "-nographic", "-kernel", dir .. "/short.gz" }, "%-kernel [^ ]*short%.gz: truncated gzip data")
    fails({ "-nographic", "-kernel", G .. "payload.elf", "-initrd", dir .. "/short.gz" },
          "%-initrd [^ ]*short%.gz: truncated gzip data")
    fails({ "-nographic", "-kernel", G .. "payload.elf", "-dtb", dir .. "/short.gz" },
          "%-dtb [^ ]*short%.gz: truncated gzip data")
  end)

  -- A raw Image cut short boots into zeros: the kernel's early trap path parks every hart in WFI
  -- with nothing enabled. lemu must say so and fail, not end with status 0 (a false pass in CI).
  it("fails a machine whose harts wait for an interrupt nothing can raise, on both SBI paths", function()
    local image = dir .. "/short.Image"
    H.sh("gzip -dc guest/images/Image.gz | head -c 100000 > " .. image)
    fails({ "-nographic", "-kernel", image },
          "stalled: hart 0 waits in WFI at pc 0x%x+ %(S%-mode%) with mie 0x0: no interrupt enabled")
    if H.read(OPENSBI) then
      fails({ "-nographic", "-bios", "default", "-kernel", image },
            "stalled: hart 0 waits in WFI at pc 0x%x+ %(S%-mode%) with mie 0x%x+: no timer armed")
    end
    -- In Lua the wait that was pending fails with the reason.
    H.write(dir .. "/stall.lua", ([[
      local m = lemu.machine{ kernel = %q }
      local ok, err = pcall(m.console.expect, m.console, "never printed", { timeout = 20000 })
      print(ok, err)
    ]]):format(image))
    local out = lemu({ dir .. "/stall.lua" })
    assert.matches("false\t.*the machine exited %(status 1, stalled: hart 0 waits in WFI", out)
  end)

  it("refuses an ELF for another architecture", function()
    fails({ "-nographic", "-kernel", "/bin/true" }, "/bin/true: an ELF for [%w%- ]+, not RISC%-V")
  end)

  it("refuses an image that does not fit in RAM", function()
    fails({ "-nographic", "-m", "2M", "-kernel", G .. "payload.elf" },
          "payload%.elf: segment %d+ at 0x80200000%.%.0x%x+ does not fit in RAM %(0x80000000%.%.0x80200000%)")
  end)

  it("names an unknown option, machine, size or serial backend", function()
    fails({ "-frobnicate" }, "unknown option '%-frobnicate'")
    fails({ "-M", "pc", "-kernel", G .. "payload.elf" }, "unknown machine type 'pc'")
    fails({ "-m", "lots", "-kernel", G .. "payload.elf" }, "%-m lots: .*cannot read size 'lots'")
    fails({ "-serial", "tcp:1", "-kernel", G .. "payload.elf" }, "%-serial tcp:1: unknown serial backend")
    fails({ "-smp", "0", "-kernel", G .. "payload.elf" }, "%-smp 0: lemu supports 1 to 64 harts")
    fails({ "-nographic" }, "nothing to boot")
  end)
end)
