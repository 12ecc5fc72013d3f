-- lemu.monitor: QEMU's human monitor (HMP) for what users script against it, written on the Lua
-- API: `info status|network|usernet`, `hostfwd_add`, `hostfwd_remove`, `set_link`,
-- `system_reset`, `stop`, `cont`, `quit`, `help`. lemu.monitor(line) runs one command and returns
-- what it prints; -monitor stdio|unix:PATH,server,nowait|tcp:127.0.0.1:PORT,server,nowait|none
-- serves it with QEMU's prompt, and -nographic's Ctrl-A c switches stdin to it. Also
-- lemu.netdev(id): the backend handle and VLAN of a -netdev made on the command line.
local cmdline = require "lemu.cmdline"

local M = {}

M.PROMPT = "(qemu) "

function M.install(lemu)
  local function state() return lemu.cmdline_state or {} end

  -- lemu.netdev(id) -> { id=, kind= "user"|"socket"|..., handle= the backend's handle (u:hostfwd_add,
  -- s:info(), ...), vlan= the VLAN handle, port= the backend's port name }, or nil and a message
  -- listing the ids there are.
  function lemu.netdev(id)
    local nds = cmdline.netdevs(state())
    local nd = nds[id]
    if nd then
      return { id = id, kind = nd.kind, handle = nd.handle or nd.user, vlan = nd.vlan, port = nd.port }
    end
    local ids = {}
    for k in pairs(nds) do ids[#ids + 1] = k end
    table.sort(ids)
    return nil, ("no netdev '%s' (defined: %s)"):format(tostring(id), #ids > 0 and table.concat(ids, ", ") or "none")
  end

  local function machine()
    local st = state()
    if st.machine then return st.machine end
    return lemu.machines()[1]
  end

  -- Every user-net: { id=, u=, vlan= }, command-line ones by their netdev id, the others by name.
  local function user_nets()
    local t, seen = {}, {}
    for id, nd in pairs(cmdline.netdevs(state())) do
      if nd.user then t[#t + 1] = { id = id, u = nd.user, vlan = nd.vlan } seen[nd.user] = true end
    end
    for u, v in pairs(lemu._users or {}) do
      if not seen[u] then
        local ok, info = pcall(u.info, u)
        if ok then t[#t + 1] = { id = info.name, u = u, vlan = v } end
      end
    end
    table.sort(t, function(a, b) return a.id < b.id end)
    return t
  end

  local function words(line)
    local t = {}
    for w in line:gmatch("%S+") do t[#t + 1] = w end
    return t
  end

  local function strip(err) return (tostring(err):gsub("^[^\n:]*:%d+: ", "")) end

  local commands, order = {}, {}
  local function command(names, args, help, fn)
    local c = { names = names, args = args, help = help, fn = fn }
    for _, n in ipairs(names) do commands[n] = c end
    order[#order + 1] = c
  end

  -- info subcommands ---------------------------------------------------------------------------
  local infos, info_order = {}, {}
  local function info(name, help, fn)
    infos[name] = { help = help, fn = fn }
    info_order[#info_order + 1] = name
  end

  -- QEMU's names for lemu's machine states; a machine that never ran (QEMU's -S) is told apart
  -- from one stopped later, which is plain "paused".
  local qemu_status = { running = "running", exited = "shutdown", created = "paused (prelaunch)" }
  info("status", "show the current VM status (running|paused)", function(out)
    local m = machine()
    if not m then out("VM status: no machine") return end
    out("VM status: " .. (qemu_status[m:state()] or "paused"))
  end)

  -- QEMU's `info network`: a NIC and the backend it is wired to (" \ peer"), or a hub and its
  -- ports ("hub0port0: ..."). In lemu every -netdev ID is a VLAN named ID: a VLAN with one NIC and
  -- one backend prints as QEMU prints a NIC and its netdev; any other VLAN as a hub.
  info("network", "show the network state", function(out)
    local nics = {}
    for _, m in ipairs(lemu.machines()) do
      for _, d in ipairs(m.nics or {}) do nics[d.name] = d end
    end
    local nds = cmdline.netdevs(state())
    local function nic_line(d)
      return ("%s: index=0,type=nic,model=%s,macaddr=%s%s"):format(d.id or d.name, d.model, d.mac or "",
        d:link() and "" or ",link=down")
    end
    -- A backend: its netdev id (or port name), kind, and for user-net QEMU's net= and restrict=.
    local function backend_line(name, kind, vname, p)
      local s = ("%s: index=0,type=%s"):format(name, kind)
      if kind == "user" then
        for _, x in ipairs(user_nets()) do
          if x.vlan:name() == vname then
            local c = x.u:info().config
            s = s .. (",net=%s,restrict=%s"):format((c.net or ""):gsub("/.*", ""), c.restrict and "on" or "off")
            break
          end
        end
      elseif p and p.peer then
        s = s .. ",peer=" .. tostring(p.peer)
      end
      return s .. (p and p.link == false and ",link=down" or "")
    end
    local function port_line(p, vname)
      if nics[p.name] then return nic_line(nics[p.name]) end
      for id, nd in pairs(nds) do
        if nd.port == p.name and nd.vlan:name() == vname then return backend_line(id, nd.kind or p.kind, vname, p) end
      end
      return backend_line(p.name, p.kind, vname, p)
    end
    for _, v in ipairs(lemu.vlans()) do
      local ports, vname = v:ports(), v:name()
      local mine, others = {}, {}
      for _, p in ipairs(ports) do
        if nics[p.name] then mine[#mine + 1] = p else others[#others + 1] = p end
      end
      local nd = nds[vname]
      if nd and nd.vlan == v and #mine <= 1 and #others <= 1 then
        -- -netdev ID: the NIC wired to it, then the netdev (QEMU's " \ peer"); a netdev with no NIC alone.
        local b = backend_line(vname, nd.kind or (others[1] and others[1].kind) or "?", vname, others[1])
        if mine[1] then
          out(nic_line(nics[mine[1].name]))
          out(" \\ " .. b)
        else
          out(b)
        end
      else
        out(("hub %s"):format(vname))
        for i, p in ipairs(ports) do out((" \\ hub%sport%d: %s"):format(vname, i - 1, port_line(p, vname))) end
      end
    end
  end)

  -- QEMU's `info usernet`: a heading per user-net, then libslirp's connection table (host
  -- forwards are its TCP[HOST_FORWARD] rows), with lemu's forwards and leases above it.
  info("usernet", "show user network stack connection states", function(out)
    for _, x in ipairs(user_nets()) do
      out(("VLAN %s (%s):"):format(x.vlan:name(), x.id))
      for line in tostring(x.u:info()):gmatch("[^\n]+") do
        out(line:match("^  ") and line or ("  " .. line))
      end
    end
  end)

  info("version", "show the version of lemu", function(out) out("lemu " .. lemu.version) end)

  -- Commands ----------------------------------------------------------------------------------
  command({ "help", "?" }, "[cmd]", "show the help", function(out, a)
    for _, c in ipairs(order) do
      if not a[1] or c.names[1] == a[1] or c.names[2] == a[1] then
        out(("%s %s -- %s"):format(table.concat(c.names, "|"), c.args, c.help))
      end
    end
  end)

  command({ "info" }, "[subcommand]", "show various information about the system state", function(out, a, line)
    if not a[1] then
      for _, n in ipairs(info_order) do out(("info %s  -- %s"):format(n, infos[n].help)) end
      return
    end
    local i = infos[a[1]]
    if not i then out(("unknown command: '%s'"):format(line)) return end
    i.fn(out)
  end)

  -- The user-net a hostfwd command names (or the first one), or nil after printing why.
  local function user_for(out, args, n)
    if #args == n then
      local id = args[1]
      for _, x in ipairs(user_nets()) do if x.id == id then return x.u, args[2] end end
      out(("unrecognized netdev id '%s'"):format(id))
      return nil
    end
    local x = user_nets()[1]
    if not x then out("No usernet hub found") return nil end
    return x.u, args[1]
  end

  command({ "hostfwd_add" }, "[netdev_id] [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport",
    "redirect TCP or UDP connections from host to guest (requires -netdev user)", function(out, a)
      if #a < 1 or #a > 2 then out("hostfwd_add: expected [netdev_id] rule") return end
      local u, rule = user_for(out, a, 2)
      if not u then return end
      local ok, err = pcall(u.hostfwd_add, u, rule)
      if not ok then out(("Could not set up host forwarding rule '%s': %s"):format(rule, strip(err))) end
    end)

  command({ "hostfwd_remove" }, "[netdev_id] [tcp|udp]:[hostaddr]:hostport",
    "remove host-to-guest TCP or UDP redirection", function(out, a)
      if #a < 1 or #a > 2 then out("hostfwd_remove: expected [netdev_id] rule") return end
      local u, rule = user_for(out, a, 2)
      if not u then return end
      local ok = pcall(u.hostfwd_remove, u, rule)
      out(("host forwarding rule for %s %s"):format(rule, ok and "removed" or "not found"))
    end)

  -- set_link NAME on|off: a NIC (its id or lemu's port name) or a netdev id. As in QEMU, a netdev's
  -- link going down takes the NIC wired to it (on the netdev's own VLAN) down too, and the guest
  -- sees its link change.
  local function set_link(name, up)
    local found = false
    for _, m in ipairs(lemu.machines()) do
      for _, d in ipairs(m.nics or {}) do
        if d.id == name or d.name == name then d:link(up) found = true end
      end
    end
    local nd = cmdline.netdevs(state())[name]
    if nd then
      if nd.vlan:name() == name then
        -- -netdev ID: the VLAN named ID is the netdev's own; its backend ports (a listening
        -- socket has one per peer) and the NICs on it, its peers, all go down or up.
        local nicnames = {}
        for _, m in ipairs(lemu.machines()) do
          for _, d in ipairs(m.nics or {}) do
            if d.vlan == nd.vlan then d:link(up) nicnames[d.name] = true end
          end
        end
        for _, p in ipairs(nd.vlan:ports()) do
          if not nicnames[p.name] then nd.vlan:link(p.name, up) end
        end
      elseif nd.port then
        nd.vlan:link(nd.port, up)         -- -net on a numbered VLAN: the backend's hub port only
      end
      found = true
    end
    if not found then
      -- Any port by its name on a VLAN ("user" for a -net user without id), or as `info network`
      -- numbers a hub's ports: hub<VLAN>port<N>.
      for _, v in ipairs(lemu.vlans()) do
        for i, p in ipairs(v:ports()) do
          if p.name == name or ("hub%sport%d"):format(v:name(), i - 1) == name then
            local d
            for _, m in ipairs(lemu.machines()) do
              for _, n in ipairs(m.nics or {}) do if n.name == p.name then d = n end end
            end
            if d then d:link(up) else v:link(p.name, up) end
            found = true
          end
        end
      end
    end
    return found
  end
  M.set_link = set_link

  command({ "set_link" }, "name on|off", "change the link status of a network adapter", function(out, a)
    if a[2] ~= "on" and a[2] ~= "off" then
      out("Expected 'on' or 'off'")
      out('Try "help set_link" for more information')
      return
    end
    if not set_link(a[1], a[2] == "on") then out(("Error: Device '%s' not found"):format(a[1])) end
  end)

  local function with_machine(out, fn)
    local m = machine()
    if not m then out("Error: there is no machine") return end
    fn(m)
  end
  command({ "system_reset" }, "", "reset the system", function(out)
    with_machine(out, function(m) m:reset() end)
  end)
  command({ "stop" }, "", "stop emulation", function(out)
    with_machine(out, function(m) if m:state() == "running" then m:pause() end end)
  end)
  command({ "cont", "c" }, "", "resume emulation", function(out)
    with_machine(out, function(m) if m:state() == "paused" then m:resume() end end)
  end)
  command({ "quit", "q" }, "", "quit the emulator", function()
    local st = state()
    st.exit_status = 0
    if lemu.cmdline_state == nil then lemu.cmdline_state = st end
    M.quitting = true
    lemu.core.stop()
  end)

  -- lemu.monitor(line) -> what QEMU's monitor prints for the command, lines ending in "\n".
  function lemu.monitor(line)
    if type(line) ~= "string" then error("lemu.monitor: expected a command line (a string)", 2) end
    local lines = {}
    local function out(s) lines[#lines + 1] = s end
    line = line:gsub("^%s+", ""):gsub("%s+$", "")
    if line == "" then return "" end
    local a = words(line)
    local c = commands[table.remove(a, 1)]
    if not c then
      out(("unknown command: '%s'"):format(line:match("^%S+")))
    else
      local ok, err = pcall(c.fn, out, a, line)
      if not ok then out("Error: " .. strip(err)) end
    end
    return #lines > 0 and (table.concat(lines, "\n") .. "\n") or ""
  end

  -- A session: bytes in (typed or from a socket), QEMU's prompt and the command's output out
  -- (write(s)), with "\r\n" line ends. echo: whether typed characters are echoed (not for a
  -- terminal that echoes them itself).
  local Session = {}
  Session.__index = Session

  local function session(write, echo)
    return setmetatable({ write = write, echo = echo, buf = {}, esc = nil, cr = false }, Session)
  end

  function Session:banner()
    self.write(("lemu %s monitor - type 'help' for more information\r\n"):format(lemu.version) .. M.PROMPT)
  end

  function Session:run(line)
    local text = lemu.monitor(line)
    if text ~= "" then self.write((text:gsub("\n", "\r\n"))) end
    if not M.quitting then self.write(M.PROMPT) end
  end

  function Session:feed(data)
    for i = 1, #data do
      local c = data:sub(i, i)
      local b = c:byte()
      if self.esc then                                  -- an escape sequence (arrows...): ignored
        if self.esc == "" and c ~= "[" and c ~= "O" then self.esc = nil
        elseif self.esc ~= "" and b >= 0x40 and b <= 0x7e then self.esc = nil
        else self.esc = self.esc .. c end
      elseif c == "\r" or (c == "\n" and not self.cr) then
        if self.echo then self.write("\r\n") end
        local line = table.concat(self.buf)
        self.buf = {}
        self:run(line)
      elseif c == "\n" then                             -- the \n of a \r\n
      elseif b == 0x7f or b == 0x08 then
        if #self.buf > 0 then
          self.buf[#self.buf] = nil
          if self.echo then self.write("\b \b") end
        end
      elseif b == 0x1b then
        self.esc = ""
      elseif b >= 0x20 then
        self.buf[#self.buf + 1] = c
        if self.echo then self.write(c) end
      end
      self.cr = c == "\r"
    end
  end

  -- Stream monitors: each connection a session.
  local function serve_stream(s)
    local sess = session(function(x) if not s:closed() then s:write(x) end end, true)
    sess:banner()
    while true do
      local data = s:read { timeout = false }
      if not data then break end
      sess:feed(data)
    end
    if not s:closed() then s:close() end
  end

  -- Command line ------------------------------------------------------------------------------
  local LOOPBACK = { ["127.0.0.1"] = true, localhost = true, ["::1"] = true, [""] = true }

  local function parse(v)
    if v == "stdio" or v == "none" then return { kind = v } end
    local kind, rest = v:match("^(%a+):(.*)$")
    if kind ~= "unix" and kind ~= "tcp" then
      error(("'%s': lemu's monitor takes stdio, none, unix:PATH,server,nowait or tcp:127.0.0.1:PORT,server,nowait"):format(v), 0)
    end
    local items = {}
    for item in (rest .. ","):gmatch("([^,]*),") do items[#items + 1] = item end
    local where = table.remove(items, 1)
    local server, wait = false, true
    for _, it in ipairs(items) do
      if it == "server" or it == "server=on" then server = true
      elseif it == "nowait" or it == "wait=off" then wait = false
      elseif it == "wait" or it == "wait=on" then wait = true
      elseif it == "server=off" then server = false
      else error(("'%s': unknown option '%s' (lemu's monitor takes server and nowait)"):format(v, it), 0) end
    end
    if not server then
      error(("'%s': lemu's monitor listens and does not connect out: add server,nowait"):format(v), 0)
    end
    if wait then
      error(("'%s': lemu does not hold the machine until a monitor client connects: add nowait"):format(v), 0)
    end
    if kind == "unix" then
      if where == "" then error(("'%s': unix: needs a socket path"):format(v), 0) end
      return { kind = "unix", path = where }
    end
    local host, port = where:match("^%[([^%]]*)%]:(%d+)$")
    if not host then host, port = where:match("^([^:]*):(%d+)$") end
    if not host then error(("'%s': expected tcp:HOST:PORT"):format(v), 0) end
    if not LOOPBACK[host] and not host:match("^127%.%d+%.%d+%.%d+$") then
      error(("'%s': lemu's monitor listens on loopback only (127.0.0.1, ::1 or localhost), not %s"):format(v, host), 0)
    end
    if host == "" or host == "localhost" then host = "127.0.0.1" end
    local p = tonumber(port)
    if p < 1 or p > 65535 then error(("'%s': port %s is out of range"):format(v, port), 0) end
    return { kind = "tcp", host = host, port = p }
  end

  local function listen(mon, v)
    local ok, l
    if mon.kind == "unix" then ok, l = pcall(lemu.unix_listen, mon.path, serve_stream)
    else ok, l = pcall(lemu.tcp_listen, mon.host, mon.port, serve_stream) end
    if not ok then error(("-monitor %s: %s"):format(v, strip(l)), 0) end
    return l
  end

  -- lemu.monitor_listen("unix:PATH,server,nowait" | "tcp:127.0.0.1:PORT,server,nowait") -> the
  -- listener: the monitor for a script's own lab, as -monitor gives it (l:close() stops it).
  function lemu.monitor_listen(v)
    if type(v) ~= "string" then error("lemu.monitor_listen: expected 'unix:PATH,server,nowait' or 'tcp:127.0.0.1:PORT,server,nowait'", 2) end
    local ok, mon = pcall(parse, v)
    if not ok then error("lemu.monitor_listen: " .. strip(mon), 2) end
    if mon.kind ~= "unix" and mon.kind ~= "tcp" then
      error(("lemu.monitor_listen: '%s': a script's monitor listens on unix: or tcp:"):format(v), 2)
    end
    local ok2, l = pcall(listen, mon, v)
    if not ok2 then error((strip(l):gsub("^%-monitor ", "lemu.monitor_listen: ")), 2) end
    return l
  end

  cmdline.options.monitor = {
    arg = "stdio|none|unix:PATH,server,nowait|tcp:127.0.0.1:PORT,server,nowait",
    help = "QEMU's monitor (info status|network|usernet, hostfwd_add, set_link, stop, cont, quit...)",
    apply = function(v, st)
      local mon = parse(v)
      if mon.kind == "stdio" then
        if st.monitor_stdio then error("stdio is already the monitor", 0) end
        st.monitor_stdio = true
        -- Once the machine is built (its stdin carries the monitor), check there is one.
        st.started[#st.started + 1] = function()
          st.started[#st.started + 1] = function()
            if not st.machine and not st.exit_status then
              cmdline.fail("-monitor stdio: lemu reads the monitor on the machine's stdin; give a machine (-M virt -kernel ...)")
            end
          end
        end
      elseif mon.kind == "none" then
        st.monitor_none = true
      else
        st.started[#st.started + 1] = function()
          local ok, l = pcall(listen, mon, v)
          if not ok then cmdline.fail(l) end
          st.monitors = st.monitors or {}
          table.insert(st.monitors, l)
          st.hold = true
        end
      end
    end,
  }

  -- The machine built from the options asks here whether stdin carries a monitor: mux is true
  -- when stdin is the -nographic (or -serial mon:stdio) console, where Ctrl-A c switches to the
  -- monitor unless -monitor none. Returns the on_monitor callback for attach_stdin and a function
  -- to call with attach_stdin's results, or nil.
  function M.stdin_monitor(st, mux)
    if st.monitor_stdio and mux then
      cmdline.fail("-monitor stdio: stdin is already the -nographic console (its Ctrl-A c is the monitor); " ..
        "give -serial none or -serial file:F to have stdin for the monitor alone")
    end
    if not st.monitor_stdio and not (mux and not st.monitor_none) then return nil end
    local function write(s)
      io.stdout:write(s)
      io.stdout:flush()
    end
    local sess = session(write, true)
    local greeted = false
    local function on_monitor(what, x)
      if what == "focus" then
        if x then
          if greeted then write("\r\n" .. M.PROMPT) else sess:banner() end
          greeted = true
        end
        return
      end
      local ok, err = pcall(sess.feed, sess, x)
      if not ok then write("Error: " .. strip(err) .. "\r\n" .. M.PROMPT) end
    end
    local function attached(ok, is_tty)
      -- A terminal in its normal mode (no escapes) echoes by itself.
      sess.echo = not (is_tty and not mux)
      if ok and st.monitor_stdio then sess:banner() greeted = true end
    end
    return on_monitor, attached
  end
end

return M
