-- lemu.hostnet: TAP and VDE backends (vlan:tap{}, vlan:vde{}, made by lemu.ctap / lemu.cvde) and
-- their command-line spellings: -netdev tap|vde,id=... and -net tap|vde[,vlan=N],...
local ctap = require "lemu.ctap"
require "lemu.cvde"
local cmdline = require "lemu.cmdline"
local sock = require "lemu.sock"

local M = {}

function M.install(lemu)
  local reg = debug.getregistry()
  local vlanmt = reg["lemu.vlan"]

  -- vlan:tap{...} opens a TAP device; vlan:tap(fn, opts) is the frame tap of lemu.capture.
  local frame_tap = vlanmt.tap
  function vlanmt.tap(vlan, a, ...)
    if type(a) == "function" then
      if not frame_tap then error("vlan:tap(fn): frame taps are not available", 2) end
      return frame_tap(vlan, a, ...)
    end
    return ctap.new(vlan, a)
  end

  local function script_opt(v)
    if v == nil or v == "no" or v == "" then return nil end
    return v
  end

  local function tap_opts(opts)
    if opts.fd or opts.fds then error("fd= is not supported (lemu opens /dev/net/tun itself)", 0) end
    if opts.br or opts.helper then error("br=/helper= (qemu-bridge-helper) are not supported; use script=", 0) end
    -- QEMU runs /etc/qemu-ifup by default; lemu runs a script only when asked for one.
    return { ifname = opts.ifname, script = script_opt(opts.script), downscript = script_opt(opts.downscript),
             vnet_hdr = cmdline.bool("vnet_hdr", opts.vnet_hdr) or nil }
  end

  local tap_keys = { "ifname", "script", "downscript", "vnet_hdr", "fd", "fds", "br", "helper", "sndbuf",
                     "vhost", "queues" }
  local function keys(extra)
    local t = { table.unpack(extra) }
    for _, k in ipairs(tap_keys) do t[#t + 1] = k end
    return t
  end

  local function apply(ctor, vlan, o, what)
    local ok, h = pcall(ctor, vlan, o)
    if not ok then error((tostring(h):gsub("^[^:]*:%d+: ", ""):gsub("^vlan:%a+: ", "")), 0) end
    return h
  end

  cmdline.netdev_kinds.tap = function(opts, _, state)
    cmdline.check_keys("-netdev tap", opts, keys { "type", "id" })
    local vlan = lemu.vlan(opts.id)
    local t = apply(vlanmt.tap, vlan, tap_opts(opts))
    sock.register_netdev(state, opts.id, vlan, t:info().name, t, opts.type or opts.kind)
    return t
  end

  cmdline.net_kinds.tap = function(opts, _, state)
    cmdline.check_keys("-net tap", opts, keys { "kind", "vlan", "id", "name" })
    local vlan = cmdline.vlan(opts.vlan or "0", true)
    local t = apply(vlanmt.tap, vlan, tap_opts(opts))
    sock.register_netdev(state, opts.id or opts.name, vlan, t:info().name, t, opts.type or opts.kind)
    return t
  end

  local function vde_opts(opts)
    return { url = opts.sock or "", port = tonumber(opts.port), group = opts.group, mode = opts.mode }
  end

  cmdline.netdev_kinds.vde = function(opts, _, state)
    cmdline.check_keys("-netdev vde", opts, { "type", "id", "sock", "port", "group", "mode" })
    local vlan = lemu.vlan(opts.id)
    local v = apply(vlanmt.vde, vlan, vde_opts(opts))
    sock.register_netdev(state, opts.id, vlan, v:info().name, v, opts.type or opts.kind)
    return v
  end

  cmdline.net_kinds.vde = function(opts, _, state)
    cmdline.check_keys("-net vde", opts, { "kind", "vlan", "id", "name", "sock", "port", "group", "mode" })
    local vlan = cmdline.vlan(opts.vlan or "0", true)
    local v = apply(vlanmt.vde, vlan, vde_opts(opts))
    sock.register_netdev(state, opts.id or opts.name, vlan, v:info().name, v, opts.type or opts.kind)
    return v
  end
end

return M
