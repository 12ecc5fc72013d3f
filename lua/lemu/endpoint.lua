-- lemu.endpoint: the Lua half of scripted endpoints. `vlan:endpoint{mac=, name=, queue=}` makes a
-- port driven by Lua (the C half is lua/lendpoint.c); `ep:recv{timeout=, match=}` waits in a task
-- for a frame. Frames nobody has taken stay queued up to `queue` (default 1024); past that the
-- endpoint's port drops them and counts them in info().rx.drops.
local cep = require "lemu.cendpoint"
local cmdline = require "lemu.cmdline"
require "lemu.capture"   -- vlan:capture, vlan:tap
require "lemu.impair"    -- vlan:impair
require "lemu.switch"    -- vlan:access, trunk, fdb, flush, switch_info

local M = {}

local valid_opts = { mac = true, name = true, queue = true }

function M.install(lemu)
  local reg = debug.getregistry()
  local vlanmt, mt = reg["lemu.vlan"], reg["lemu.endpoint"]
  local states = setmetatable({}, { __mode = "k" })   -- endpoint handle -> { items, waiters }

  -- ep.mac and ep.name read as fields; everything else is a method.
  local getmac, getname = mt.mac, mt.name
  mt.mac, mt.name = nil, nil
  mt.__index = function(ep, k)
    if k == "mac" then return getmac(ep) end
    if k == "name" then return getname(ep) end
    return mt[k]
  end

  function vlanmt.endpoint(vlan, opts)
    opts = opts or {}
    if type(opts) ~= "table" then error("vlan:endpoint: expected a table of options", 2) end
    local bad = cmdline.unknown_key(opts, valid_opts)
    if bad ~= nil then
      error(("vlan:endpoint: unknown option '%s' (valid: mac, name, queue)"):format(tostring(bad)), 2)
    end
    local st = { items = {}, waiters = {} }
    local ep
    local ok, err = pcall(function()
      ep = cep.new(vlan, opts, function(frame)
        if st.handler and st.handler(frame) then
          ep:_taken(1)
          return
        end
        for i, w in ipairs(st.waiters) do
          if not w.match or w.match(frame) then
            table.remove(st.waiters, i)
            ep:_taken(1)
            w.wake(frame)
            return
          end
        end
        st.items[#st.items + 1] = frame
      end)
    end)
    if not ok then error(tostring(err):gsub("^[^:]*:%d+: ", ""), 2) end
    states[ep] = st
    return ep
  end

  local function state(ep, what)
    if ep:closed() then error(("attempt to use a closed endpoint (%s)"):format(what), 3) end
    return states[ep]
  end

  -- ep:recv{timeout=ms, match=function(frame) -> bool}: the oldest queued frame that matches, or the
  -- next one to arrive; raises "timed out after N ms waiting for a frame on <name>".
  function mt.recv(ep, opts)
    if type(opts) == "number" then opts = { timeout = opts } end
    opts = opts or {}
    local st = state(ep, "recv")
    local match = opts.match
    if match ~= nil and type(match) ~= "function" then
      error("ep:recv: match must be a function(frame) returning true for the frame wanted", 2)
    end
    for i, f in ipairs(st.items) do
      if not match or match(f) then
        table.remove(st.items, i)
        ep:_taken(1)
        return f
      end
    end
    local what = opts.what or ("a frame on " .. ep.name .. (match and " (matching)" or ""))
    local ok, f = pcall(lemu.wait, what, opts, function(wake)
      local w = { match = match, wake = wake }
      table.insert(st.waiters, w)
      return function()
        for i, x in ipairs(st.waiters) do if x == w then table.remove(st.waiters, i) break end end
      end
    end)
    if not ok then error(type(f) == "string" and f:gsub("^[^:]*:%d+: ", "") or f, 2) end
    if f == nil then error(("endpoint %s was closed while waiting for %s"):format(st.name, what), 2) end
    return f
  end

  -- ep:_set_handler(fn): fn(frame) sees each frame first and returns true if it consumed it (the
  -- host helpers use this to answer ARP and run TCP without a task).
  function mt._set_handler(ep, fn) state(ep, "set_handler").handler = fn end

  -- ep:host{ip=, mask=, gw=, dns=}: an IPv4 host on this endpoint (lemu.host).
  function mt.host(ep, opts)
    state(ep, "host")
    return require("lemu.host").new(lemu, ep, opts)
  end

  -- ep:pending(): how many frames wait to be taken. ep:flush(): discards them.
  function mt.pending(ep) return #state(ep, "pending").items end
  function mt.flush(ep)
    local st = state(ep, "flush")
    local n = #st.items
    st.items = {}
    ep:_taken(n)
    return n
  end

  -- ep:capture{file=, snaplen=} and ep:tap(fn): the VLAN's capture and tap on this endpoint's port.
  function mt.capture(ep, opts)
    local o = { port = ep }
    for k, v in pairs(opts or {}) do o[k] = v end
    local v = ep:vlan() or error("ep:capture: the endpoint is not on a VLAN", 2)
    return v:capture(o)
  end
  function mt.tap(ep, fn)
    local v = ep:vlan() or error("ep:tap: the endpoint is not on a VLAN", 2)
    return v:tap(fn, { port = ep })
  end
  -- ep:impair(spec): the VLAN's impairments on this endpoint's port (nil removes them).
  function mt.impair(ep, spec)
    local v = ep:vlan() or error("ep:impair: the endpoint is not on a VLAN", 2)
    return v:impair(ep, spec)
  end

  -- vlan:info(): { name=, frames=, ports = {port info...}, switch = {counters, ports, fdb} for a
  -- switch }; tostring() gives a QEMU-like listing.
  local infomt = { __tostring = function(t)
    local sw = t.switch
    local lines = { ("vlan %s%s: %d frames forwarded"):format(t.name, sw and " (switch)" or "", t.frames) }
    for _, p in ipairs(t.ports) do
      local mode = ""
      local m = sw and sw.ports[p.name]
      if m then
        mode = m.mode == "access" and (" access %d"):format(m.vid)
          or (" trunk %s%s"):format(table.concat(m.vids, ","), m.native and (" native " .. m.native) or "")
      end
      lines[#lines + 1] = ("  %s (%s)%s%s rx %d frames %d bytes %d drops, tx %d frames %d bytes %d drops%s"):format(
        p.name, p.kind, mode, p.link and "" or " link down", p.rx.frames, p.rx.bytes, p.rx.drops,
        p.tx.frames, p.tx.bytes, p.tx.drops, p.queued > 0 and (", %d queued"):format(p.queued) or "")
    end
    if sw then
      lines[#lines + 1] = ("  %d forwarded, %d flooded, %d filtered; %d addresses (ageing %g s):"):format(
        sw.forwarded, sw.flooded, sw.filtered, sw.entries, sw.ageing)
      for _, e in ipairs(sw.fdb) do
        lines[#lines + 1] = ("    %s vid %d on %s, %.1f s ago"):format(e.mac, e.vid, e.port, e.age)
      end
    end
    return table.concat(lines, "\n")
  end }
  function vlanmt.info(v)
    local sw = v:switch_info()
    if sw then
      sw.fdb = v:fdb()
      table.sort(sw.fdb, function(a, b) return a.port < b.port or (a.port == b.port and a.mac < b.mac) end)
    end
    return setmetatable({ name = v:name(), frames = v:frames(), ports = v:ports(), switch = sw }, infomt)
  end

  local cclose = mt.close
  function mt.close(ep)
    local st = states[ep]
    if st and not ep:closed() then
      st.name = ep.name
      local ws = st.waiters
      st.waiters, st.items = {}, {}
      cclose(ep)
      for _, w in ipairs(ws) do w.wake(nil) end
      return
    end
    cclose(ep)
  end
end

return M
