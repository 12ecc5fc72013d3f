-- lemu.main: the host program's argument handling. lua/main.c creates the state and calls
-- main(argv); everything the user sees about the command line is decided here.
local lemu = require "lemu"
local cmdline = require "lemu.cmdline"

local M = {}

-- The host program's own options, for the parser below, --help and the man page (scripts/manpage.lua).
M.host_options = {
  { names = { "-e" }, arg = "CODE", key = "e", help = "run CODE (may be repeated; runs before the script)" },
  { names = { "-i" }, key = "i", help = "enter the interactive REPL after running the script and -e code" },
  { names = { "-q" }, key = "q", help = "no banner in the REPL" },
  { names = { "--topology" }, arg = "FILE", key = "topology",
    help = "when the script and -e code have run, draw the lab they built into FILE (.svg, .png or .pdf through Graphviz, or .dot)" },
  { names = { "-v", "--version" }, key = "version", help = "print the version and exit" },
  { names = { "-h", "--help" }, key = "help", help = "print this help and exit" },
}
local host_by_name = {}
for _, o in ipairs(M.host_options) do for _, n in ipairs(o.names) do host_by_name[n] = o end end

M.synopsis = "lemu [options] [script.lua [args...]]"
M.description = {
  "lemu runs RISC-V machines and the networks between them, scripted in Lua 5.4. A script (or -e code) builds machines, VLANs and backends with the Lua API; QEMU-style options build the same objects from the command line.",
  "With a script, lemu runs it (its arguments are in `arg`) and then keeps the loop running until nothing is left to do or SIGINT/SIGTERM. With no script and no -e code, lemu starts the REPL; the guests and networks keep running while the prompt waits: `help` lists topics from the docs, Tab completes Lua names, Ctrl-C interrupts the running line, m.console:attach() is a live guest console (Ctrl-] returns), and Ctrl-D leaves. The module is the global `lemu` in scripts, -e code and the REPL.",
  "`lemu test [DIR] [busted options]` runs the scenario specs in DIR (default spec) with busted inside the host program; `-o junit` writes a JUnit XML report.",
}

