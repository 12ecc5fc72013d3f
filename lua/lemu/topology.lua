-- lemu.topology: the lab as a graph — machines and their NICs, VLANs (hubs or switches), the
-- backends and endpoints on them, user-net's forwards — as a table, Graphviz DOT, an SVG or PNG
-- rendered by Graphviz's dot, or one line per machine and VLAN (what the table prints as, so
-- `lemu.topology()` at the REPL lists the lab). Also lemu.vlans(),
-- lemu.machines() and lemu.ping_all(), the listings and the check a lab script wants.
local M = {}

local function sorted(t, key)
  table.sort(t, function(a, b) return a[key] < b[key] end)
  return t
end

function M.install(lemu)
  local net = require "lemu.net"

  -- lemu.vlans(): the open VLANs, by name.
  function lemu.vlans()
    local t = net.vlans()
    table.sort(t, function(a, b) return a:name() < b:name() end)
    return t
  end

  -- lemu.machines(): the machines not closed, in the order they were made.
  function lemu.machines()
    local t = {}
    for m, n in pairs(lemu._machines or {}) do
      if pcall(m.h.state, m.h) then t[#t + 1] = { m = m, n = n } end
    end
    table.sort(t, function(a, b) return a.n < b.n end)
    for i, x in ipairs(t) do t[i] = x.m end
    return t
  end

  -- The graph: { machines = {{name=, nics = {{name=, model=, mac=, link=, vlan=}}}},
  --   vlans = {{name=, switch=bool, ports = {{name=, kind=, mode=}}}},
  --   forwards = {{vlan=, port=, rule=}} }
  local function graph()
    local g = { machines = {}, vlans = {}, forwards = {} }
    local nic_ports = {}
    for _, m in ipairs(lemu.machines()) do
      local mt = { name = m.name, nics = {} }
      for _, d in ipairs(m.devices or {}) do
        if d.kind == "nic" then
          local ok, info = pcall(d.info, d)
          if ok then
            mt.nics[#mt.nics + 1] = { name = d.name, model = d.model, mac = d.mac, link = info.link,
                                      vlan = info.port and info.port.vlan }
            nic_ports[d.name] = true
          end
        end
      end
      g.machines[#g.machines + 1] = mt
    end
    for _, v in ipairs(lemu.vlans()) do
      local sw = v:switch_info()
      local vt = { name = v:name(), switch = sw ~= nil, ports = {} }
      for _, p in ipairs(v:ports()) do
        local mode
        local pm = sw and sw.ports[p.name]
        if pm then
          mode = pm.mode == "access" and ("access " .. pm.vid)
            or ("trunk " .. table.concat(pm.vids, ",") .. (pm.native and (" native " .. pm.native) or ""))
        end
        vt.ports[#vt.ports + 1] = { name = p.name, kind = p.kind, mode = mode, nic = nic_ports[p.name] or nil,
                                    impaired = p.impair ~= nil }
      end
      g.vlans[#g.vlans + 1] = vt
    end
    for u, v in pairs(lemu._users or {}) do
      local ok, info = pcall(u.info, u)
      local okv, vname = pcall(v.name, v)
      if ok and okv then
        for _, f in ipairs(info.forwards) do
          g.forwards[#g.forwards + 1] = { vlan = vname, port = info.name, rule = f.kind .. " " .. f.rule }
        end
      end
    end
    sorted(g.forwards, "rule")
    return g
  end

  local function q(s)
    return '"' .. tostring(s):gsub('\\', '\\\\'):gsub('"', '\\"'):gsub("\n", "\\n") .. '"'
  end

  local function dot(g)
    local out = { "graph lemu {", '  graph [rankdir=LR, fontname="Helvetica"];',
      '  node [fontname="Helvetica", fontsize=10]; edge [fontname="Helvetica", fontsize=9];' }
    local function add(s) out[#out + 1] = "  " .. s end
    for _, m in ipairs(g.machines) do
      add(("%s [shape=box, style=rounded, label=%s];"):format(q("m:" .. m.name), q(m.name)))
    end
    for _, v in ipairs(g.vlans) do
      add(("%s [shape=%s, label=%s];"):format(q("v:" .. v.name), v.switch and "box3d" or "ellipse",
        q((v.switch and "switch " or "vlan ") .. v.name)))
    end
    for _, m in ipairs(g.machines) do
      for _, n in ipairs(m.nics) do
        if n.vlan then
          local mode, impaired
          for _, v in ipairs(g.vlans) do
            if v.name == n.vlan then
              for _, p in ipairs(v.ports) do if p.name == n.name then mode, impaired = p.mode, p.impaired end end
            end
          end
          if impaired then mode = (mode and (mode .. ", ") or "") .. "impaired" end
          add(("%s -- %s [label=%s%s];"):format(q("m:" .. m.name), q("v:" .. n.vlan),
            q(n.name:gsub("^" .. m.name:gsub("%p", "%%%0") .. "%.", "") .. " " .. n.model .. "\n" .. (n.mac or "")
              .. (mode and ("\n" .. mode) or "")), n.link == false and ", style=dashed" or ""))
        end
      end
    end
    for _, v in ipairs(g.vlans) do
      for i, p in ipairs(v.ports) do
        if not p.nic then
          local id = q(("p:%s:%d"):format(v.name, i))
          local shape = p.kind == "endpoint" and "circle" or "hexagon"
          add(("%s [shape=%s, label=%s];"):format(id, shape, q(p.name)))
          add(("%s -- %s%s;"):format(id, q("v:" .. v.name), p.mode and (" [label=" .. q(p.mode) .. "]") or ""))
          for _, f in ipairs(g.forwards) do
            if f.vlan == v.name and f.port == p.name then
              local fid = q("f:" .. f.rule)
              add(("%s [shape=note, label=%s];"):format(fid, q(f.rule)))
              add(("%s -- %s [style=dotted];"):format(fid, id))
            end
          end
        end
      end
    end
    out[#out + 1] = "}"
    return table.concat(out, "\n") .. "\n"
  end

  local function text(g)
    local lines = {}
    for _, m in ipairs(g.machines) do
      local nics = {}
      for _, n in ipairs(m.nics) do
        nics[#nics + 1] = ("%s(%s)->%s"):format(n.name, n.model, n.vlan or "unplugged")
      end
      lines[#lines + 1] = ("machine %s: %s"):format(m.name, #nics > 0 and table.concat(nics, " ") or "no NICs")
    end
    for _, v in ipairs(g.vlans) do
      local ps = {}
      for _, p in ipairs(v.ports) do ps[#ps + 1] = p.name .. (p.mode and ("[" .. p.mode .. "]") or "") end
      lines[#lines + 1] = ("%s %s: %s"):format(v.switch and "switch" or "vlan", v.name,
        #ps > 0 and table.concat(ps, ", ") or "no ports")
    end
    for _, f in ipairs(g.forwards) do lines[#lines + 1] = ("forward on %s: %s"):format(f.port, f.rule) end
    return table.concat(lines, "\n")
  end

  -- lemu.topology{format="table"|"dot"|"text", file="lab.svg"|"lab.png"|"lab.dot"}: the graph;
  -- with file= also written there (.svg/.png rendered by Graphviz's dot). Returns the graph in
  -- the format asked for (a table by default).
  function lemu.topology(opts)
    opts = opts or {}
    local bad = require("lemu.cmdline").unknown_key(opts, { format = true, file = true })
    if bad ~= nil then
      error(("lemu.topology: unknown option '%s' (valid: format, file)"):format(tostring(bad)), 2)
    end
    local g = graph()
    local fmt = opts.format or "table"
    if fmt ~= "table" and fmt ~= "dot" and fmt ~= "text" then
      error(("lemu.topology: format=%s: table, dot or text"):format(tostring(fmt)), 2)
    end
    if opts.file then
      local ext = opts.file:match("%.(%w+)$")
      local d = dot(g)
      if ext == "dot" or ext == "gv" then
        local f, err = io.open(opts.file, "w")
        if not f then error("lemu.topology: " .. err, 2) end
        f:write(d)
        f:close()
      elseif ext == "svg" or ext == "png" or ext == "pdf" then
        if os.execute("command -v dot >/dev/null 2>&1") ~= true then
          error("lemu.topology: file=" .. opts.file .. ": Graphviz's dot is not installed (Debian: graphviz; make deps installs it)", 2)
        end
        local tmp = os.tmpname()
        local f = assert(io.open(tmp, "w"))
        f:write(d)
        f:close()
        local ok = os.execute(("env -u LD_PRELOAD dot -T%s -o '%s' '%s' 2>/dev/null"):format(ext,
          opts.file:gsub("'", "'\\''"), tmp))
        os.remove(tmp)
        if ok ~= true then error("lemu.topology: dot could not write " .. opts.file, 2) end
      else
        error(("lemu.topology: file=%s: the name ends in .svg, .png, .pdf or .dot"):format(opts.file), 2)
      end
    end
    if fmt == "dot" then return dot(g) end
    if fmt == "text" then return text(g) end
    return setmetatable(g, { __tostring = text })     -- at the REPL, lemu.topology() prints as text
  end

  -- lemu.ping_all(machines, {timeout=}): every machine pings every other one's address (machines
  -- is a list of {m, ip} pairs, or a table machine -> ip); returns true, or false and the pairs
  -- that failed, "a -> b". The guests need ping and a shell on their console (the default guest).
  function lemu.ping_all(list, opts)
    opts = opts or {}
    local pairs_ = {}
    if list[1] then
      for _, x in ipairs(list) do pairs_[#pairs_ + 1] = { m = x[1] or x.m, ip = x[2] or x.ip } end
    else
      for m, ip in pairs(list) do pairs_[#pairs_ + 1] = { m = m, ip = ip } end
      table.sort(pairs_, function(a, b) return a.m.name < b.m.name end)
    end
    local failed = {}
    for _, a in ipairs(pairs_) do
      for _, b in ipairs(pairs_) do
        if a ~= b then
          a.m.console:send(("ping -c 1 -W %d %s >/dev/null 2>&1; echo PING$((40+2)) $?\n"):format(
            math.max(1, (opts.timeout or 3000) // 1000), b.ip))
          local _, st = a.m.console:expect("PING42 (%d+)", { timeout = (opts.timeout or 3000) + 10000 })
          if st ~= "0" then failed[#failed + 1] = a.m.name .. " -> " .. b.m.name end
        end
      end
    end
    return #failed == 0, failed
  end
end

return M
