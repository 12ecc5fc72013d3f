-- manpage.lua: writes lemu(1) in troff (man macros) from the tables the parser reads: the host
-- program's options (lemu.main's host_options) and every QEMU-style option (lemu.cmdline.options).
-- `make` runs it as `build/lemu scripts/manpage.lua build/lemu.1`; `make install` installs the page.
local main = require "lemu.main"
local cmdline = require "lemu.cmdline"

local out = {}
local function esc(s)
  -- backslashes first, then hyphens as minus signs (what a user types), and a leading dot or quote
  s = s:gsub("\\", "\\e"):gsub("%-", "\\-")
  if s:match("^[.']") then s = "\\&" .. s end
  return s
end
local function add(s) out[#out + 1] = s end

add(('.TH LEMU 1 "" "lemu %s" "User Commands"'):format(lemu and lemu.version or ""))
add(".SH NAME")
add("lemu \\- a RISC\\-V emulator runtime scripted in Lua, with QEMU's command line")
add(".SH SYNOPSIS")
add(".B lemu")
add(esc(main.synopsis:gsub("^lemu ", "")))
add(".SH DESCRIPTION")
for _, p in ipairs(main.description) do add(".PP") add(esc(p)) end
add(".SH OPTIONS")
add(".TP")
add("\\fIscript.lua\\fR [\\fIargs\\fR...]")
add("run a Lua script (its arguments are in \\fBarg\\fR)")
for _, o in ipairs(main.host_options) do
  add(".TP")
  local names = {}
  for _, n in ipairs(o.names) do names[#names + 1] = "\\fB" .. esc(n) .. "\\fR" end
  add(table.concat(names, ", ") .. (o.arg and (" \\fI" .. esc(o.arg) .. "\\fR") or ""))
  add(esc(o.help))
end
add(".SH QEMU-STYLE OPTIONS")
add(".PP")
add("Each option becomes the same Lua calls a script would make; a mistake is an error naming the option, its value and why.")
for _, name in ipairs(cmdline.names()) do
  local o = cmdline.options[name]
  add(".TP")
  add("\\fB\\-" .. esc(name) .. "\\fR" .. (o.arg and (" \\fI" .. esc(o.arg) .. "\\fR") or ""))
  add(esc(o.help))
end
add(".SH FILES")
add(".TP")
add("\\fIPREFIX\\fR/share/doc/lemu/")
add("README.md and the docs: the Lua API, the machine, the netstack, user\\-mode networking, backends")
add(".SH SEE ALSO")
add(".BR qemu\\-system\\-riscv64 (1)")
local text = table.concat(out, "\n") .. "\n"
if arg and arg[1] then
  local f = assert(io.open(arg[1], "wb"))
  f:write(text)
  f:close()
else
  io.stdout:write(text)
end
