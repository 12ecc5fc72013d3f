-- Machines from Lua: lemu.machine{} with its console (expect, wait_line, lines, send, failure
-- strings, log), lifecycle (pause, resume, reset, stop, wait_exit), several machines in one
-- runtime, and an idle guest costing no host CPU.
local lemu = require "lemu"
local H = require "helper"

local G = "guest/board/"

describe("lemu.machine", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(function() H.sh("rm -rf " .. H.quote(dir)) end)
  after_each(function() lemu.closeall() end)

  it("expects console output, returning the match and its captures, and sends input", function()
    lemu.run(function()
      local m = lemu.machine{ bios = "none", kernel = G .. "echo.elf", ram = "64M" }
      assert.equal("running", m:state())
      assert.equal("echo> ", m.console:expect("echo> ", { timeout = 5000 }))
      m.console:send("abc def\r")
      local whole, a, b = m.console:expect("(%u+) (%u+)", { timeout = 5000 })
      assert.equal("ABC DEF", whole)
      assert.equal("ABC", a)
      assert.equal("DEF", b)
      m.console:send("quit\n")
      assert.equal(0, m:wait_exit { timeout = 5000 })
      assert.equal("exited", m:state())
      assert.equal(0, m:exit_status())
    end)
  end)

  it("names the pattern and shows the console's last output when expect times out", function()
    local ok, err = pcall(lemu.run, function()
      local m = lemu.machine{ bios = "none", kernel = G .. "echo.elf" }
      m.console:expect("echo> ")
      m.console:expect("login:", { timeout = 100 })
    end)
    assert.is_false(ok)
    assert.matches("timed out after 100 ms waiting for console output matching 'login:'; "
      .. "console's last output: \"echo> \"", err, 1, true)
  end)

  it("fails a wait once a registered failure string is printed", function()
    local ok, err = pcall(lemu.run, function()
      local m = lemu.machine{ bios = "none", kernel = G .. "echo.elf" }
      m.console:fail_on("PANIC")
      m.console:send("panic\n")
      m.console:expect("never printed", { timeout = 5000 })
    end)
    assert.is_false(ok)
    assert.matches('console printed "PANIC", registered as a failure', err, 1, true)
  end)

  it("iterates over lines until the machine exits, logging them to a file", function()
    local lines = lemu.run(function()
      local m = lemu.machine{ bios = "none", kernel = G .. "hello.elf", log = dir .. "/console.log" }
      local t = {}
      for line in m.console:lines { timeout = 5000 } do t[#t + 1] = line end
      return t
    end)
    assert.equal("hello from a bare-metal program on the virt board", lines[1])
    assert.equal("powering off", lines[#lines])
    assert.equal(table.concat(lines, "\n") .. "\n", H.read(dir .. "/console.log"))
  end)

  it("waits for a whole line containing a pattern", function()
    lemu.run(function()
      local m = lemu.machine{ kernel = G .. "payload.elf" }
      assert.equal("payload: SBI spec 2.0, TIME present, SRST present", m.console:wait_line("SBI spec"))
      assert.equal(0, m:wait_exit())
    end)
  end)

  it("reports the guest's exit status and raises when a wait outlives the machine", function()
    local ok, err = pcall(lemu.run, function()
      local m = lemu.machine{ bios = "none", kernel = G .. "fail.elf" }
      assert.equal(42, m:wait_exit { timeout = 5000 })
      m.console:expect("more output", { timeout = 5000 })
    end)
    assert.is_false(ok)
    assert.matches("the machine exited (status 42) while waiting for console output matching 'more output'",
                   err, 1, true)
  end)

  it("holds a paused machine's guest still and lets it go on after resume", function()
    lemu.run(function()
      local m = lemu.machine{ bios = "none", kernel = G .. "echo.elf" }
      m.console:expect("echo> ")
      m:pause()
      assert.equal("paused", m:state())
      m.console:send("held\n")
      lemu.sleep(100)
      assert.equal("echo> ", m.console:recent())
      m:resume()
      assert.equal("HELD", m.console:expect("HELD", { timeout = 5000 }))
    end)
  end)

  it("resets: the guest boots again from the reset ROM", function()
    lemu.run(function()
      local m = lemu.machine{ bios = "none", kernel = G .. "echo.elf" }
      m.console:expect("echo> ")
      m.console:send("one\n")
      m.console:expect("ONE\necho> ")
      m:reset()
      m.console:send("two\n")
      m.console:expect("echo> TWO\n", { timeout = 5000 })
    end)
  end)

  it("stops a machine with a status of the script's choosing", function()
    lemu.run(function()
      local m = lemu.machine{ bios = "none", kernel = G .. "echo.elf" }
      m.console:expect("echo> ")
      m:stop(7)
      assert.equal(7, m:wait_exit { timeout = 1000 })
    end)
  end)

  it("runs several machines in one runtime", function()
    lemu.run(function()
      local a = lemu.machine{ bios = "none", kernel = G .. "echo.elf", name = "a" }
      local b = lemu.machine{ bios = "none", kernel = G .. "echo.elf", name = "b" }
      local c = lemu.machine{ kernel = G .. "payload.elf", smp = 2, name = "c" }
      a.console:send("from a\n")
      b.console:send("from b\n")
      assert.equal("FROM A", a.console:expect("FROM %u", { timeout = 5000 }))
      assert.equal("FROM B", b.console:expect("FROM %u", { timeout = 5000 }))
      assert.equal(0, c:wait_exit { timeout = 5000 })
      assert.equal("running", a:state())
    end)
  end)

  it("costs no host CPU while its guest waits in WFI", function()
    lemu.run(function()
      local m = lemu.machine{ bios = "none", kernel = G .. "echo.elf" }
      m.console:expect("echo> ")
      -- Let machines closed by earlier tests finish freeing their RAM (costly under ASan) first.
      lemu.sleep(100)
      local before, c0 = m:info().instret, os.clock()
      lemu.sleep(300)
      -- The hart sat in WFI: no instructions, and the process used (almost) no CPU meanwhile.
      assert.equal(before, m:info().instret)
      assert.is_true(os.clock() - c0 < 0.05, "used " .. (os.clock() - c0) .. " s of CPU while idle")
    end)
  end)

  it("runs the translator by default on x86-64 hosts and the interpreter when asked (info().accel)", function()
    local env = os.getenv("LEMU_ACCEL")
    local x86 = H.sh("uname -m"):match("x86_64") ~= nil
    local m = lemu.machine{ kernel = G .. "payload.elf", start = false }
    assert.equal(env ~= "" and env or (x86 and "jit" or "interp"), m:info().accel)
    m:close()
    m = lemu.machine{ kernel = G .. "payload.elf", accel = "interp", start = false }
    assert.equal("interp", m:info().accel)
    m:close()
    if x86 then
      m = lemu.machine{ kernel = G .. "payload.elf", accel = "jit", start = false }
      assert.equal("jit", m:info().accel)
      m:close()
    end
  end)

  it("rejects bad options with the reason", function()
    assert.has_error(function() lemu.machine{ kernel = "/nonexistent/k" } end,
                     "-kernel /nonexistent/k: No such file or directory")
    assert.has_error(function() lemu.machine{ kernel = G .. "payload.elf", ram = "12Q" } end)
    assert.has_error(function() lemu.machine("virt") end, "lemu.machine: expected a table of options")
    local ok, err = pcall(lemu.machine, { kernal = G .. "payload.elf" })
    assert.is_false(ok)
    assert.matches("lemu.machine: unknown option 'kernal' (known: accel, append, bios,", err, 1, true)
    assert.has_error(function() lemu.machine{ kernel = G .. "payload.elf", accel = "fast" } end,
                     "-accel fast: unknown accelerator (lemu has interp and jit)")
  end)

  -- Found by fuzz_opts: a machine that failed to build stayed listed with no board behind it, so
  -- lemu.machines(), the topology and the monitor's info network, stop and cont raised Lua errors.
  it("does not list a machine that failed to build", function()
    local before = #lemu.machines()
    assert.has_error(function() lemu.machine{ kernel = "/nonexistent/k" } end)
    assert.has_error(function() lemu.machine{ kernel = G .. "payload.elf", nics = { { model = "nosuch" } } } end)
    assert.equal(before, #lemu.machines())
    assert.equal("Error: there is no machine\n", lemu.monitor("stop"))
    assert.not_matches("attempt to", lemu.monitor("info network"))
    assert.is_table(lemu.topology { format = "table" })
  end)
end)
