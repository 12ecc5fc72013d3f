-- lemu: the Lua face of the runtime. Tasks (coroutines) wait on events without blocking the loop;
-- lemu.run drives the loop until a task ends. Later layers add machines and networks to this table.
local core = require "lemu.core"
local net = require "lemu.net"

local lemu = {
  version = core.version,
  core = core,
  default_timeout = 10000,  -- ms; every wait has a timeout so a scenario fails instead of hanging
}

local tasks = setmetatable({}, { __mode = "k" })  -- coroutine -> task record
local running = false                             -- a lemu.run is driving the loop

local function errhandler(e)
  if type(e) == "string" then return debug.traceback(e, 2) end
  return e  -- error objects (busted's, tables) keep their identity
end

local function resume(co, ...)
  local ok, err = coroutine.resume(co, ...)
  if not ok then core.raise(err) end  -- only for errors outside the task's own xpcall
end

-- Runs fn(...) in a new task. A task's unhandled error is reported to whoever waits for it
-- (lemu.run), or else stops the loop and surfaces from the next lemu.run / the host program.
local function start_task(joined, fn, ...)
  local t = { done = false, joined = joined }
  local co = coroutine.create(function(...)
    local r = table.pack(xpcall(fn, errhandler, ...))
    t.done = true
    if r[1] then
      t.results = table.pack(table.unpack(r, 2, r.n))
    else
      t.err = r[2]
      if not t.joined then core.raise(t.err) end
    end
    for _, w in ipairs(t.joiners or {}) do w() end
    core.stop()  -- let lemu.run look at what finished
  end)
  t.co = co
  tasks[co] = t
  resume(co, ...)
  return t
end

function lemu.spawn(fn, ...)
  if type(fn) ~= "function" then error("lemu.spawn: expected a function, got " .. type(fn), 2) end
  return start_task(false, fn, ...)
end

local function current_task(what)
  local co, main = coroutine.running()
  if main or not tasks[co] then
    error(("%s must be called from a task (inside lemu.run, lemu.spawn or lemu.after)"):format(what), 3)
  end
  return co
end

-- The general wait: arm(wake) starts watching for an event and returns a disarm function;
-- wake(...) ends the wait and makes lemu.wait return its arguments. After timeout ms (default
-- lemu.default_timeout; false: none) the wait raises "timed out after N ms waiting for <what>".
-- A cancelled task (lemu.cancel) raises its reason from the wait it is in and from every later one.
local CANCEL, GUARD = {}, {}

-- The clock (docs/time.md). With the virtual clock a wait's timeout is guest time; a guard on host
-- time (guard_ms, default the larger of 120 s and ten times the timeout; false: none) stops a wait
-- whose guests make too little progress.
local clock_virtual, clock_guard = false, nil
function lemu.clock(opts)
  if opts ~= nil and type(opts) ~= "table" then error("lemu.clock: expected a table of options", 2) end
  local c = opts
  if opts and opts.guard_ms ~= nil then
    local g = opts.guard_ms
    if g ~= false and (math.type(g) ~= "integer" or g <= 0) then
      error(("lemu.clock: guard_ms=%s: must be milliseconds of host time (an integer > 0) or false")
        :format(tostring(g)), 2)
    end
    c = {}
    for k, v in pairs(opts) do if k ~= "guard_ms" then c[k] = v end end
    clock_guard = g
  end
  local ok, st = pcall(core.clock, c)
  if not ok then error(st, 2) end
  -- The host helpers' choices (DHCP xids, ports, ping ids) reach the guests too.
  if opts and opts.seed ~= nil then math.randomseed(opts.seed) end
  clock_virtual = st.mode == "virtual"
  if clock_guard ~= nil then st.guard_ms = clock_guard end
  return st
end

function lemu.wait(what, opts, arm)
  local co = current_task("lemu.wait")
  local t = tasks[co]
  if t.cancelled then error(t.cancelled, 2) end
  local timeout = lemu.default_timeout
  if opts and opts.timeout ~= nil then timeout = opts.timeout end
  local state, immediate, timer, guard, disarm = "arming", nil, nil, nil, nil
  local function finish(ok, ...)
    if state == "done" then return end
    local was = state
    state = "done"
    t.cancel_wait = nil
    if timer then timer:close() end
    if guard then guard:close() end
    if disarm then disarm() end
    if was == "arming" then immediate = table.pack(ok, ...)
    elseif coroutine.status(co) == "suspended" then resume(co, ok, ...) end
  end
  disarm = arm(function(...) finish(true, ...) end)
  if state == "done" then
    if disarm then disarm() end
  else
    state = "waiting"
    t.cancel_wait = function() finish(false, CANCEL) end
    if timeout then
      timer = core.timer(math.floor(timeout), 0, function() finish(false) end)
      if clock_virtual and clock_guard ~= false then
        local g, v0 = clock_guard or math.max(120000, 10 * math.floor(timeout)), core.now()
        guard = core.timer(g, 0, function() finish(false, GUARD, g, core.now() - v0) end, true)
      end
    end
  end
  local r = immediate or table.pack(coroutine.yield())
  if not r[1] then
    if r[2] == CANCEL then error(t.cancelled, 2) end
    if r[2] == GUARD then
      error(("wall-clock guard: waited %d s of host time for %s while the virtual clock advanced "
             .. "%.3f s of its %d ms timeout (the guests run too slowly; lemu.clock{guard_ms=N} "
             .. "sets the guard)"):format(r[3] // 1000, what, r[4] / 1000, timeout), 2)
    end
    error(("timed out after %d ms waiting for %s"):format(timeout, what), 2)
  end
  return table.unpack(r, 2, r.n)
end

-- Cancels task t (from lemu.spawn): the wait it is in ends at once (its timer and watch closed)
-- and raises reason (default "interrupted"), and so does every wait it starts later. The REPL's
-- Ctrl-C cancels the running chunk this way. Returns true if t was waiting.
function lemu.cancel(t, reason)
  if type(t) ~= "table" or not t.co then error("lemu.cancel: expected a task (from lemu.spawn)", 2) end
  if t.done then return false end
  t.cancelled = reason or "interrupted"
  local w = t.cancel_wait
  if w then w() return true end
  return false
end

-- Suspends the calling task for ms milliseconds of loop time.
function lemu.sleep(ms)
  current_task("lemu.sleep")
  if type(ms) ~= "number" or ms < 0 then error("lemu.sleep: ms must be a number >= 0", 2) end
  return lemu.wait("sleep", { timeout = false }, function(wake)
    local t = core.timer(math.floor(ms), 0, function() wake() end)
    return function() t:close() end
  end)
end

-- Runs fn in a new task after ms milliseconds. Returns the timer: :close() cancels it.
function lemu.after(ms, fn, ...)
  if type(ms) ~= "number" or ms < 0 then error("lemu.after: ms must be a number >= 0", 2) end
  if type(fn) ~= "function" then error("lemu.after: expected a function", 2) end
  local args = table.pack(...)
  return core.timer(math.floor(ms), 0, function(t)
    t:close()
    lemu.spawn(fn, table.unpack(args, 1, args.n))
  end)
end

-- Runs fn in a new task every ms milliseconds until the returned timer is closed.
function lemu.every(ms, fn)
  if type(ms) ~= "number" or ms <= 0 then error("lemu.every: ms must be a number > 0", 2) end
  return core.timer(math.floor(ms), math.floor(ms), function() lemu.spawn(fn) end)
end

-- Waits for task t (from lemu.spawn) and returns its results or raises its error.
function lemu.join(t, opts)
  t.joined = true
  if not t.done then
    lemu.wait("a task to finish", opts, function(wake)
      t.joiners = t.joiners or {}
      table.insert(t.joiners, wake)
      return function()
        for i, w in ipairs(t.joiners) do if w == wake then table.remove(t.joiners, i) break end end
      end
    end)
  end
  if t.err then error(t.err, 0) end
  return table.unpack(t.results, 1, t.results.n)
end

local function surface(err)
  if err ~= nil then error(err, 0) end
end

-- Runs the loop until fn (run as a task with the extra arguments) returns; returns its results or
-- raises its error with the task's traceback. Cannot be nested.
function lemu.run(fn, ...)
  if running then error("lemu.run: the loop is already running (use lemu.spawn inside a task)", 2) end
  if coroutine.isyieldable() then error("lemu.run: cannot run the loop from inside a task", 2) end
  surface(core.take_error())
  running = true
  if type(fn) ~= "function" then error("lemu.run: expected a function, got " .. type(fn), 2) end
  local t = start_task(true, fn, ...)
  local ok, err = pcall(function()
    while not t.done do
      local why, sig = core.run()
      surface(core.take_error())
      if why == "signal" then error("lemu.run: interrupted by " .. sig, 0) end
      if why == "idle" and not t.done then
        error("lemu.run: the task is waiting, but nothing is left that could wake it", 0)
      end
    end
  end)
  running = false
  if not ok then error(err, 0) end
  if t.err then error(t.err, 0) end
  return table.unpack(t.results, 1, t.results.n)
end

-- Runs the loop until nothing is left to do or a signal arrives (the host program's way to keep a
-- topology alive after its script ended), or until done() is true after the loop was stopped.
-- Returns "idle", "done" or the signal's name.
function lemu.serve(done)
  if running then error("lemu.serve: the loop is already running", 2) end
  running = true
  local ok, why, sig = pcall(function()
    while true do
      local why, sig = core.run()
      surface(core.take_error())
      if why ~= "stopped" then return why, sig end
      if done and done() then return "done" end
    end
  end)
  running = false
  if not ok then error(why, 0) end
  return why == "signal" and sig or why
end

-- VLANs: lemu.vlan(0), lemu.vlan "lan" — the same VLAN for the same number or name.
lemu.vlan = net.vlan
-- Scripted endpoints: vlan:endpoint{mac=, name=, queue=}, ep:send, ep:recv{timeout=, match=}.
require("lemu.endpoint").install(lemu)
-- Socket backends: vlan:socket{}, vlan:stream{}, vlan:dgram{} (QEMU's -net socket, -netdev stream/dgram).
require("lemu.sock").install(lemu)
-- Host backends: vlan:tap{}, vlan:vde{}.
require("lemu.hostnet").install(lemu)
-- Host sockets for scripts: lemu.tcp_connect, lemu.tcp_listen, lemu.unix_listen, lemu.udp.
require("lemu.stream").install(lemu)
-- User-mode networking (libslirp): vlan:user{...}, QEMU's -netdev user / -net user.
require("lemu.user").install(lemu)
-- The packet library (also require "lemu.packet"), loaded when first named: it is the largest
-- module, and a program that only parses a command line (lemu's own, the option fuzzer's) never
-- needs it.
setmetatable(lemu, { __index = function(t, k)
  if k ~= "packet" then return nil end
  local packet = require "lemu.packet"
  rawset(t, "packet", packet)
  return packet
end })

-- Machines: lemu.machine{ram=, smp=, bios=, kernel=, initrd=, append=, ...} (lua/lemu/machine.lua).
lemu.machine = require("lemu.machine")(lemu)
-- The lab as a graph: lemu.topology{format=, file=}, lemu.vlans(), lemu.machines(), lemu.ping_all().
require("lemu.topology").install(lemu)
-- QEMU's monitor (-monitor, Ctrl-A c, lemu.monitor(line)) and lemu.netdev(id).
require("lemu.monitor").install(lemu)

-- Milliseconds since the runtime started, on its clock (host time, or virtual time).
lemu.now = core.now

-- Closes every open lemu object (timers, processes, and later machines, VLANs, backends).
lemu.closeall = core.closeall

-- Child process: argv is a list; opts.cwd, opts.quiet; on_exit(proc, status, signal) runs in a
-- task. proc:wait{timeout=} waits for the exit and returns status, signal.
local proc_waiters = setmetatable({}, { __mode = "k" })

function lemu.process(argv, opts, on_exit)
  if type(argv) ~= "table" then error("lemu.process: argv must be a list of strings", 2) end
  return core.spawn(argv, opts or {}, function(proc, status, sig)
    local ws = proc_waiters[proc] or {}
    proc_waiters[proc] = nil
    for _, w in ipairs(ws) do w(status, sig) end
    if on_exit then lemu.spawn(on_exit, proc, status, sig) end
  end)
end

local procmt = debug.getregistry()["lemu.process"]
function procmt.wait(p, opts)
  local s, sig = p:status()
  if s then return s, sig end
  return lemu.wait(("process %d to exit"):format(p:pid()), opts, function(wake)
    local ws = proc_waiters[p] or {}
    proc_waiters[p] = ws
    ws[#ws + 1] = wake
  end)
end

-- A mailbox: producers put values, tasks get them in order, optionally only ones matching a
-- predicate. The building block for waiting on console text, frames and leases.
local Queue = {}
Queue.__index, Queue.__name = Queue, "queue"

function lemu.queue(name, limit)
  return setmetatable({ name = name or "queue", items = {}, waiters = {}, limit = limit, dropped = 0 }, Queue)
end

function Queue:put(v)
  for i, w in ipairs(self.waiters) do
    if not w.match or w.match(v) then
      table.remove(self.waiters, i)
      w.wake(v)
      return true
    end
  end
  if self.limit and #self.items >= self.limit then
    table.remove(self.items, 1)
    self.dropped = self.dropped + 1
  end
  self.items[#self.items + 1] = v
  return true
end

-- Returns the first queued value that matches opts.match (a function), waiting up to opts.timeout.
function Queue:get(opts)
  opts = opts or {}
  local match = opts.match
  for i, v in ipairs(self.items) do
    if not match or match(v) then return table.remove(self.items, i) end
  end
  local what = opts.what or (self.name .. (match and " (matching)" or ""))
  return lemu.wait(what, opts, function(wake)
    local w = { match = match, wake = wake }
    table.insert(self.waiters, w)
    return function()
      for i, x in ipairs(self.waiters) do if x == w then table.remove(self.waiters, i) break end end
    end
  end)
end

function Queue:clear() self.items = {} end
function Queue:__len() return #self.items end

return lemu
