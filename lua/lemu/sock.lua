-- lemu.sock: socket backends in QEMU's three spellings — vlan:socket{} (-net socket),
-- vlan:stream{} and vlan:dgram{} (QEMU 7.2's -netdev stream/dgram) — all made by lemu.csock (the
-- C half, netstack/sock.c), plus their command-line options.
local csock = require "lemu.csock"
local cmdline = require "lemu.cmdline"

local M = {}

local function fail(what, msg, ...) error(("%s: " .. msg):format(what, ...), 0) end

local function check_keys(what, opts, valid)
  if type(opts) ~= "table" then fail(what, "expected a table of options") end
  local set = {}
  for _, k in ipairs(valid) do set[k] = true end
  local bad = cmdline.unknown_key(opts, set)
  if bad ~= nil then fail(what, "unknown option '%s' (valid: %s)", tostring(bad), table.concat(valid, ", ")) end
end

local function is_mcast(addr)
  local a = tostring(addr):match("^(%d+)%.%d+%.%d+%.%d+:")
  return a and tonumber(a) >= 224 and tonumber(a) <= 239
end

local function seconds_ms(what, v)
  if v == nil then return nil end
  local n = tonumber(v)
  if not n or n < 0 then fail(what, "reconnect=%s must be a number of seconds >= 0", tostring(v)) end
  return math.floor(n * 1000 + 0.5)
end

