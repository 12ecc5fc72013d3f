-- lemu.user: `vlan:user{...}` — libslirp's user-mode network with QEMU's -netdev user options — and
-- its forwarding at run time. Option names are QEMU's; "ipv6_net" and "ipv6-net" are the same
-- option. The C half is lua/luser.c (lemu.usernet); guestfwd rules that go to a Lua function or a
-- host address are served here through a private Unix socket that slirp connects to per
-- connection (slirp_add_unix), so each guest connection becomes one stream object.
local usernet = require "lemu.usernet"
local cmdline = require "lemu.cmdline"

local M = {}

M.options = {
  "net", "host", "dhcpstart", "dns", "ipv4", "ipv6", "ipv6-net", "ipv6-prefix", "ipv6-prefixlen",
  "ipv6-host", "ipv6-dns", "restrict", "hostname", "domainname", "dnssearch", "tftp", "bootfile",
  "tftp-server-name", "smb", "smbserver", "hostfwd", "guestfwd", "dns_hosts", "name",
}
local valid = {}
for _, k in ipairs(M.options) do valid[(k:gsub("_", "-"))] = k end

local function canon(k) return (k:gsub("_", "-")) end

local function strip_where(err)
  if type(err) ~= "string" then return err end
  return (err:gsub("^[^\n:]*:%d+: ", ""))
end

local function as_list(v, name)
  if v == nil then return {} end
  if type(v) == "string" then return { v } end
  if type(v) == "table" then return v end
  error(("option '%s': expected a rule or a list of rules, got %s"):format(name, type(v)), 0)
end

