-- Bare-metal ISA tests (guest/isa) on the whole virt board rather than the C harness's bare hart:
-- mip.elf needs the PLIC and the UART (the UART's IRQ 10 drives SEIP through the PLIC's S-mode
-- context) and pins the interrupt-pending rules (csrs/csrc of mip and sip touch only the
-- software-writable bits; Sstc's stimecmp, menvcfg.STCE and its S-mode access). It runs on
-- build/lemu and on qemu-system-riscv64, and must pass (sifive_test pass: exit status 0) on both.
-- trigger.elf pins the debug trigger CSRs as QEMU 7.2 offers them (two address-match triggers,
-- breakpoints on execution, loads and stores per mode) and runs on both.
-- minstret.elf pins the spec's minstret write semantics and runs on lemu only: QEMU 7.2 counts
-- host ticks for minstret without -icount, and with -icount shift=0 it counts the writing
-- instruction too, so the next read after `csrwi minstret, 0` sees 1 (the deltas agree).
local H = require "helper"

local have_qemu = H.have("qemu-system-riscv64")

local function args(elf)
  return "-M virt -bios none -nographic -kernel " .. H.quote("guest/isa/bin/" .. elf) .. " </dev/null"
end

local function lemu(elf, accel)
  return H.sh(H.lemu_env .. "timeout -k 5 30 " .. H.quote(H.lemu_bin) .. " " ..
              (accel and "-accel " .. accel .. " " or "") .. args(elf))
end

local function qemu(elf)
  return H.sh("env -u LD_PRELOAD -u ASAN_OPTIONS timeout -k 5 30 qemu-system-riscv64 " .. args(elf))
end

describe("bare-metal ISA tests on the virt board", function()
  it("mip: device lines are not latched by csrs/csrc of mip/sip; Sstc (lemu)", function()
    local out, status = lemu("mip.elf")
    assert.equal(0, status, out)
  end)

  it("mip, trigger and minstret pass on both engines (the translator on x86-64 hosts), and a bad -accel is named", function()
    local out, status = lemu("mip.elf", "bogus")
    assert.equal(1, status, out)
    assert.matches("unknown accelerator 'bogus' (lemu has interp and jit)", out, 1, true)
    local engines = H.sh("uname -m"):match("x86_64") and { "interp", "jit" } or { "interp" }
    for _, eng in ipairs(engines) do
      for _, elf in ipairs{ "mip.elf", "trigger.elf", "minstret.elf" } do
        out, status = lemu(elf, eng)
        assert.equal(0, status, eng .. ": " .. elf .. ": " .. out)
      end
    end
    if #engines == 1 then pending("the translator is x86-64 only") end
  end)

  it("mip: device lines are not latched by csrs/csrc of mip/sip; Sstc (qemu-system-riscv64)", function()
    if not have_qemu then pending("qemu-system-riscv64 is not installed (Debian: qemu-system-misc)") return end
    local out, status = qemu("mip.elf")
    assert.equal(0, status, out)
  end)

  it("trigger: debug triggers break on execution, loads and stores as QEMU's do (lemu)", function()
    local out, status = lemu("trigger.elf")
    assert.equal(0, status, out)
  end)

  it("trigger: debug triggers break on execution, loads and stores as QEMU's do (qemu-system-riscv64)", function()
    if not have_qemu then pending("qemu-system-riscv64 is not installed (Debian: qemu-system-misc)") return end
    local out, status = qemu("trigger.elf")
    assert.equal(0, status, out)
  end)

  it("minstret: a written value is what the next instruction reads (lemu)", function()
    local out, status = lemu("minstret.elf")
    assert.equal(0, status, out)
  end)
end)
