-- The command line's rough edges: QEMU's no-peer warning for a -netdev no NIC uses, -nic none and
-- -net none accepted, --help and the man page (build/lemu.1) listing every option of the table the
-- parser reads.
local lemu = require "lemu"
local cmdline = require "lemu.cmdline"
local main = require "lemu.main"
local H = require "helper"

local HELLO = "guest/board/hello.elf"   -- a bare-metal program that prints and powers off
local BUILD = os.getenv("LEMU_BUILD") or "build"

local function lemu_run(args) return H.lemu(args, "timeout -k 5 20") end

describe("the command line", function()
  after_each(function() lemu.closeall() end)

  it("warns once the machine is built about each -netdev no NIC uses, as QEMU does", function()
    local out, status = lemu_run { "-M", "virt", "-nographic", "-bios", HELLO,
      "-netdev", "socket,id=n0,listen=127.0.0.1:0", "-netdev", "user,id=n1",
      "-netdev", "user,id=n2", "-device", "virtio-net-device,netdev=n2" }
    assert.equal(0, status, out)
    -- QEMU 7.2: "qemu-system-riscv64: warning: netdev n0 has no peer"
    assert.matches("lemu: warning: netdev n0 has no peer\n", out, 1, true)
    assert.matches("lemu: warning: netdev n1 has no peer\n", out, 1, true)
    assert.not_matches("netdev n2 has no peer", out, 1, true)
    local _, count = out:gsub("has no peer", "")
    assert.equal(2, count)
    -- a NIC on it: no warning
    out, status = lemu_run { "-M", "virt", "-nographic", "-bios", HELLO,
      "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0" }
    assert.equal(0, status, out)
    assert.not_matches("no peer", out, 1, true)
  end)

  it("accepts -nic none and -net none (no NIC), and names a bad -nic backend once", function()
    for _, args in ipairs { { "-nic", "none" }, { "-net", "none" } } do
      local out, status = lemu_run { "-M", "virt", "-nographic", "-bios", HELLO, args[1], args[2] }
      assert.equal(0, status, out)
      assert.matches("powering off", out, 1, true)
    end
    local out, status = lemu_run { "-nic", "frob" }
    assert.equal(1, status)
    assert.matches("^lemu: %-nic frob: unknown backend type 'frob' %(valid: [^)]*none[^)]*user", out)
    local _, n = out:gsub("%-nic frob", "")
    assert.equal(1, n)   -- the option is named once
    out, status = lemu_run { "-nic", "none,model=e1000" }
    assert.equal(1, status)
    assert.matches("-nic none: unknown option 'model'", out, 1, true)
  end)

  it("lists every option in --help and in the man page, from the parser's table", function()
    local help, status = lemu_run { "--help" }
    assert.equal(0, status)
    local page = H.read(BUILD .. "/lemu.1")
    assert.is_truthy(page, BUILD .. "/lemu.1 is built by make")
    assert.matches("^%.TH LEMU 1", page)
    local names = cmdline.names()
    assert.is_true(#names >= 15)
    for _, name in ipairs(names) do
      local o = cmdline.options[name]
      assert.matches("\n  %-" .. name:gsub("%p", "%%%0") .. "[ \n]", help, nil, false, "--help lacks -" .. name)
      assert.matches('\\fB\\-' .. name:gsub("%-", "\\-") .. '\\fR', page, 1, true, "lemu.1 lacks -" .. name)
      -- the help text itself, word for word (the page escapes hyphens)
      assert.matches(o.help:gsub("%-", "\\-"):sub(1, 30), page, 1, true)
    end
    for _, o in ipairs(main.host_options) do
      for _, n in ipairs(o.names) do
        assert.matches(n, help, 1, true)
        assert.matches("\\fB" .. n:gsub("%-", "\\-") .. "\\fR", page, 1, true)
      end
    end
    -- the page is what the generator makes now (a stale build would differ)
    local tmp = os.tmpname()
    local _, st = H.lemu { "scripts/manpage.lua", tmp }
    assert.equal(0, st)
    assert.equal(page, H.read(tmp))
    os.remove(tmp)
    -- lines of --help fit in 100 columns, except an option's own spelling
    for line in help:gmatch("[^\n]+") do
      if #line > 100 then assert.matches("^  %-", line) end
    end
  end)
end)