function M.install(lemu)
  -- Options every vlan:user gets unless it gives them. LEMU_DNS_LOCAL=1 in the environment (the
  -- test suite sets it) makes the local DNS table the default, so no DNS query leaves the machine
  -- even from a script that forgot dns_hosts.
  lemu.user_defaults = {}
  -- The smbd that smb= runs (nil: /usr/sbin/smbd or wherever the system has it).
  lemu.smbd = os.getenv("LEMU_SMBD")
  if os.getenv("LEMU_DNS_LOCAL") == "1" then lemu.user_defaults.dns_hosts = {} end
  local reg = debug.getregistry()
  local V, U = reg["lemu.vlan"], reg["lemu.user"]
  local extra = setmetatable({}, { __mode = "k" })   -- user -> { dir=, guestfwds = {...} }
  -- Every user-net made, with its VLAN, for lemu.topology (weak: a closed one goes away).
  lemu._users = setmetatable({}, { __mode = "k" })

  -- A guestfwd target "[tcp:]HOST:PORT": each guest connection is relayed to a new host connection.
  local function relay(host, port)
    return function(s)
      local ok, c = pcall(lemu.tcp_connect, host, port)
      if not ok then s:close() return end
      local function pump(from, to)
        while true do
          local data = from:read { timeout = false }
          if not data then break end
          to:write(data)
        end
        if not to:closed() then to:shutdown() end
      end
      local t = lemu.spawn(pump, c, s)
      pcall(pump, s, c)
      pcall(lemu.join, t, { timeout = false })
      s:close()
      c:close()
    end
  end

  -- user:guestfwd_add(rule[, fn]): rule "[tcp]:[server]:port-TARGET" with TARGET cmd:COMMAND or
  -- [tcp:]HOST:PORT; or "[tcp]:[server]:port" and fn(stream), run in a task per connection.
  function U.guestfwd_add(u, rule, fn)
    if type(rule) ~= "string" then error("guestfwd_add: expected a rule string", 2) end
    if fn ~= nil and type(fn) ~= "function" then error("guestfwd_add: the handler must be a function", 2) end
    local parse_rule = rule
    if fn and not rule:find("-", 1, true) then parse_rule = rule .. "-lua" end
    local ok, addr, port, target = pcall(u._guestfwd_parse, u, parse_rule)
    if not ok then error(strip_where(addr), 2) end
    local x = extra[u] or { guestfwds = {} }
    extra[u] = x
    for _, g in ipairs(x.guestfwds) do
      if g.addr == addr and g.port == port then
        error(("guestfwd rule '%s': %s:%d is already forwarded by '%s'"):format(rule, addr, port, g.rule), 2)
      end
    end
    local g = { rule = rule, addr = addr, port = port, kind = "guestfwd" }
    if not fn and target:sub(1, 4) == "cmd:" then
      g.target = "cmd"
      local ok2, err = pcall(u._guestfwd_exec, u, addr, port, target:sub(5))
      if not ok2 then error(("guestfwd rule '%s': %s"):format(rule, strip_where(err)), 2) end
    else
      if not fn then
        local host, hport = target:match("^tcp:([%d%.]+):(%d+)$")
        if not host then host, hport = target:match("^([%d%.]+):(%d+)$") end
        if not host then
          error(("guestfwd rule '%s': target '%s' is not cmd:COMMAND or [tcp:]HOST:PORT"):format(rule, target), 2)
        end
        fn = relay(host, tonumber(hport))
        g.target = ("tcp:%s:%s"):format(host, hport)
      else
        g.target = "lua"
      end
      x.dir = x.dir or usernet.mkdtemp("lemu-guestfwd")
      x.n = (x.n or 0) + 1
      local path = ("%s/%d.sock"):format(x.dir, x.n)
      g.listener = lemu.unix_listen(path, fn)
      local ok2, err = pcall(u._guestfwd_unix, u, addr, port, path)
      if not ok2 then
        g.listener:close()
        error(("guestfwd rule '%s': %s"):format(rule, strip_where(err)), 2)
      end
    end
    table.insert(x.guestfwds, g)
    return { rule = rule, kind = "guestfwd", guest_addr = addr, guest_port = port, target = g.target }
  end

  -- user:guestfwd_remove(rule): the rule as it was added.
  function U.guestfwd_remove(u, rule)
    local x = extra[u] or { guestfwds = {} }
    for i, g in ipairs(x.guestfwds) do
      if g.rule == rule then
        u:_guestfwd_remove(g.addr, g.port)
        if g.listener then g.listener:close() end
        table.remove(x.guestfwds, i)
        return
      end
    end
    error(("guestfwd rule '%s': no such forward (see user:info().forwards)"):format(rule), 2)
  end

  -- tostring(u:info()) reads like QEMU's `info usernet`, with the forwards and leases added.
  local infomt = { __tostring = function(t)
    local c = t.config
    local lines = { ("user net %s: net %s, host %s, dns %s, dhcp from %s%s"):format(t.name, c.net, c.host,
      c.dns, c.dhcpstart, c.restrict and ", restricted" or "") }
    for _, f in ipairs(t.forwards) do
      if f.kind == "hostfwd" then
        lines[#lines + 1] = ("  hostfwd %s %s -> %s:%d (%s)"):format(f.proto,
          f.host_path or ((f.ipv6 and "[%s]:%d" or "%s:%d"):format(f.host_addr, f.host_port)),
          f.ipv6 and "[" .. f.guest_addr .. "]" or f.guest_addr, f.guest_port, f.rule)
      else
        lines[#lines + 1] = ("  guestfwd %s:%d -> %s (%s)"):format(f.guest_addr, f.guest_port, f.target, f.rule)
      end
    end
    for _, l in ipairs(t.leases) do lines[#lines + 1] = ("  lease %s %s"):format(l.mac, l.ip) end
    lines[#lines + 1] = ("  %-18s %4s %15s %5s %15s %5s %5s %5s"):format("Protocol[State]", "FD",
      "Source Address", "Port", "Dest. Address", "Port", "RecvQ", "SendQ")
    for _, k in ipairs(t.connections) do
      lines[#lines + 1] = ("  %-18s %4d %15s %5d %15s %5d %5d %5d"):format(
        k.proto .. (k.state and ("[" .. k.state .. "]") or ""), k.fd, k.src_addr, k.src_port,
        k.dst_addr, k.dst_port, k.recvq, k.sendq)
    end
    return table.concat(lines, "\n")
  end }

  local cinfo = U.info
  function U.info(u)
    local t = cinfo(u)
    for _, g in ipairs((extra[u] or { guestfwds = {} }).guestfwds) do
      t.forwards[#t.forwards + 1] = { rule = g.rule, kind = "guestfwd", proto = "tcp",
        guest_addr = g.addr, guest_port = g.port, target = g.target }
    end
    t.name = t.counters.name
    return setmetatable(t, infomt)
  end

  for _, name in ipairs { "hostfwd_add", "hostfwd_remove" } do
    local f = U[name]
    U[name] = function(u, ...)
      local ok, r = pcall(f, u, ...)
      if not ok then error(strip_where(r), 2) end
      return r
    end
  end

  local cclose = U.close
  -- u:impair(spec): impairments on user-net's port on its VLAN (vlan:impair; nil removes them).
  function U.impair(u, spec)
    local v = lemu._users[u] or error("u:impair: this user-net is closed", 2)
    return v:impair(u:info().name, spec)
  end

  function U.close(u)
    local x = extra[u]
    if x then
      extra[u] = nil
      for _, g in ipairs(x.guestfwds) do
        if g.listener then g.listener:close() end
      end
      if x.dir then usernet.rmtree(x.dir) end
    end
    return cclose(u)
  end

  -- vlan:user{opt=value, ...}: see docs/user-net.md for every option.
  function V.user(vlan, opts)
    opts = opts or {}
    if type(opts) ~= "table" then error("vlan:user: expected a table of options", 2) end
    local bad = cmdline.unknown_key(opts, function(k) return type(k) == "string" and valid[canon(k)] end)
    if bad ~= nil then
      error(("vlan:user: unknown option '%s' (valid: %s)"):format(tostring(bad), table.concat(M.options, ", ")), 2)
    end
    local o, keys = {}, {}
    for k in pairs(opts) do keys[#keys + 1] = k end
    table.sort(keys)                   -- all strings by now; sorted, a clash is always named alike
    for _, k in ipairs(keys) do
      local c = canon(k)
      if o[c] ~= nil then error(("vlan:user: option '%s' is given twice"):format(valid[c]), 2) end
      o[c] = opts[k]
    end
    for k, v in pairs(lemu.user_defaults) do
      if valid[canon(k)] and o[canon(k)] == nil then o[canon(k)] = v end
    end
    local ok, hostfwd = pcall(as_list, o.hostfwd, "hostfwd")
    if not ok then error(hostfwd, 2) end
    local guestfwd
    ok, guestfwd = pcall(as_list, o.guestfwd, "guestfwd")
    if not ok then error(guestfwd, 2) end
    if type(o.dnssearch) == "string" then o.dnssearch = { o.dnssearch } end
    o.hostfwd, o.guestfwd = nil, nil
    local u
    ok, u = pcall(usernet.new, vlan, o)
    if not ok then error("vlan:user: " .. strip_where(u), 2) end
    local ok2, err = pcall(function()
      if o["dns-hosts"] then u:_dns_hosts(o["dns-hosts"]) end
      if o.smb then u:_smb(o.smb, lemu.smbd) end
      for _, r in ipairs(hostfwd) do u:hostfwd_add(r) end
      for _, g in ipairs(guestfwd) do
        if type(g) == "table" then u:guestfwd_add(g[1] or g.rule, g[2] or g.fn)
        else u:guestfwd_add(g) end
      end
    end)
    if not ok2 then
      u:close()
      error("vlan:user: " .. strip_where(err), 2)
    end
    lemu._users[u] = vlan
    return u
  end

  -- Command line: -netdev user,id=ID,... (the VLAN named ID) and -net user[,vlan=N],...
  local function from_opts(opts, all, what)
    local bad = cmdline.unknown_key(opts, function(k)
      return k == "kind" or k == "type" or k == "id" or k == "vlan" or valid[canon(k)]
    end)
    if bad then
      error(("%s: unknown option '%s' (valid: %s, %s)"):format(what, bad,
        what == "-net user" and "vlan, id" or "id", table.concat(M.options, ", ")), 0)
    end
    local t = {}
    for k, v in pairs(opts) do
      if k ~= "kind" and k ~= "type" and k ~= "id" and k ~= "vlan" then t[k] = v end
    end
    t.hostfwd, t.guestfwd, t.dnssearch = all.hostfwd, all.guestfwd, all.dnssearch
    if t.dns_hosts or t["dns-hosts"] then
      -- dns_hosts=name=addr;name=addr on the command line.
      local s = t.dns_hosts or t["dns-hosts"]
      local tbl = {}
      for name, addr in s:gmatch("([^;=]+)=([^;]+)") do tbl[name] = addr end
      t.dns_hosts, t["dns-hosts"] = tbl, nil
    end
    return t
  end

  local function register(state, id, vlan, u)
    if not id then return end
    local nd = cmdline.netdevs(state)
    if nd[id] then error(("duplicate netdev id '%s'"):format(id), 0) end
    nd[id] = { vlan = vlan, port = u:port().name, user = u, handle = u, kind = "user" }
  end

  cmdline.net_kinds.user = function(opts, all, state)
    local vlan = cmdline.vlan(opts.vlan or "0")
    local t = from_opts(opts, all, "-net user")
    t.name = t.name or opts.id
    local ok, u = pcall(vlan.user, vlan, t)
    if not ok then error((strip_where(u):gsub("^vlan:user: ", "")), 0) end
    state.hold = true
    register(state, opts.id or opts.name, vlan, u)
    return u
  end

  cmdline.netdev_kinds = cmdline.netdev_kinds or {}
  cmdline.netdev_kinds.user = function(opts, all, state)
    if not opts.id then error("-netdev user: an id=ID is required", 0) end
    local vlan = lemu.vlan(opts.id)
    local t = from_opts(opts, all, "-netdev user")
    t.name = t.name or opts.id
    local ok, u = pcall(vlan.user, vlan, t)
    if not ok then error((strip_where(u):gsub("^vlan:user: ", "")), 0) end
    state.hold = true
    register(state, opts.id, vlan, u)
    return u
  end

  -- -netdev KIND,id=ID,...: the sock layer defines the same dispatcher; whichever loads first wins.
  cmdline.options.netdev = cmdline.options.netdev or {
    arg = "KIND,id=ID[,opt=...]",
    help = "a network backend on the VLAN named ID: user and the kinds other layers add",
    apply = function(value, state)
      local opts, all = cmdline.parse_opts(value, "type")
      local fn = cmdline.netdev_kinds[opts.type or ""]
      if not fn then
        local names = {}
        for k in pairs(cmdline.netdev_kinds) do names[#names + 1] = k end
        table.sort(names)
        error(("unknown kind '%s' (valid: %s)"):format(tostring(opts.type), table.concat(names, ", ")), 0)
      end
      cmdline.check_id(opts.id)
      return fn(opts, all, state)
    end,
  }
end

return M