-- --help: the host program's options, then every QEMU-style option from cmdline.options.
function M.help()
  local lines = { "usage: " .. M.synopsis, "" }
  local entries = { { "script.lua [args]", "run a Lua script (its arguments are in `arg`); the loop then keeps running until nothing is left to do or SIGINT/SIGTERM" },
                    { "test [DIR] [busted options]", "run the scenario specs in DIR (default spec) with busted; -o junit writes a JUnit report" } }
  for _, o in ipairs(M.host_options) do
    entries[#entries + 1] = { table.concat(o.names, ", ") .. (o.arg and (" " .. o.arg) or ""), o.help }
  end
  lines[#lines + 1] = cmdline.format_entries(entries)
  lines[#lines + 1] = ""
  lines[#lines + 1] = "With no script and no -e code, lemu starts the REPL. The guests and networks keep running while the"
  lines[#lines + 1] = "prompt waits; `help` lists topics from the docs, Tab completes Lua names, Ctrl-C interrupts the"
  lines[#lines + 1] = "running line, m.console:attach() is a live guest console (Ctrl-] returns), Ctrl-D leaves. The"
  lines[#lines + 1] = "module is the global `lemu` in scripts, -e code and the REPL."
  lines[#lines + 1] = ""
  lines[#lines + 1] = "QEMU-style options (translated into the same Lua calls):"
  lines[#lines + 1] = cmdline.help()
  return table.concat(lines, "\n") .. "\n"
end

local function die(msg)
  io.stderr:write("lemu: ", msg, "\n")
  return 1
end

-- Errors from Lua carry "file:line: message" and a traceback; print the whole thing after "lemu: ".
local function report(err)
  if type(err) ~= "string" then err = tostring(err) end
  io.stderr:write("lemu: ", err, "\n")
end

function M.main(argv)
  if argv[1] == "test" then return require("lemu.testrun").main(argv) end
  local codes, script, script_args, interactive, quiet = {}, nil, {}, false, false
  local topology
  local qopts = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local ho = host_by_name[a]
    if ho and ho.arg and not argv[i + 1] then
      return die(("option '%s' needs an argument (%s)"):format(a, ho.key == "e" and "the code to run" or "the file to draw the lab into"))
    end
    if ho and ho.key == "help" then
      io.stdout:write(M.help())
      return 0
    elseif ho and ho.key == "version" then
      io.stdout:write("lemu ", lemu.version, " (", _VERSION, ")\n")
      return 0
    elseif ho and ho.key == "e" then
      codes[#codes + 1] = argv[i + 1]
      i = i + 1
    elseif ho and ho.key == "i" then
      interactive = true
    elseif ho and ho.key == "q" then
      quiet = true
    elseif ho and ho.key == "topology" then
      topology = argv[i + 1]
      i = i + 1
    elseif a == "--" then
      script = argv[i + 1]
      for j = i + 2, #argv do script_args[#script_args + 1] = argv[j] end
      break
    elseif a:sub(1, 1) == "-" and #a > 1 then
      local name = a:gsub("^%-%-?", "")
      local value
      local eq = name:find("=", 1, true)
      if eq and not cmdline.is_option(name) then name, value = name:sub(1, eq - 1), name:sub(eq + 1) end
      local o = cmdline.options[name]
      if not o then return die(("unknown option '%s' (see lemu --help)"):format(a)) end
      if o.arg and not value then
        value = argv[i + 1]
        if not value then return die(("option '%s' needs an argument (%s)"):format(a, o.arg)) end
        i = i + 1
      end
      qopts[#qopts + 1] = { name, value }
    else
      script = a
      for j = i + 1, #argv do script_args[#script_args + 1] = argv[j] end
      break
    end
    i = i + 1
  end

  -- Script arguments as lua5.4 sets them: arg[0] is the script, arg[1..] its arguments.
  local argt = { [0] = script or "lemu" }
  for j, v in ipairs(script_args) do argt[j] = v end
  _G.arg = argt
  -- The host program's scripts, -e code and REPL see the module as the global `lemu`, as lua5.4's
  -- -l would give it: at the prompt a `local` would not outlive its line.
  _G.lemu = lemu

  local chunks = {}
  for n, code in ipairs(codes) do
    local fn, err = load(code, "=(command line)")
    if not fn then return die(err) end
    chunks[#chunks + 1] = { fn = fn, name = "-e #" .. n }
  end
  if script then
    local fn, err = loadfile(script)
    if not fn then return die(err) end
    chunks[#chunks + 1] = { fn = fn, args = script_args }
  end

  local optserr, ostate
  local ok, err = pcall(lemu.run, function()
    -- A bad option ends lemu with just its message, no traceback.
    if #qopts > 0 then
      local oko, e = pcall(cmdline.apply, qopts)
      if not oko then optserr = tostring(e) return end
      ostate = e
      -- QEMU warns about a -netdev no NIC uses; a script may still attach one, so only a pure
      -- command line or one that built a machine is checked.
      if #chunks == 0 or e.machine then cmdline.warn_no_peer(e) end
    end
    for _, c in ipairs(chunks) do c.fn(table.unpack(c.args or {})) end
    if topology then lemu.topology { file = topology } end
  end)
  if optserr then return die(optserr) end
  if not ok then report(err) return 1 end

  if interactive or (#chunks == 0 and #qopts == 0) then
    require("lemu.repl").run({ quiet = quiet })
    return 0
  end
  -- A machine from the QEMU-style options ends the program when the guest ends it, with its status.
  -- The monitor's quit (lemu.monitor "quit") sets the status in lemu.cmdline_state, also in a script.
  local function status() return (ostate or lemu.cmdline_state or {}).exit_status end
  if status() then return status() end
  -- A network built from options (state.hold) serves until interrupted, even while idle: other
  -- processes may join it later (a user-net gateway behind a socket backend).
  local hold = ostate and ostate.hold and lemu.core.timer(86400000, 86400000, function() end, true)
  ok, err = pcall(lemu.serve, function() return status() ~= nil end)
  if hold and not hold:closed() then hold:close() end
  if not ok then report(err) return 1 end
  if status() then return status() end
  if err == "SIGINT" or err == "SIGTERM" then io.stderr:write("lemu: terminating on ", err, "\n") end
  return 0
end

return M
