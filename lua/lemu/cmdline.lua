-- lemu.cmdline: QEMU-style options (-netdev, -net, -M, ...). Each option parses into the same Lua
-- calls a script would make; later layers register their options in `cmdline.options`.
local cmdline = {}

-- name -> { arg = "VALUE"|nil, help = "...", apply = function(value, state) }
cmdline.options = {}

function cmdline.is_option(name)
  return cmdline.options[name] ~= nil
end

function cmdline.help()
  local names = {}
  for name in pairs(cmdline.options) do names[#names + 1] = name end
  table.sort(names)
  local lines = {}
  for _, name in ipairs(names) do
    local o = cmdline.options[name]
    lines[#lines + 1] = ("  -%-22s %s"):format(name .. (o.arg and (" " .. o.arg) or ""), o.help)
  end
  return table.concat(lines, "\n")
end

-- A command-line mistake: raised as an object so the host program prints just the message, with
-- no Lua traceback (the user typed an option, not code).
local Usage = { __tostring = function(e) return e.msg end }
function cmdline.fail(msg) error(setmetatable({ msg = msg }, Usage), 0) end
function cmdline.is_usage_error(e) return getmetatable(e) == Usage end

-- Applies a list of { name, value } in order. Returns the state; errors name the option.
function cmdline.apply(list)
  local state = { started = {} }
  for _, item in ipairs(list) do
    local o = cmdline.options[item[1]]
    local ok, err = pcall(o.apply, item[2], state)
    if not ok then
      if cmdline.is_usage_error(err) then error(err, 0) end
      cmdline.fail(("-%s %s: %s"):format(item[1], item[2] or "", (tostring(err):gsub("^[^:]*:%d+: ", ""))))
    end
  end
  for _, fn in ipairs(state.started) do fn(state) end
  return state
end

return cmdline
