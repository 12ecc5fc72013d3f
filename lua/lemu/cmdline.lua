-- lemu.cmdline: QEMU-style options (-netdev, -net, -M, ...). Each option parses into the same Lua
-- calls a script would make; later layers register their options in `cmdline.options`.
local cmdline = {}

-- name -> { arg = "VALUE"|nil, help = "...", apply = function(value, state) }
cmdline.options = {}

function cmdline.is_option(name)
  return cmdline.options[name] ~= nil
end

-- Formats { {left, text}... } as --help lines: the left column 24 wide (a longer one puts the
-- text on the next line), the text wrapped at 100 columns.
function cmdline.format_entries(entries)
  local W, COL = 100, 27
  local out = {}
  for _, e in ipairs(entries) do
    local left, words = "  " .. e[1], {}
    for w in e[2]:gmatch("%S+") do words[#words + 1] = w end
    local line
    if #left <= COL - 2 then line = left .. (" "):rep(COL - #left)
    else
      out[#out + 1] = left
      line = (" "):rep(COL)
    end
    local fresh = true
    for _, w in ipairs(words) do
      if not fresh and #line + 1 + #w > W then
        out[#out + 1] = line
        line, fresh = (" "):rep(COL), true
      end
      line = line .. (fresh and "" or " ") .. w
      fresh = false
    end
    out[#out + 1] = line
  end
  return table.concat(out, "\n")
end

-- The options' names, sorted: what --help and the man page list.
function cmdline.names()
  local names = {}
  for name in pairs(cmdline.options) do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- --help's list of QEMU-style options, from cmdline.options (the table the parser reads).
function cmdline.help()
  local entries = {}
  for _, name in ipairs(cmdline.names()) do
    local o = cmdline.options[name]
    entries[#entries + 1] = { "-" .. name .. (o.arg and (" " .. o.arg) or ""), o.help }
  end
  return cmdline.format_entries(entries)
end

-- A command-line mistake: raised as an object so the host program prints just the message, with
-- no Lua traceback (the user typed an option, not code).
local Usage = { __tostring = function(e) return e.msg end }
function cmdline.fail(msg) error(setmetatable({ msg = msg }, Usage), 0) end
function cmdline.is_usage_error(e) return getmetatable(e) == Usage end

-- Applies a list of { name, value } in order. Returns the state; errors name the option.
function cmdline.apply(list)
  local state = { started = {}, netdev_ids = {}, peers = {} }
  -- Reachable from Lua (lemu.netdev, the monitor) once the options are being applied.
  require("lemu").cmdline_state = state
  -- The clock is chosen before anything that arms a timer exists (as QEMU, where order does not
  -- matter): options marked early go first, each group in its given order.
  local ordered = {}
  for pass = 1, 2 do
    for _, item in ipairs(list) do
      local o = cmdline.options[item[1]]
      if (o and o.early and pass == 1) or (not (o and o.early) and pass == 2) then ordered[#ordered + 1] = item end
    end
  end
  for _, item in ipairs(ordered) do
    local o = cmdline.options[item[1]]
    if item[1] == "netdev" then
      local okp, nopts = pcall(cmdline.parse_opts, item[2], "type")
      if okp and nopts.id then state.netdev_ids[#state.netdev_ids + 1] = nopts.id end
    end
    local ok, err = pcall(o.apply, item[2], state)
    if not ok then
      if cmdline.is_usage_error(err) then error(err, 0) end
      cmdline.fail(("-%s %s: %s"):format(item[1], item[2] or "", (tostring(err):gsub("^[^:]*:%d+: ", ""))))
    end
  end
  for _, fn in ipairs(state.started) do fn(state) end
  return state
end

-- QEMU's warning for each -netdev that no NIC uses (QEMU 7.2: "warning: netdev n0 has no peer"),
-- on stderr; NICs record the netdev ids they join in state.peers. Returns the ids warned about.
function cmdline.warn_no_peer(state)
  local lonely = {}
  for _, id in ipairs(state.netdev_ids or {}) do
    if not (state.peers or {})[id] then
      lonely[#lonely + 1] = id
      io.stderr:write(("lemu: warning: netdev %s has no peer\n"):format(id))
    end
  end
  return lonely
end

-- Parses a QEMU option string "kind,a=b,c=d" as QEMU's QemuOpts does: items separated by commas,
-- ",," is a literal comma inside a value, a bare first item is the value of `implied` (e.g. "type"
-- for -netdev, whose first word is the backend). Returns opts (key -> the last value given) and
-- all (key -> list of every value, in order: for repeatable keys like hostfwd). A bare item later
-- on is a flag: "foo" is foo=on (QEMU's shorthand). Errors name the offending item.
function cmdline.parse_opts(s, implied)
  if type(s) ~= "string" then error("expected an option string like 'a=b,c=d', got " .. type(s), 2) end
  local items, cur, i = {}, {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    if c == "," then
      if s:sub(i + 1, i + 1) == "," then
        cur[#cur + 1] = ","
        i = i + 1
      else
        items[#items + 1] = table.concat(cur)
        cur = {}
      end
    else
      cur[#cur + 1] = c
    end
    i = i + 1
  end
  items[#items + 1] = table.concat(cur)
  local opts, all = {}, {}
  for n, item in ipairs(items) do
    local k, v = item:match("^([^=]*)=(.*)$")
    if not k then
      if item == "" then
        if #s > 0 then error(("empty item in option string '%s'"):format(s), 2) end
        goto continue
      end
      if n == 1 and implied then k, v = implied, item else k, v = item, "on" end
    end
    if k == "" then error(("item '%s' has no name before '='"):format(item), 2) end
    opts[k] = v
    all[k] = all[k] or {}
    table.insert(all[k], v)
    ::continue::
  end
  return opts, all
end

-- The least key of table t that `known` (a set, or a function of the key) does not accept, or nil:
-- strings first, in byte order, then other keys by tostring. An error names this one rather than
-- the first that pairs() meets, because that order changes from run to run.
function cmdline.unknown_key(t, known)
  local best, best_str, best_name
  for k in pairs(t) do
    local ok
    if type(known) == "function" then ok = known(k) else ok = known[k] end
    if not ok then
      local is_str, name = type(k) == "string", tostring(k)
      if best == nil or (is_str and not best_str) or (is_str == best_str and name < best_name) then
        best, best_str, best_name = k, is_str, name
      end
    end
  end
  return best
end

-- Checks that opts has only keys from the list `valid` (names); errors name the least unknown key
-- and list the valid ones. `what` (optional) says whose options they are ("-net dump").
function cmdline.check_keys(what, opts, valid)
  local set = { kind = true, ["qom-type"] = true }  -- the first words of -net and -object
  for _, k in ipairs(valid) do set[k] = true end
  local bad = cmdline.unknown_key(opts, set)
  if bad ~= nil then
    error(("%sunknown option '%s' (valid: %s)"):format(what and (what .. ": ") or "", tostring(bad),
      table.concat(valid, ", ")), 0)
  end
end

-- A netdev id (-netdev, -nic): it names the netdev's VLAN, so it is a VLAN name too (at most 47
-- characters). Errors name the value and the rule.
function cmdline.check_id(id)
  if not id or not id:match("^[%a][%w%-%._]*$") or #id > 47 then
    error(("id=%s: a netdev needs an id that starts with a letter (then letters, digits, '-', '.', '_'; "
      .. "at most 47 in all)"):format(tostring(id)), 0)
  end
end

-- The VLAN of -net ...,vlan=V: a whole number from 0 or, unless numbered, a name of 1 to 47
-- characters; errors name vlan= and the value (lemu.vlan's own would name its argument).
function cmdline.vlan(v, numbered)
  local n = tonumber(v)
  if n or numbered then
    n = n and math.tointeger(n)
    if not n or n < 0 then error(("vlan=%s: expected a VLAN number (a whole number from 0)"):format(v), 0) end
    return require("lemu").vlan(n)
  end
  if #v == 0 or #v > 47 or v:find("%z") then
    error(("vlan=%s: a VLAN name is 1 to 47 characters"):format(v), 0)
  end
  return require("lemu").vlan(v)
end

-- A yes/no option value as QEMU spells them.
function cmdline.bool(what, v)
  if v == nil then return nil end
  if v == "on" or v == "yes" or v == "true" or v == "1" then return true end
  if v == "off" or v == "no" or v == "false" or v == "0" then return false end
  error(("%s=%s: expected on or off"):format(what, tostring(v)), 0)
end

-- -net KIND[,opts]: a dispatcher on the first word. Layers add kinds: net_kinds[kind] =
-- function(opts, all, state) (opts from parse_opts, with opts.kind the first word).
cmdline.net_kinds = {}

-- -object TYPE,id=ID,...: object types by name, added the same way.
cmdline.object_types = {}

-- Netdevs by id (-netdev ID and the backends of -net): each { vlan = VLAN handle, port = the
-- backend's port name, handle = the backend's handle, kind = "user", "socket"... }, so that
-- filter-dump, NICs, lemu.netdev(id) and the monitor can find them.
function cmdline.netdevs(state)
  state.netdevs = state.netdevs or {}
  return state.netdevs
end

local function kinds_list(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = k end
  table.sort(names)
  return table.concat(names, ", ")
end

-- -icount [shift=]N|auto[,sleep=on|off][,align=off][,quantum=US]: the virtual clock (docs/time.md).
-- quantum= is lemu's own: the virtual microseconds each machine runs between frame deliveries.
cmdline.options.icount = {
  arg = "[shift=]N|auto[,sleep=on|off][,quantum=US]", early = true,
  help = "virtual time: each instruction takes 2^N ns; sleep=off jumps over idle time; deterministic with -seed (docs/time.md)",
  apply = function(value, state)
    local opts = cmdline.parse_opts(value, "shift")
    local c = { mode = "virtual" }
    -- Checked in this order, not the table's, so that one bad line always gives the same error.
    local bad = cmdline.unknown_key(opts, { shift = true, sleep = true, align = true, quantum = true,
      rr = true, rrfile = true, rrsnapshot = true })
    if bad then error(("unknown option '%s' (valid: shift, sleep, align, quantum)"):format(bad), 0) end
    for _, k in ipairs { "rr", "rrfile", "rrsnapshot" } do
      if opts[k] then
        error(("%s=: record/replay is not in lemu (its virtual clock replays a run by running it again)"):format(k), 0)
      end
    end
    local v = opts.shift
    if v == "auto" then c.shift = "auto"
    elseif v then
      local n = math.tointeger(tonumber(v))
      if not n or n < 0 or n > 10 then error(("shift=%s: must be 0 to 10 or auto"):format(v), 0) end
      c.shift = n
    end
    v = opts.sleep
    if v then
      if v ~= "on" and v ~= "off" then error(("sleep=%s: must be on or off"):format(v), 0) end
      c.sleep = v == "on"
    end
    v = opts.align
    if v and v ~= "off" then
      error(("align=%s: lemu does not align virtual time with the host's (only align=off)"):format(v), 0)
    end
    v = opts.quantum
    if v then
      local n = math.tointeger(tonumber(v))
      if not n or n < 1 or n > 1000000 then error(("quantum=%s: must be microseconds from 1 to 1000000"):format(v), 0) end
      c.quantum_us = n
    end
    if c.shift == nil then error("a shift is needed (-icount shift=N or -icount auto)", 0) end
    state.clock = c
    require("lemu").clock(c)
  end,
}

cmdline.options.workers = {
  arg = "N", early = true,
  help = "worker threads the virtual clock runs machines on (default: one per host processor; results do not depend on it)",
  apply = function(value)
    local n = math.tointeger(tonumber(value))
    if not n or n < 1 or n > 256 then error(("'%s' is not a number of threads from 1 to 256"):format(value), 0) end
    require("lemu").clock { workers = n }
  end,
}

cmdline.options.seed = {
  arg = "N", early = true,
  help = "seed every random choice a guest can see (virtio-rng, the device tree's rng-seed, impairments)",
  apply = function(value)
    local n = math.tointeger(tonumber(value))
    if not n then error(("'%s' is not an integer"):format(value), 0) end
    require("lemu").clock { seed = n }
  end,
}

cmdline.options.net = {
  arg = "KIND[,opt=...]",
  help = "legacy networking: -net dump,file=F[,vlan=N][,len=L] and the kinds other layers add",
  apply = function(value, state)
    local opts, all = cmdline.parse_opts(value, "kind")
    local fn = cmdline.net_kinds[opts.kind or ""]
    if not fn then
      error(("unknown kind '%s' (valid: %s)"):format(tostring(opts.kind), kinds_list(cmdline.net_kinds)), 0)
    end
    return fn(opts, all, state)
  end,
}

cmdline.options.object = {
  arg = "TYPE,id=ID[,opt=...]",
  help = "objects: filter-dump,id=ID,netdev=NETDEV,file=F[,maxlen=L] and the types other layers add",
  apply = function(value, state)
    local opts, all = cmdline.parse_opts(value, "qom-type")
    local fn = cmdline.object_types[opts["qom-type"] or ""]
    if not fn then
      error(("unknown object type '%s' (valid: %s)"):format(tostring(opts["qom-type"]),
        kinds_list(cmdline.object_types)), 0)
    end
    return fn(opts, all, state)
  end,
}

-- -net dump[,vlan=N][,file=F][,len=L]: a pcap of everything on VLAN N (QEMU's legacy dump).
cmdline.net_kinds.dump = function(opts)
  cmdline.check_keys(nil, opts, { "vlan", "file", "len", "id", "name" })
  local lemu = require "lemu"
  local vlan = opts.vlan or "0"
  if not vlan:match("^%d+$") then error(("vlan=%s: expected a VLAN number"):format(vlan), 0) end
  cmdline.vlan(vlan, true)                          -- one too large for an integer
  local len = opts.len and tonumber(opts.len, 10)
  if opts.len and (not len or len < 14 or len > 262144) then
    error(("len=%s: expected a number of bytes from 14 to 262144"):format(opts.len), 0)
  end
  local file = opts.file or ("lemu-vlan%s.pcap"):format(vlan)
  return lemu.vlan(tonumber(vlan)):capture { file = file, snaplen = len or 65535 }
end

-- The netdev a filter names, once every option has been applied; an error lists those defined.
local function filter_netdev(state, kind, opts)
  local nd = cmdline.netdevs(state)[opts.netdev]
  if nd then return nd end
  local ids = {}
  for id in pairs(cmdline.netdevs(state)) do ids[#ids + 1] = id end
  table.sort(ids)
  error(("-object %s,id=%s: netdev=%s: no such netdev (defined: %s)"):format(kind, opts.id, opts.netdev,
    #ids > 0 and table.concat(ids, ", ") or "none"), 0)
end

-- -object filter-dump,id=ID,netdev=NETDEV,file=F[,maxlen=L]: a pcap of one netdev's traffic, both
-- directions. The netdev is looked up once every option has been applied.
cmdline.object_types["filter-dump"] = function(opts, _, state)
  cmdline.check_keys(nil, opts, { "id", "netdev", "file", "maxlen" })
  if not opts.id then error("filter-dump needs id=", 0) end
  if not opts.netdev then error("filter-dump needs netdev= (the -netdev id whose traffic to dump)", 0) end
  if not opts.file then error("filter-dump needs file= (the pcap file to write)", 0) end
  local maxlen = opts.maxlen and tonumber(opts.maxlen, 10)
  if opts.maxlen and (not maxlen or maxlen < 14 or maxlen > 262144) then
    error(("maxlen=%s: expected a number of bytes from 14 to 262144"):format(opts.maxlen), 0)
  end
  state.started[#state.started + 1] = function()
    local nd = filter_netdev(state, "filter-dump", opts)
    state.objects = state.objects or {}
    state.objects[opts.id] = nd.vlan:capture { file = opts.file, snaplen = maxlen or 65535, port = nd.port }
  end
end

-- -object filter-impair,id=ID,netdev=NETDEV[,queue=all|rx|tx][,delay=50ms][,jitter=5ms]
-- [,distribution=normal][,loss=1%][,duplicate=][,corrupt=][,reorder=][,rate=10mbit][,overhead=]
-- [,limit=][,limit_bytes=][,seed=][,netem="..."]: impairments on one netdev's port (vlan:impair),
-- beside QEMU's filters. queue= as QEMU's netfilters take it: rx is what the netdev receives (from
-- the VLAN), tx what it sends, all both (the default). Times without a unit are milliseconds.
cmdline.object_types["filter-impair"] = function(opts, _, state)
  cmdline.check_keys(nil, opts, { "id", "netdev", "queue", "delay", "jitter", "distribution", "loss",
    "duplicate", "corrupt", "reorder", "rate", "overhead", "limit", "limit_bytes", "seed", "netem" })
  if not opts.id then error("filter-impair needs id=", 0) end
  if not opts.netdev then error("filter-impair needs netdev= (the -netdev id whose traffic to impair)", 0) end
  local dirs = { all = "both", rx = "in", tx = "out" }
  local dir = dirs[opts.queue or "all"]
  if not dir then error(("filter-impair: queue=%s: expected all, rx or tx"):format(opts.queue), 0) end
  local spec = { dir = dir, netem = opts.netem, distribution = opts.distribution, rate = opts.rate }
  local function number(k, v, pct)
    local s = pct and v:gsub("%%$", "") or v
    local n = tonumber(s)
    if not n then error(("filter-impair: %s=%s: expected a number%s"):format(k, v, pct and " (a percentage)" or ""), 0) end
    return n
  end
  for _, k in ipairs { "delay", "jitter" } do
    local v = opts[k]
    if v then spec[k] = tonumber(v) or v end        -- "50" is ms; "50ms", "1s" go as they are
  end
  for _, k in ipairs { "loss", "duplicate", "corrupt", "reorder" } do
    if opts[k] then spec[k] = number(k, opts[k], true) end
  end
  for _, k in ipairs { "overhead", "limit", "limit_bytes", "seed" } do
    if opts[k] then spec[k] = math.tointeger(number(k, opts[k])) or error(("filter-impair: %s=%s: expected a whole number"):format(k, opts[k]), 0) end
  end
  state.started[#state.started + 1] = function()
    local nd = filter_netdev(state, "filter-impair", opts)
    local ok, err = pcall(nd.vlan.impair, nd.vlan, nd.port, spec)
    if not ok then error(("-object filter-impair,id=%s: %s"):format(opts.id, tostring(err):gsub("^impair: ", "")), 0) end
  end
end

return cmdline
