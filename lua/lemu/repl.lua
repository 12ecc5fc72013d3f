-- lemu.repl: the interactive prompt. Each complete chunk runs as a task, so `lemu.sleep` and every
-- other wait work at the prompt; the loop (guests, networks, timers) keeps running while it waits.
local lemu = require "lemu"
local rl = require "lemu.rl"
local core = lemu.core

local repl = {}

local function show(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  rl.print(table.concat(parts, "\t") .. "\n")
end

-- Compiles like lua5.4's REPL: first as an expression to print, then as a statement.
-- Returns fn, or nil and "incomplete", or nil and the syntax error.
local function compile(src)
  local fn = load("return " .. src, "=stdin")
  if fn then return fn end
  local err
  fn, err = load(src, "=stdin")
  if fn then return fn end
  if err:sub(-5) == "<eof>" then return nil, "incomplete" end
  return nil, err
end

function repl.run(opts)
  opts = opts or {}
  local done = false
  local buf
  local saved_print = print
  print = show  -- luacheck: ignore (the REPL owns the terminal)
  -- `help` alone prints the topics (it is a table whose tostring is the listing); help(x) a topic.
  if rawget(_G, "help") == nil then _G.help = require("lemu.help").help end

  local function prompt(p)
    if rl.prompt(p) then
      core.timer(0, 0, function(t) t:close() rl.drain() end)
    end
  end

  local function on_line(line)
    if line == nil then
      if not opts.quiet then rl.print("\n") end
      done = true
      rl.stop()
      core.stop()
      return
    end
    buf = buf and (buf .. "\n" .. line) or line
    local fn, err = compile(buf)
    if err == "incomplete" then return prompt(">> ") end
    rl.add_history(buf)
    buf = nil
    if not fn then
      show(err)
      return prompt("> ")
    end
    rl.pause()
    lemu.spawn(function()
      local r = table.pack(xpcall(fn, function(e)
        return type(e) == "string" and debug.traceback(e, 2) or e
      end))
      if r[1] then
        if r.n > 1 then show(table.unpack(r, 2, r.n)) end
      else
        show(tostring(r[2]))
      end
      if not done then prompt("> ") end
    end)
  end

  local home = os.getenv("HOME")
  rl.start(on_line, opts.history or (home and home .. "/.lemu_history"))
  if not opts.quiet then show("lemu " .. lemu.version .. "  (Lua 5.4; Ctrl-D leaves)") end
  prompt("> ")
  while not done do
    local why, sig = core.run()
    local err = core.take_error()
    if err ~= nil then show("error in a background task: " .. tostring(err)) end
    if why == "signal" then
      if sig == "SIGINT" and not done then
        buf = nil
        rl.print("^C\n")
        rl.pause()
        prompt("> ")
      else
        rl.stop()
        done = true
      end
    elseif why == "idle" then
      done = true
    end
  end
  print = saved_print  -- luacheck: ignore
end

return repl
