-- lemu.repl: the interactive prompt. Each complete chunk runs as a task, so `lemu.sleep` and every
-- other wait work at the prompt; the loop (guests, networks, timers) keeps running while it waits.
-- `help` comes from lua/lemu/help.lua, Tab asks repl.complete, Ctrl-C cancels the chunk's task
-- (lemu.cancel), results print through repl.pretty, and m.console:attach() (lua/lemu/machine.lua)
-- borrows the terminal from a chunk.
local lemu = require "lemu"
local rl = require "lemu.rl"
local core = lemu.core

local repl = {}

-- Results print readably: a plain table (no metatable naming it) as its contents, keys sorted,
-- nested a few levels and cut short; anything with a __tostring (m:info(), vlan:info()...) or a
-- __name as tostring gives it.
local MAX_DEPTH, MAX_ITEMS, WIDTH = 3, 30, 100

local function plain(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return mt == nil or (type(mt) == "table" and rawget(mt, "__tostring") == nil and rawget(mt, "__name") == nil)
end

local function keyorder(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta == "number" or (ta == "string" and tb ~= "number") end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local function scalar(v)
  if type(v) == "string" then return ("%q"):format(v):gsub("\\\n", "\\n") end
  return tostring(v)
end

local pretty
pretty = function(t, depth, seen, indent)
  if not plain(t) then return scalar(t) end
  if seen[t] then return "<cycle>" end
  if depth > MAX_DEPTH then return "{...}" end
  seen[t] = true
  local n = #t
  local keys = {}
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, keyorder)
  local items, more = {}, 0
  local inner = indent .. "  "
  for i = 1, n do
    if #items >= MAX_ITEMS then more = more + 1 else items[#items + 1] = pretty(t[i], depth + 1, seen, inner) end
  end
  for _, k in ipairs(keys) do
    if #items >= MAX_ITEMS then more = more + 1
    else
      local ks = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. scalar(k) .. "]")
      items[#items + 1] = ks .. " = " .. pretty(t[k], depth + 1, seen, inner)
    end
  end
  seen[t] = nil
  if more > 0 then items[#items + 1] = ("... (%d more)"):format(more) end
  if #items == 0 then return "{}" end
  local one = "{ " .. table.concat(items, ", ") .. " }"
  if #one + #indent <= WIDTH and not one:find("\n") then return one end
  return "{\n" .. inner .. table.concat(items, ",\n" .. inner) .. "\n" .. indent .. "}"
end

local function show(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do
    local v = (select(i, ...))
    parts[i] = plain(v) and pretty(v, 1, {}, "") or tostring(v)
  end
  rl.print(table.concat(parts, "\t") .. "\n")
end

-- Tab completion of Lua names: globals, `a.b` fields and `a:b` methods (walking tables and the
-- __index of metatables). Names starting with "_" are offered only once "_" is typed.
local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
                   "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until",
                   "while" }

local function fields(v, methods, out, seen)
  seen = seen or {}
  if v == nil or seen[v] then return out end
  seen[v] = true
  if type(v) == "table" then
    for k, x in pairs(v) do
      if type(k) == "string" and k:match("^[%a_][%w_]*$") and (not methods or type(x) == "function") then
        out[k] = true
      end
    end
  end
  local mt = getmetatable(v)
  if type(mt) == "table" then
    local idx = rawget(mt, "__index")
    if type(idx) == "table" then fields(idx, methods, out, seen) end
  end
  return out
end

local function lookup(path)
  local v = _G
  for name in path:gmatch("[^.:]+") do
    if type(v) ~= "table" and type(v) ~= "userdata" then return nil end
    local ok, x = pcall(function() return v[name] end)
    if not ok then return nil end
    v = x
  end
  return v
end

function repl.complete(word)
  local head, sep, part = word:match("^(.-)([.:])([%w_]*)$")
  local names
  if head then
    if not head:match("^[%a_][%w_]*[%w_.]*$") or head:find("%.%.") then return {} end
    names = fields(lookup(head), sep == ":", {})
  else
    part, head, sep = word, "", ""
    if not word:match("^[%a_]?[%w_]*$") then return {} end
    names = fields(_G, false, {})
    for _, k in ipairs(KEYWORDS) do names[k] = true end
  end
  local out = {}
  for k in pairs(names) do
    if k:sub(1, #part) == part and (part:sub(1, 1) == "_" or k:sub(1, 1) ~= "_") then
      out[#out + 1] = head .. sep .. k
    end
  end
  table.sort(out)
  return out
end

repl.pretty = function(v) return plain(v) and pretty(v, 1, {}, "") or tostring(v) end

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
  local running  -- the chunk whose task runs: {task=, cancelled=}
  local swallow_sigint = false
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
    local chunk = {}
    running = chunk
    chunk.task = lemu.spawn(function()
      rl.guard()  -- Ctrl-C in a loop that never waits raises "interrupted" in this coroutine
      local r = table.pack(xpcall(fn, function(e)
        return type(e) == "string" and debug.traceback(e, 2) or e
      end))
      local hooked = rl.unguard()
      if chunk.cancelled then return end  -- Ctrl-C: the prompt is already back
      running = nil
      if hooked and not r[1] then
        -- interrupted by the hook: the runtime's SIGINT arrives next and must not drop a line
        swallow_sigint = true
        rl.print("\r\27[K^C interrupted\n")
      elseif r[1] then
        if r.n > 1 then show(table.unpack(r, 2, r.n)) end
      else
        show(tostring(r[2]))
      end
      if not done then prompt("> ") end
    end)
  end

  local home = os.getenv("HOME")
  rl.start(on_line, opts.history or (home and home .. "/.lemu_history"), repl.complete)
  if not opts.quiet then show("lemu " .. lemu.version .. "  (Lua 5.4; help for help, Tab completes, Ctrl-C interrupts, Ctrl-D leaves)") end
  prompt("> ")
  while not done do
    local why, sig = core.run()
    local err = core.take_error()
    if err ~= nil then show("error in a background task: " .. tostring(err)) end
    if why == "signal" then
      if sig == "SIGINT" and swallow_sigint then
        swallow_sigint = false
      elseif sig == "SIGINT" and not done then
        -- Ctrl-C: cancels the running chunk (its wait ends and raises "interrupted", so a long
        -- expect never fires its timeout later) or, at the prompt, drops the line being typed.
        -- The guests and other tasks keep running.
        buf = nil
        local chunk = running
        running = nil
        rl.clear()
        rl.pause()
        -- (the terminal may have echoed "^C" already: that line is rewritten)
        rl.print(chunk and "\r\27[K^C interrupted\n" or "^C\n")
        if chunk then
          chunk.cancelled = true
          lemu.cancel(chunk.task)
        end
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
