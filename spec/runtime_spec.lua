-- The Lua API's shape: tasks, waits with timeouts, errors with tracebacks, explicit lifetimes.
local lemu = require "lemu"

describe("lemu.run", function()
  after_each(function() lemu.closeall() end)

  it("returns what the task returns, after its waits", function()
    local t0 = lemu.now()
    local a, b = lemu.run(function(x)
      lemu.sleep(30)
      return x * 2, "done"
    end, 21)
    assert.equal(42, a)
    assert.equal("done", b)
    assert.is_true(lemu.now() - t0 >= 29)
  end)

  it("raises the task's error with its traceback", function()
    local ok, err = pcall(lemu.run, function()
      lemu.sleep(1)
      local function inner() error("bad thing") end
      inner()
    end)
    assert.is_false(ok)
    assert.matches("runtime_spec.lua:%d+: bad thing", err)
    assert.matches("stack traceback", err)
    assert.matches("in %a* ?.*inner", err)
  end)

  it("names what a timed-out wait was waiting for, and for how long", function()
    local q = lemu.queue("console text 'login:'")
    local ok, err = pcall(lemu.run, function() q:get { timeout = 40 } end)
    assert.is_false(ok)
    assert.matches("timed out after 40 ms waiting for console text 'login:'", err, 1, true)
  end)

  it("cancels a task: its wait raises at once, its timer never fires, later waits raise too", function()
    local seen = {}
    lemu.run(function()
      local q = lemu.queue("a value")
      local t = lemu.spawn(function()
        local ok, err = pcall(q.get, q, { timeout = 50 })
        seen[#seen + 1] = err
        ok, err = pcall(lemu.sleep, 10)   -- a cancelled task keeps failing its waits
        seen[#seen + 1] = err
      end)
      assert.is_true(lemu.cancel(t, "stop now"))
      assert.is_false(lemu.cancel(t))   -- done: nothing left to cancel
      lemu.sleep(100)                   -- past the 50 ms timeout: it must not fire
      q:put(1)                          -- and the cancelled get must not take the value
      assert.equal(1, q:get { timeout = 10 })
    end)
    assert.equal(2, #seen)
    assert.matches("stop now", seen[1])
    assert.matches("stop now", seen[2])
    assert.has_error(function() lemu.cancel({}) end, "lemu.cancel: expected a task (from lemu.spawn)")
  end)

  it("reports a task that waits on nothing that could wake it", function()
    local ok, err = pcall(lemu.run, function()
      lemu.wait("a wake-up that never comes", { timeout = false }, function() end)
    end)
    assert.is_false(ok)
    assert.matches("nothing is left that could wake it", err)
  end)

  it("cannot be nested inside a task", function()
    local ok, err = pcall(lemu.run, function() lemu.run(function() end) end)
    assert.is_false(ok)
    assert.matches("already running", err)
  end)

  it("surfaces an error raised in a lemu.after callback", function()
    local ok, err = pcall(lemu.run, function()
      lemu.after(5, function() error("callback failed") end)
      lemu.sleep(200)
    end)
    assert.is_false(ok)
    assert.matches("callback failed", err)
  end)
end)

describe("waits", function()
  after_each(function() lemu.closeall() end)

  it("sleep, after and every interleave in loop time order", function()
    local log = {}
    lemu.run(function()
      lemu.after(20, function() log[#log + 1] = "after20" end)
      local n = 0
      local tick
      tick = lemu.every(15, function()
        n = n + 1
        log[#log + 1] = "tick" .. n
        if n == 2 then tick:close() end
      end)
      lemu.sleep(60)
      log[#log + 1] = "slept"
    end)
    assert.same({ "tick1", "after20", "tick2", "slept" }, log)
  end)

  it("a queue hands values to waiting tasks, with a match predicate", function()
    local got = lemu.run(function()
      local q = lemu.queue("frames")
      lemu.after(10, function() q:put(1) q:put(7) q:put(8) end)
      local even = q:get { match = function(v) return v % 2 == 0 end, timeout = 1000 }
      local first = q:get { timeout = 1000 }
      return { even, first, #q }
    end)
    assert.same({ 8, 1, 1 }, got)
  end)

  it("a value already queued is returned without waiting", function()
    local q = lemu.queue("q")
    q:put("x")
    assert.equal("x", lemu.run(function() return q:get { timeout = 0 } end))
  end)

  it("join returns a spawned task's results and raises its error", function()
    local r = lemu.run(function()
      local t = lemu.spawn(function() lemu.sleep(5) return "child" end)
      return lemu.join(t)
    end)
    assert.equal("child", r)
    local ok, err = pcall(lemu.run, function()
      local t = lemu.spawn(function() lemu.sleep(5) error("child failed") end)
      lemu.join(t)
    end)
    assert.is_false(ok)
    assert.matches("child failed", err)
  end)

  it("waiting outside a task is an error that says so", function()
    local ok, err = pcall(lemu.sleep, 10)
    assert.is_false(ok)
    assert.matches("must be called from a task", err)
  end)

  it("rejects bad arguments with the name of the call", function()
    assert.has_error(function() lemu.after(-1, function() end) end, "lemu.after: ms must be a number >= 0")
    assert.has_error(function() lemu.every(0, function() end) end, "lemu.every: ms must be a number > 0")
  end)
end)

describe("object lifetimes", function()
  after_each(function() lemu.closeall() end)

  it("a closed timer is an error to use, never a crash", function()
    local t = lemu.core.timer(1000, 0, function() end)
    t:close()
    assert.is_true(t:closed())
    local ok, err = pcall(t.start, t, 10)
    assert.is_false(ok)
    assert.matches("attempt to use a closed timer", err)
    t:close() -- closing twice is harmless
  end)

  it("garbage collection does not free a timer the loop still references", function()
    local fired = false
    lemu.after(30, function() fired = true end) -- no Lua reference kept
    collectgarbage()
    collectgarbage()
    lemu.run(function() lemu.sleep(60) end)
    assert.is_true(fired)
  end)

  it("closeall closes every open object", function()
    -- A closed handle counts until libuv's close callback, which may come after lemu.run has
    -- returned (the wait's own timer); the bare loop runs until nothing is left, closes included.
    lemu.closeall()
    assert.equal("idle", lemu.core.run())
    local before = lemu.core.objects()
    lemu.core.timer(1000, 0, function() end)
    lemu.core.timer(1000, 0, function() end)
    assert.equal(before + 2, lemu.core.objects())
    assert.equal(2, lemu.closeall())
    assert.equal("idle", lemu.core.run())
    assert.equal(before, lemu.core.objects())
  end)
end)

describe("child processes", function()
  after_each(function() lemu.closeall() end)

  it("run through the loop and report their exit status", function()
    local status = lemu.run(function()
      local p = lemu.process({ "/bin/sh", "-c", "sleep 0.05; exit 3" })
      return p:wait { timeout = 5000 }
    end)
    assert.equal(3, status)
  end)

  it("a program that does not exist is a clear error", function()
    local ok, err = pcall(lemu.process, { "/nonexistent/smbd" })
    assert.is_false(ok)
    assert.matches("cannot run '/nonexistent/smbd'", err, 1, true)
  end)

  it("can be killed", function()
    local status, sig = lemu.run(function()
      local p = lemu.process({ "/bin/sleep", "10" })
      lemu.sleep(10)
      p:kill(15)
      return p:wait { timeout = 5000 }
    end)
    assert.equal(15, sig)
  end)
end)