function M.install(lemu)
  local reg = debug.getregistry()
  local vlanmt, mt = reg["lemu.vlan"], reg["lemu.socket"]
  local events = setmetatable({}, { __mode = "k" })   -- handle -> { waiters, on_event }

  local function open(what, vlan, mode, addr, locl, o)
    local st = { waiters = {}, on_event = o.on_event }
    local h, err = csock.open(vlan, mode, addr, locl, o.reconnect_ms, o.stall_timeout, o.write_queue,
      function(handle, ev, peer, reason)
        for _, w in ipairs(st.waiters) do w() end
        if st.on_event then lemu.spawn(st.on_event, handle, ev, peer, reason) end
      end, o.vni)
    if not h then fail(what, "%s", err) end
    events[h] = st
    st.vlan = vlan
    return h
  end

  -- s:impair(spec): impairments on the backend's port (vlan:impair); a listener's apply to each
  -- peer connected now.
  function mt.impair(s, spec)
    local st = events[s]
    local info = s:info()
    if info.peers then
      for _, p in ipairs(info.peers) do st.vlan:impair(p.name, spec) end
    else
      st.vlan:impair(info.name, spec)
    end
  end

  -- vlan:socket{listen= | connect= | mcast= | udp=, localaddr=, reconnect=s, ...}: QEMU's -net socket.
  function vlanmt.socket(vlan, o)
    local what = "vlan:socket"
    check_keys(what, o, { "listen", "connect", "mcast", "udp", "localaddr", "reconnect", "stall_timeout",
      "write_queue", "on_event" })
    local modes = {}
    for _, m in ipairs { "listen", "connect", "mcast", "udp" } do if o[m] then modes[#modes + 1] = m end end
    if #modes ~= 1 then fail(what, "give exactly one of listen=, connect=, mcast=, udp= (got %d)", #modes) end
    local mode = modes[1]
    local addr = o[mode]
    if type(addr) ~= "string" then fail(what, "%s= must be a string like 'host:port'", mode) end
    if mode == "udp" and not o.localaddr then fail(what, "udp= needs localaddr='host:port' to receive on") end
    if o.localaddr and mode ~= "udp" and mode ~= "mcast" then fail(what, "localaddr= goes with udp= or mcast=") end
    if o.reconnect and mode ~= "connect" then fail(what, "reconnect= goes with connect=") end
    if o[mode] and mode == "mcast" and not is_mcast(addr) then
      fail(what, "mcast=%s is not an IPv4 multicast group:port (224.0.0.0 to 239.255.255.255)", addr)
    end
    return open(what, vlan, mode, addr, o.localaddr, {
      reconnect_ms = seconds_ms(what, o.reconnect), stall_timeout = o.stall_timeout,
      write_queue = o.write_queue, on_event = o.on_event })
  end

  local function addr_of(what, a, role)
    if type(a) == "string" then return a end
    if type(a) ~= "table" then fail(what, "%s must be 'host:port', 'unix:/path' or a table", role) end
    local t = a.type or (a.path and "unix") or "inet"
    if t == "unix" then
      if type(a.path) ~= "string" then fail(what, "%s.path is needed for a unix socket", role) end
      if a.abstract then fail(what, "%s: abstract unix sockets are not supported", role) end
      return "unix:" .. a.path
    elseif t == "inet" then
      if a.port == nil then fail(what, "%s.port is needed for an inet socket", role) end
      local host = a.host or ""
      if host:find(":", 1, true) then host = "[" .. host .. "]" end
      return host .. ":" .. tostring(a.port)
    end
    fail(what, "%s.type=%s is not supported (inet or unix)", role, tostring(t))
  end

  -- vlan:stream{server=bool, addr="host:port"|"unix:/path"|{type=,host=,port=,path=}, reconnect=s}
  function vlanmt.stream(vlan, o)
    local what = "vlan:stream"
    check_keys(what, o, { "server", "addr", "reconnect", "stall_timeout", "write_queue", "on_event" })
    if o.addr == nil then fail(what, "addr= is needed ('host:port', 'unix:/path' or a table)") end
    local addr = addr_of(what, o.addr, "addr")
    if o.server and o.reconnect then fail(what, "reconnect= is for clients (server=false)") end
    return open(what, vlan, o.server and "listen" or "connect", addr, nil, {
      reconnect_ms = seconds_ms(what, o.reconnect), stall_timeout = o.stall_timeout,
      write_queue = o.write_queue, on_event = o.on_event })
  end

  -- vlan:dgram{remote=, local=}: UDP or unix datagrams; a multicast remote joins the group, with
  -- local naming the interface address.
  function vlanmt.dgram(vlan, o)
    local what = "vlan:dgram"
    check_keys(what, o, { "remote", "local", "on_event" })
    if o.remote == nil then fail(what, "remote= is needed (where frames go)") end
    local remote = addr_of(what, o.remote, "remote")
    local loc = o["local"] and addr_of(what, o["local"], "local")
    if is_mcast(remote) then
      return open(what, vlan, "mcast", remote, loc and loc:match("^(.*):%d+$") or loc, { on_event = o.on_event })
    end
    if not loc then fail(what, "local= is needed to receive (a host:port or unix:/path)") end
    return open(what, vlan, "udp", remote, loc, { on_event = o.on_event })
  end

  -- vlan:vxlan{remote=, local=, vni=, port=4789}: VXLAN (RFC 7348) to one remote tunnel endpoint,
  -- as a Linux vxlan device with `remote` talks it: UDP from local:port to remote:port.
  function vlanmt.vxlan(vlan, o)
    local what = "vlan:vxlan"
    check_keys(what, o, { "remote", "local", "vni", "port", "on_event" })
    if type(o.remote) ~= "string" then fail(what, "remote= is needed (the other tunnel endpoint's address)") end
    if math.type(o.vni) ~= "integer" or o.vni < 0 or o.vni > 0xffffff then
      fail(what, "vni=%s: a VXLAN network identifier is a whole number from 0 to 16777215", tostring(o.vni))
    end
    local port = o.port or 4789
    if math.type(port) ~= "integer" or port < 1 or port > 65535 then
      fail(what, "port=%s: a UDP port is 1 to 65535", tostring(o.port))
    end
    local function hostport(h)
      if h:find(":", 1, true) and not h:match("^%[") then h = "[" .. h .. "]" end
      return h .. ":" .. port
    end
    local loc = o["local"]
    if loc ~= nil and type(loc) ~= "string" then fail(what, "local= is an address to bind (default: all, port %d)", port) end
    return open(what, vlan, "vxlan", hostport(o.remote), hostport(loc or "0.0.0.0"), { vni = o.vni, on_event = o.on_event })
  end

  -- s:wait{timeout=, peers=n}: waits until n peers (default 1) are connected; returns s.
  function mt.wait(s, opts)
    opts = opts or {}
    local want = opts.peers or 1
    local st = events[s]
    if s:connected() >= want then return s end
    local info = s:info()
    lemu.wait(("%d peer(s) on socket %s"):format(want, info["local"] ~= "" and info["local"] or (info.peer or "?")), opts,
      function(wake)
        local w = function() if not s:closed() and s:connected() >= want then wake() end end
        table.insert(st.waiters, w)
        return function()
          for i, x in ipairs(st.waiters) do if x == w then table.remove(st.waiters, i) break end end
        end
      end)
    return s
  end

  -- vlan:info(): backend ports (socket, tap, vde) carry peer, connected, to_peer and from_peer
  -- (added in C through lnet_register_info); the printed listing gets a line for them.
  local base_info = vlanmt.info
  if base_info then
    function vlanmt.info(v)
      local t = base_info(v)
      local mt0 = getmetatable(t)
      local base = mt0 and mt0.__tostring
      if not base then return t end
      return setmetatable(t, { __tostring = function(x)
        local lines = {}
        for line in base(x):gmatch("[^\n]+") do lines[#lines + 1] = line end
        if #lines ~= #x.ports + 1 then return base(x) end
        local out = { lines[1] }
        for i, p in ipairs(x.ports) do
          out[#out + 1] = lines[i + 1]
          if p.to_peer then
            out[#out + 1] = ("    peer %s %s: to peer %d frames %d bytes %d drops, from peer %d frames %d bytes %d drops"):format(
              p.peer or "?", p.connected and "connected" or "not connected", p.to_peer.frames, p.to_peer.bytes,
              p.to_peer.drops, p.from_peer.frames, p.from_peer.bytes, p.from_peer.drops)
          end
        end
        return table.concat(out, "\n")
      end })
    end
  end

  -- Command line ---------------------------------------------------------------------------
  cmdline.netdev_kinds = cmdline.netdev_kinds or {}

  -- handle: the backend's handle (socket, tap, vde...), for lemu.netdev(id) and the monitor.
  local function nd_register(state, id, vlan, port, handle, kind)
    state.hold = true   -- a network built from options serves until interrupted (lemu.main)
    if id then
      local nd = cmdline.netdevs(state)
      if nd[id] then error(("duplicate netdev id '%s'"):format(id), 0) end
      nd[id] = { vlan = vlan, port = port, handle = handle, kind = kind }
    end
  end

  local function socket_from_opts(what, opts, vlan)
    if opts.fd then error(what .. ": fd= is not supported (give listen=, connect=, mcast= or udp=)", 0) end
    local o = { listen = opts.listen, connect = opts.connect, mcast = opts.mcast, udp = opts.udp,
      localaddr = opts.localaddr, reconnect = opts.reconnect }
    local ok, s = pcall(vlanmt.socket, vlan, o)
    if not ok then error((tostring(s):gsub("^vlan:socket: ", "")), 0) end
    return s
  end

  cmdline.net_kinds.socket = function(opts, _, state)
    cmdline.check_keys("-net socket", opts, { "kind", "vlan", "id", "name", "listen", "connect", "mcast",
      "udp", "localaddr", "fd", "reconnect" })
    local vlan = cmdline.vlan(opts.vlan or "0", true)
    local s = socket_from_opts("-net socket", opts, vlan)
    nd_register(state, opts.id or opts.name, vlan, s:info().name, s, opts.type or opts.kind)
    return s
  end

  cmdline.netdev_kinds.socket = function(opts, _, state)
    cmdline.check_keys("-netdev socket", opts, { "type", "id", "listen", "connect", "mcast", "udp",
      "localaddr", "fd", "reconnect" })
    local vlan = lemu.vlan(opts.id)
    local s = socket_from_opts("-netdev socket", opts, vlan)
    nd_register(state, opts.id, vlan, s:info().name, s, opts.type or opts.kind)
    return s
  end

  cmdline.netdev_kinds.stream = function(opts, _, state)
    cmdline.check_keys("-netdev stream", opts, { "type", "id", "server", "addr.type", "addr.host",
      "addr.port", "addr.path", "addr.abstract", "addr.tight", "addr.numeric", "addr.to", "addr.ipv4",
      "addr.ipv6", "addr.keep-alive", "reconnect" })
    if cmdline.bool("addr.abstract", opts["addr.abstract"]) then error("addr.abstract=on is not supported", 0) end
    if opts["addr.type"] == "fd" then error("addr.type=fd is not supported (inet or unix)", 0) end
    local vlan = lemu.vlan(opts.id)
    local ok, s = pcall(vlanmt.stream, vlan, {
      server = cmdline.bool("server", opts.server) or false,
      addr = { type = opts["addr.type"] or "inet", host = opts["addr.host"], port = opts["addr.port"],
               path = opts["addr.path"] },
      reconnect = opts.reconnect and tonumber(opts.reconnect) ~= 0 and opts.reconnect or nil })
    if not ok then error((tostring(s):gsub("^vlan:stream: ", "")), 0) end
    nd_register(state, opts.id, vlan, s:info().name, s, opts.type or opts.kind)
    return s
  end

  cmdline.netdev_kinds.dgram = function(opts, _, state)
    cmdline.check_keys("-netdev dgram", opts, { "type", "id", "remote.type", "remote.host", "remote.port",
      "remote.path", "local.type", "local.host", "local.port", "local.path" })
    local function side(p)
      if not opts[p .. ".type"] and not opts[p .. ".host"] and not opts[p .. ".path"] then return nil end
      local t = opts[p .. ".type"] or "inet"
      if t == "fd" then error(p .. ".type=fd is not supported (inet or unix)", 0) end
      return { type = t, host = opts[p .. ".host"], port = opts[p .. ".port"] or (p == "local" and "0" or nil),
               path = opts[p .. ".path"] }
    end
    local vlan = lemu.vlan(opts.id)
    local ok, s = pcall(vlanmt.dgram, vlan, { remote = side("remote"), ["local"] = side("local") })
    if not ok then error((tostring(s):gsub("^vlan:dgram: ", "")), 0) end
    nd_register(state, opts.id, vlan, s:info().name, s, opts.type or opts.kind)
    return s
  end

  -- -netdev vxlan,id=ID,remote=ADDR,vni=N[,local=ADDR][,port=4789]
  cmdline.netdev_kinds.vxlan = function(opts, _, state)
    cmdline.check_keys("-netdev vxlan", opts, { "type", "id", "remote", "local", "vni", "port" })
    local function int(k)
      if opts[k] == nil then return nil end
      return math.tointeger(tonumber(opts[k])) or error(("-netdev vxlan: %s=%s: expected a whole number"):format(k, opts[k]), 0)
    end
    if not opts.vni then error("-netdev vxlan needs vni= (the VXLAN network identifier)", 0) end
    local vlan = lemu.vlan(opts.id)
    local ok, s = pcall(vlanmt.vxlan, vlan, { remote = opts.remote, ["local"] = opts["local"], vni = int("vni"),
                                              port = int("port") })
    if not ok then error((tostring(s):gsub("^vlan:vxlan: ", "-netdev vxlan: ")), 0) end
    nd_register(state, opts.id, vlan, s:info().name, s, opts.type or opts.kind)
    return s
  end

  M.register_netdev = nd_register
end

-- -netdev KIND,id=ID,...: each backend sits on the VLAN named ID (a NIC with netdev=ID joins it).
-- Kinds are added to cmdline.netdev_kinds by the layers that provide them.
cmdline.netdev_kinds = cmdline.netdev_kinds or {}
cmdline.options.netdev = cmdline.options.netdev or {
  arg = "KIND,id=ID[,opt=...]",
  help = "a network backend on the VLAN named ID: " ..
         "socket, stream, dgram, vxlan, tap, vde and the kinds other layers add",
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

return M
