-- The lab as a picture and the lab helpers: lemu.topology() as a table, DOT, text and a file drawn
-- by Graphviz; lemu --topology; lemu.vlans() and lemu.machines(); lemu.ping_all between guests.
local lemu = require "lemu"
local H = require "helper"
local G = require "guest"

-- A lab of machines that are built but not started, on a switch and a hub.
local function build()
  local sw = lemu.vlan("topo-office", { switch = true })
  local u = sw:user { hostfwd = "tcp:127.0.0.1:0-:80" }
  sw:access("user", 10)
  local web = lemu.machine { name = "topo-web", kernel = G.IMAGE, start = false }
  local n = web:nic { vlan = sw, model = "virtio-net-pci", mac = "52:54:00:00:77:01" }
  sw:access(n, 10)
  n:impair { delay = 5 }
  local hub = lemu.vlan "topo-lab"
  web:nic { vlan = hub, mac = "52:54:00:00:77:02" }
  local probe = hub:endpoint { name = "topo-probe" }
  return sw, hub, web, u, probe
end

describe("the lab's topology", function()
  after_each(function() lemu.closeall() end)

  it("lists machines, NICs, VLANs, switch modes, backends and forwards", function()
    if not G.available() then return pending("guest/images is not in this tree") end
    local sw, hub, web = build()
    local g = lemu.topology()
    assert.equal(1, #g.machines)
    assert.equal("topo-web", g.machines[1].name)
    local nics = g.machines[1].nics
    assert.same({ name = "topo-web.eth0", model = "virtio-net-pci", mac = "52:54:00:00:77:01", link = true,
                  vlan = "topo-office" }, nics[1])
    assert.equal("topo-lab", nics[2].vlan)
    local vlans = {}
    for _, v in ipairs(g.vlans) do vlans[v.name] = v end
    assert.is_true(vlans["topo-office"].switch)
    assert.is_false(vlans["topo-lab"].switch)
    local modes = {}
    for _, p in ipairs(vlans["topo-office"].ports) do modes[p.name] = p.mode end
    assert.same({ user = "access 10", ["topo-web.eth0"] = "access 10" }, modes)
    assert.equal(1, #g.forwards)
    assert.matches("^hostfwd tcp:127%.0%.0%.1:0%-:80", g.forwards[1].rule)
    local text = lemu.topology { format = "text" }
    assert.equal(text, tostring(g))
    assert.matches("machine topo%-web: topo%-web%.eth0%(virtio%-net%-pci%)%->topo%-office", text)
    assert.matches("switch topo%-office: user%[access 10%], topo%-web%.eth0%[access 10%]", text)
    assert.matches("vlan topo%-lab: topo%-web%.eth1, topo%-probe", text)
    local dot = lemu.topology { format = "dot" }
    assert.matches('^graph lemu {', dot)
    assert.matches('"m:topo%-web" %-%- "v:topo%-office" %[label="eth0 virtio%-net%-pci\\n52:54:00:00:77:01\\naccess 10, impaired"%]', dot)
    assert.matches('"v:topo%-office" %[shape=box3d', dot)
    assert.matches('label="topo%-probe"', dot)
    -- what the helpers list
    local names = {}
    for _, v in ipairs(lemu.vlans()) do names[#names + 1] = v:name() end
    assert.same({ "topo-lab", "topo-office" }, names)
    assert.equal(web, lemu.machines()[1])
    web:close()
    assert.equal(0, #lemu.machines())
    sw:close()
    hub:close()
    assert.equal(0, #lemu.vlans())
  end)

  it("is drawn into a file by Graphviz, and refuses what it cannot draw", function()
    if not G.available() then return pending("guest/images is not in this tree") end
    if not H.have("dot") then return pending("graphviz is not installed (make deps installs it)") end
    build()
    local d = H.tmpdir()
    lemu.topology { file = d .. "/lab.svg" }
    local svg = H.read(d .. "/lab.svg")
    assert.matches("<svg", svg)
    assert.matches(">topo&#45;web</text>", svg)         -- Graphviz escapes the dash
    assert.matches(">switch topo&#45;office</text>", svg)
    lemu.topology { file = d .. "/lab.dot" }
    assert.equal(lemu.topology { format = "dot" }, H.read(d .. "/lab.dot"))
    local ok, err = pcall(lemu.topology, { file = d .. "/lab.bmp" })
    assert.is_false(ok)
    assert.matches("ends in %.svg, %.png, %.pdf or %.dot", err)
    ok, err = pcall(lemu.topology, { format = "yaml" })
    assert.is_false(ok)
    assert.matches("format=yaml", err)
    -- lemu --topology FILE draws what a script built once it has run
    H.write(d .. "/s.lua", 'local v = lemu.vlan("cli-lan", {switch = true}); v:endpoint{name = "cli-ep"}')
    local out, st = H.lemu { "--topology", d .. "/cli.svg", d .. "/s.lua" }
    assert.equal(0, st, out)
    assert.matches("cli&#45;ep", H.read(d .. "/cli.svg") or "")
    out, st = H.lemu { "--topology" }
    assert.equal(1, st)
    assert.matches("'%-%-topology' needs an argument", out)
    H.sh("rm -rf " .. H.quote(d))
  end)

  it("ping_all checks every guest against every other", function()
    if not G.available() then return pending("guest/images is not in this tree") end
    lemu.run(function()
      local v = lemu.vlan "topo-ping"
      local a = G.boot { vlan = v, name = "pa", mac = "52:54:00:00:78:01" }
      local b = G.boot { vlan = v, name = "pb", mac = "52:54:00:00:78:02" }
      G.run(a, "ip link set eth0 up && ip addr add 192.168.95.1/24 dev eth0")
      G.run(b, "ip link set eth0 up && ip addr add 192.168.95.2/24 dev eth0")
      local ok, failed = lemu.ping_all { { a, "192.168.95.1" }, { b, "192.168.95.2" } }
      assert.is_true(ok, table.concat(failed or {}, ", "))
      -- an address nobody has fails, naming the pair
      ok, failed = lemu.ping_all({ { a, "192.168.95.1" }, { b, "192.168.95.9" } }, { timeout = 1000 })
      assert.is_false(ok)
      assert.same({ "pa -> pb" }, failed)
    end)
  end)
end)
