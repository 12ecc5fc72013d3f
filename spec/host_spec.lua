-- The host program: scripts with arguments, -e, errors and exit status, --help, --version.
local H = require "helper"

describe("the lemu host program", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(function() H.sh("rm -rf " .. H.quote(dir)) end)

  it("runs a script with its arguments in `arg`", function()
    H.write(dir .. "/args.lua", 'print(arg[0], #arg, ...)\nprint(arg[1], arg[2])\n')
    local out, status = H.lemu({ dir .. "/args.lua", "one", "two words" })
    assert.equal(0, status)
    assert.equal(dir .. "/args.lua\t2\tone\ttwo words\none\ttwo words\n", out)
  end)

  it("lets a script wait at top level and keeps the loop running for its timers", function()
    H.write(dir .. "/wait.lua", [[
      local lemu = require "lemu"
      lemu.sleep(20)
      print("slept")
      lemu.after(30, function() print("later") end)
      print("script ends")
    ]])
    local out, status = H.lemu({ dir .. "/wait.lua" })
    assert.equal(0, status)
    assert.equal("slept\nscript ends\nlater\n", out)
  end)

  it("prints a script error as 'lemu: file:line: message' and exits non-zero", function()
    H.write(dir .. "/bad.lua", "local x = 1\nerror('broken topology')\n")
    local out, status = H.lemu({ dir .. "/bad.lua" })
    assert.equal(1, status)
    assert.matches("^lemu: " .. dir:gsub("%p", "%%%0") .. "/bad.lua:2: broken topology\n", out)
  end)

  it("reports a syntax error before running anything", function()
    H.write(dir .. "/syntax.lua", "print('no')\nlocal = 3\n")
    local out, status = H.lemu({ dir .. "/syntax.lua" })
    assert.equal(1, status)
    assert.matches("^lemu: .*syntax.lua:2:", out)
    assert.not_matches("no\n", out)
  end)

  it("reports a missing script", function()
    local out, status = H.lemu({ dir .. "/missing.lua" })
    assert.equal(1, status)
    assert.matches("lemu: cannot open .*missing.lua", out)
  end)

  it("runs -e code, in order, before the script", function()
    H.write(dir .. "/s.lua", "print('script', x)\n")
    local out, status = H.lemu({ "-e", "x = 5", "-e", "print('e', x)", dir .. "/s.lua" })
    assert.equal(0, status)
    assert.equal("e\t5\nscript\t5\n", out)
  end)

  it("errors in an after() callback end the program with status 1", function()
    local out, status = H.lemu({ "-e", "require'lemu'.after(10, function() error('late failure') end)" })
    assert.equal(1, status)
    assert.matches("lemu: %(command line%):1: late failure", out)
  end)

  it("has --help and --version", function()
    local out, status = H.lemu({ "--help" })
    assert.equal(0, status)
    assert.matches("usage: lemu", out)
    out, status = H.lemu({ "--version" })
    assert.equal(0, status)
    assert.matches("^lemu %d+%.%d+%.%d+ %(Lua 5%.4%)", out)
  end)

  it("rejects an unknown option by name", function()
    local out, status = H.lemu({ "-frobnicate" })
    assert.equal(1, status)
    assert.equal("lemu: unknown option '-frobnicate' (see lemu --help)\n", out)
    out, status = H.lemu({ "-e" })
    assert.equal(1, status)
    assert.matches("option '%-e' needs an argument", out)
  end)

  it("stops cleanly on SIGTERM while serving", function()
    H.write(dir .. "/serve.lua", "require'lemu'.every(1000, function() end)\nprint('serving')\n")
    local out, status = H.sh("(" .. H.lemu_bin .. " " .. dir .. "/serve.lua & pid=$!; sleep 0.3; kill -TERM $pid; wait $pid)")
    assert.equal(0, status)
    assert.matches("serving\n", out)
    assert.matches("lemu: terminating on SIGTERM", out)
  end)

  it("reads a REPL session from a pipe like lua5.4 does", function()
    local out, status = H.sh("printf 'x = 1 +\\n 2\\nx * 10\\nlocal l = require\"lemu\"; l.sleep(10); return \"slept\"\\n' | "
      .. H.lemu_bin .. " -q")
    assert.equal(0, status)
    assert.equal("> >> > 30\n> slept\n> ", out)
  end)
end)

describe("the Lua module", function()
  it("loads in stock lua5.4 with the build on package.cpath", function()
    if H.tsan() then
      pending("a ThreadSanitizer module needs its runtime loaded first, which stock lua5.4 does not do")
      return
    end
    local out, status = H.sh("LUA_CPATH='" .. H.build .. "/?.so' lua5.4 -e 'local l = require\"lemu\"; print(type(l.run), l.version)'")
    assert.equal(0, status)
    assert.matches("^function\t%d+%.%d+%.%d+\n$", out)
  end)
end)
