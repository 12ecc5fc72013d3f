-- lemu.help: `help` at the REPL, from the docs' own text. scripts/docs.lua embeds README.md and
-- docs/*.md as the module lemu.docs at build time; a topic is one section (a `##` heading) of
-- one page. help() lists the topics, help "vlan" prints a section, help(obj) the section of the
-- object's kind (a VLAN, a machine, its console, a device, an endpoint, a backend...), and
-- help(fn) the paragraphs of the docs that name the function (lemu.vlan, console:expect).
local lemu = require "lemu"
local ok_docs, docs = pcall(require, "lemu.docs")
if not ok_docs then docs = {} end

local H = {}

-- topic -> page, heading (a prefix of the `##` heading's text), a line for the listing
local TOPICS = {
  { "tasks", "README.md", "A short tour of the Lua API", "tasks, waits, timeouts, queues, processes" },
  { "repl", "README.md", "The host program and the REPL", "this prompt: help, completion, Ctrl-C, attach" },
  { "machine", "docs/machine.md", "Machines in Lua", "lemu.machine{}, m:info(), m:wait_exit()" },
  { "console", "docs/machine.md", "Machines in Lua", "m.console: expect, send, wait_line, attach" },
  { "devices", "docs/devices.md", "From Lua", "m:nic{}, m:rng(), m:disk{}, m:device{}, nic:info()" },
  { "vlan", "docs/netstack.md", "VLANs", "lemu.vlan(n|name), vlan:info(), vlan:ports()" },
  { "switch", "docs/netstack.md", "Switched VLANs", "lemu.vlan(name, {switch=true})" },
  { "endpoint", "docs/netstack.md", "Scripted endpoints", "vlan:endpoint{}, ep:send, ep:recv" },
  { "packet", "docs/netstack.md", "The packet library", "lemu.packet: build and parse frames" },
  { "host", "docs/netstack.md", "Host helpers", "ep:host{}: an endpoint as a small IP host" },
  { "capture", "docs/netstack.md", "Capture", "vlan:capture{file=, port=}" },
  { "impair", "docs/netstack.md", "Impaired links", "vlan:impair(port, spec): loss, delay, rate" },
  { "topology", "docs/netstack.md", "The lab as a picture", "lemu.topology(), lemu.vlans(), lemu.ping_all" },
  { "user", "docs/user-net.md", "", "vlan:user{}: user-mode networking (libslirp)" },
  { "hostfwd", "docs/user-net.md", "Forwarding", "hostfwd, guestfwd, u:hostfwd_add" },
  { "usernet-info", "docs/user-net.md", "user:info()", "u:info(): config, leases, forwards" },
  { "sockets", "docs/user-net.md", "Host sockets for scripts", "lemu.tcp_listen, lemu.tcp_connect, lemu.udp" },
  { "socket", "docs/backends.md", "Lua API", "vlan:socket{}, vlan:stream{}, vlan:dgram{}, tap, vde" },
  { "vxlan", "docs/backends.md", "VXLAN", "VLANs across hosts" },
  { "cmdline", "docs/machine.md", "Command line", "QEMU-style options (lemu --help lists them)" },
}

-- The kinds of objects -> their topic. Userdata handles name their kind in the metatable's
-- __what (lua/lobj.c); the Lua-made objects in __name.
local KINDS = {
  VLAN = "vlan", machine = "machine", console = "console", device = "devices", endpoint = "endpoint",
  ["user network"] = "user", socket = "socket", stream = "sockets", listener = "sockets",
  ["UDP socket"] = "sockets", capture = "capture", ["TAP device"] = "socket", ["VDE plug"] = "socket",
  timer = "tasks", process = "tasks", queue = "tasks", task = "tasks",
}

-- pages[file] = { {title=, text=}... } (the text before the first `##` has the page's title)
local pages
local function load_pages()
  if pages then return pages end
  pages = {}
  for _, d in ipairs(docs) do
    local secs, title, lines, fence = {}, nil, {}, false
    local function flush()
      if title or #lines > 0 then secs[#secs + 1] = { title = title or "", text = table.concat(lines, "\n") } end
    end
    for line in (d.text .. "\n"):gmatch("([^\n]*)\n") do
      if line:match("^```") then fence = not fence end
      local h = not fence and line:match("^## (.*)")
      if h then
        flush()
        title, lines = h, { line }
      else
        lines[#lines + 1] = line
      end
    end
    flush()
    pages[d.file] = secs
  end
  return pages
end

local function section(file, heading)
  for _, s in ipairs(load_pages()[file] or {}) do
    if heading == "" and s.title == "" then return s end
    if heading ~= "" and s.title:sub(1, #heading) == heading then return s end
  end
end

local function topic(name)
  for _, t in ipairs(TOPICS) do if t[1] == name then return t end end
end

local function listing()
  local lines = { "help(obj) or help \"topic\" prints the docs' text (README.md and docs/*.md):" }
  for _, t in ipairs(TOPICS) do lines[#lines + 1] = ("  %-13s %s"):format(t[1], t[4]) end
  lines[#lines + 1] = "Tab completes names (lemu.vl<Tab>, m.console:ex<Tab>); Ctrl-C cancels the running"
  lines[#lines + 1] = "line; m.console:attach() is a live console (Ctrl-] returns here); Ctrl-D leaves."
  if #docs == 0 then lines[#lines + 1] = "(this build has no docs embedded)" end
  return table.concat(lines, "\n")
end

local function trim(s) return (s:gsub("^\n+", ""):gsub("\n+$", "")) end

local function show_topic(t)
  local s = section(t[2], t[3])
  if not s then return ("help: no section '%s' in %s"):format(t[3], t[2]) end
  return trim(s.text) .. ("\n(%s)"):format(t[2])
end

-- The kind of a value, as KINDS names it.
local function kind(v)
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return nil end
  return rawget(mt, "__what") or rawget(mt, "__name")
end

-- Names for functions: lemu.X, and kind:method for every object kind's methods.
local fnames
local function function_names()
  if fnames then return fnames end
  fnames = {}
  for k, v in pairs(lemu) do
    if type(v) == "function" then fnames[v] = "lemu." .. k end
  end
  for k, v in pairs(lemu.packet or {}) do
    if type(v) == "function" and not fnames[v] then fnames[v] = "packet." .. k end
  end
  local reg = debug.getregistry()
  local classes = {}
  for _, mt in pairs(reg) do
    if type(mt) == "table" and type(rawget(mt, "__what")) == "string" then classes[#classes + 1] = mt end
  end
  for _, mt in pairs(lemu._classes or {}) do classes[#classes + 1] = mt end
  for _, mt in ipairs(classes) do
    local what = (rawget(mt, "__what") or rawget(mt, "__name")):lower()
    local short = ({ ["user network"] = "u", ["udp socket"] = "udp", ["tap device"] = "tap",
                     ["vde plug"] = "vde", device = "nic" })[what] or what
    for k, v in pairs(mt) do
      if type(v) == "function" and type(k) == "string" and not k:match("^_") and not fnames[v] then
        fnames[v] = short .. ":" .. k
      end
    end
  end
  return fnames
end

-- The blocks (paragraphs, list items, code blocks) of every page that mention name.
local function mentions(name, loose)
  local method = name:match(":(.*)$")
  local pats = { name }
  if loose then pats = { ":" .. method .. "(", ":" .. method .. "{", ":" .. method .. " " } end
  local out = {}
  -- The API pages first, then the README; architecture.md is about the insides.
  local order = {}
  for _, d in ipairs(docs) do
    if d.file ~= "README.md" and not d.file:match("architecture%.md$") then order[#order + 1] = d.file end
  end
  order[#order + 1] = "README.md"
  for _, file in ipairs(order) do
    for _, s in ipairs(load_pages()[file] or {}) do
      local blocks, cur, fence = {}, {}, false
      for line in (s.text .. "\n"):gmatch("([^\n]*)\n") do
        if line:match("^```") then fence = not fence end
        local item = not fence and line:match("^%- ") and #cur > 0
        if (not fence and line == "") or item then
          if #cur > 0 then blocks[#blocks + 1] = table.concat(cur, "\n") end
          cur = {}
        end
        if fence or line ~= "" then cur[#cur + 1] = line end
      end
      if #cur > 0 then blocks[#blocks + 1] = table.concat(cur, "\n") end
      for _, b in ipairs(blocks) do
        if not b:match("^## ") then
          for _, p in ipairs(pats) do
            if b:find(p, 1, true) then
              if b:match("^```") then
                -- a code block: only its lines that name the function
                local ls = {}
                for l in b:gmatch("[^\n]+") do if l:find(p, 1, true) then ls[#ls + 1] = l end end
                b = table.concat(ls, "\n")
              end
              out[#out + 1] = { file = file, title = s.title, text = b }
              break
            end
          end
        end
      end
    end
  end
  return out
end

local function show_function(name)
  -- where the docs name it exactly, then (for a method) any object's method of that name
  local ms = mentions(name)
  if name:find(":", 1, true) then
    local seen = {}
    for _, m in ipairs(ms) do seen[m.text] = true end
    for _, m in ipairs(mentions(name, true)) do if not seen[m.text] then ms[#ms + 1] = m end end
  end
  if #ms == 0 then return ("%s: the docs do not mention it (help lists the topics)"):format(name) end
  local lines, last = { name .. ":" }, nil
  for i, m in ipairs(ms) do
    if i > 8 then lines[#lines + 1] = ("... and %d more places"):format(#ms - 8) break end
    local where = ("%s, %s"):format(m.file, m.title ~= "" and m.title or "introduction")
    if where ~= last then lines[#lines + 1] = "-- " .. where end
    last = where
    lines[#lines + 1] = m.text
  end
  return table.concat(lines, "\n")
end

-- help(x) -> the text to print
function H.text(x)
  if x == nil or x == H.help then return listing() end
  if type(x) == "string" then
    local t = topic(x) or topic(x:lower())
    if t then return show_topic(t) end
    local fn = x:match("^lemu%.([%w_]+)$") and lemu[x:match("^lemu%.([%w_]+)$")]
    if type(fn) == "function" or x:find("[.:]") then return show_function(x) end
    return ("help: no topic '%s'\n%s"):format(x, listing())
  end
  if type(x) == "function" then
    local name = function_names()[x]
    if not name then
      for lib, t in pairs({ _G = _G, string = string, table = table, math = math, io = io, os = os,
                            coroutine = coroutine, utf8 = utf8, debug = debug }) do
        for k, v in pairs(t) do
          if v == x then
            return ("%s%s: a Lua 5.4 standard function (https://www.lua.org/manual/5.4/manual.html#pdf-%s%s)")
              :format(lib == "_G" and "" or lib .. ".", k, lib == "_G" and "" or lib .. ".", k)
          end
        end
      end
      return "help: a function the docs do not name (help lists the topics)"
    end
    return show_function(name)
  end
  local k = kind(x)
  if k and KINDS[k] then return show_topic(topic(KINDS[k])) end
  if k then return ("help: a %s; the docs have no section for it (help lists the topics)"):format(k) end
  return ("help: a %s, not one of lemu's objects (help lists the topics)"):format(type(x))
end

-- The global `help`: typed alone it prints as the listing, called it prints a topic.
H.help = setmetatable({}, {
  __tostring = function() return listing() end,
  __call = function(_, x) print(H.text(x)) end,
  __name = "help",
})

H.topics = TOPICS
return H
