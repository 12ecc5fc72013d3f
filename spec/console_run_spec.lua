-- m.console:run(cmd, {timeout=}) on the default guest (guest/images): the command's output without
-- the echoed line, its exit status (0, false's 1, a subshell's exit 3), and a timeout error that
-- names the command. Pending where the images are absent.
local lemu = require "lemu"
local G = require "guest"

describe("m.console:run", function()
  after_each(function() lemu.closeall() end)

  it("returns a command's output and exit status, and names the command on timeout", function()
    if not G.available() then pending("the guest images are not in this tree") return end
    lemu.run(function()
      local m = G.boot{}
      local out, st = m.console:run("echo hello; echo world")
      assert.equal("hello\nworld\n", out)
      assert.equal(0, st)
      -- the echoed line never appears in the output
      assert.not_matches("echo", out)
      out, st = m.console:run("false")
      assert.equal("", out)
      assert.equal(1, st)
      out, st = m.console:run("(echo going; exit 3)")
      assert.equal("going\n", out)
      assert.equal(3, st)
      out, st = m.console:run("ls /nonexistent")
      assert.matches("No such file", out)
      assert.is_true(st ~= 0)
      -- a command that outlives its timeout
      local ok, err = pcall(m.console.run, m.console, "sleep 5", { timeout = 500 })
      assert.is_false(ok)
      assert.matches('console:run%("sleep 5"%): did not finish within 500 ms', err)
      -- the shell is still there once the command ends
      m.console:expect("# ", { timeout = 10000 })
      out, st = m.console:run("echo after")
      assert.equal("after\n", out)
      assert.equal(0, st)
      local ok2, err2 = pcall(m.console.run, m.console, "echo a\necho b")
      assert.is_false(ok2)
      assert.matches("one line", err2)
      m.console:send("poweroff -f\n")
      assert.equal(0, m:wait_exit { timeout = 20000 })
    end)
  end)
end)
