-- The device model registry (board/mdevices.c) as users meet it: every way to plug a device reads
-- the one table, every constructor returns a handle that prints readably, NICs are named after
-- their machine in VLAN listings, and bad models or options are refused by name.
local lemu = require "lemu"
local H = require "helper"

local IMAGE = "guest/images/Image.gz"

describe("the device model registry", function()
  after_each(function() lemu.closeall() end)

  it("lists the same models for -device help, model=help and Lua", function()
    local out, status = H.lemu({ "-device", "help" })
    assert.equal(0, status, out)
    local models = require("lemu.cdevices").models()
    assert.is_true(#models >= 3)
    for _, md in ipairs(models) do assert.matches(md.name, out, 1, true) end
    assert.matches("virtio%-net%-device%s+virtio network card", out)
    assert.matches("virtio%-blk%-device%s+virtio disk", out)
    out, status = H.lemu({ "-nic", "user,model=help" })
    assert.equal(0, status, out)
    assert.matches("virtio%-net%-device %(aliases: virtio%-net, virtio%)", out)
    assert.not_matches("virtio%-rng", out)      -- only NIC models
  end)

  it("describes a model's options with -device MODEL,help", function()
    local out, status = H.lemu({ "-device", "virtio-net-device,help" })
    assert.equal(0, status, out)
    assert.matches("virtio%-net%-device options:", out)
    assert.matches("netdev=%s+ID of a %-netdev", out)
    assert.matches("mac=", out)
    out, status = H.lemu({ "-device", "virtio-blk-device,help" })
    assert.equal(0, status, out)
    assert.matches("drive=", out)
  end)

  it("refuses an unknown device or property, naming it and what exists", function()
    local out, status = H.lemu({ "-device", "pcnet,netdev=n0", "-kernel", IMAGE })
    assert.equal(1, status)
    assert.matches("unknown device 'pcnet' %(lemu has: virtio%-net%-device, virtio%-rng%-device, virtio%-blk%-device", out)
    out, status = H.lemu({ "-device", "virtio-rng-device,speed=9", "-kernel", IMAGE })
    assert.equal(1, status)
    assert.matches("speed", out)
  end)

  it("gives handles that print readably and NIC ports named after their machine", function()
    lemu.run(function()
      local v = lemu.vlan("reglan")
      local m = lemu.machine{ name = "web", ram = "64M", kernel = IMAGE, start = false }
      local nic = m:nic{ vlan = v, mac = "52:54:00:aa:bb:01" }
      local rng = m:rng()
      local nic2 = m:device{ model = "virtio-net", id = "uplink", vlan = v }
      assert.equal("web.eth0", nic.name)
      assert.equal("web.uplink", nic2.name)
      assert.matches("lemu device web%.eth0 %(virtio%-net%-device, 52:54:00:aa:bb:01%)", tostring(nic))
      assert.matches("web%.rng0: virtio%-rng%-device on virtio%-mmio slot %d", tostring(rng:info()))
      local info = nic:info()
      assert.equal("virtio-net-device", info.model)
      assert.equal("nic", info.kind)
      assert.is_true(info.link)
      assert.matches("web%.eth0: virtio%-net%-device on virtio%-mmio slot 7\n  52:54:00:aa:bb:01, vlan reglan, link up",
                     tostring(info))
      nic:link(false)
      assert.matches("link down", tostring(nic:info()))
      local vinfo = tostring(v:info())
      assert.matches("web%.eth0 %(virtio%-net%)", vinfo)
      assert.matches("web%.uplink %(virtio%-net%)", vinfo)
      local minfo = tostring(m:info())
      assert.matches("web: virt board, 1 hart", minfo)
      assert.matches("  web%.rng0: virtio%-rng%-device", minfo)
      local ok, err = pcall(m.device, m, { model = "virtio-net-device", speed = 10 })
      assert.is_false(ok)
      assert.matches("virtio%-net%-device: unknown option 'speed' %(valid: legacy, link, mac, name, vlan%)", err)
      ok, err = pcall(m.nic, m, { model = "virtio-blk-device" })
      assert.is_false(ok)
      assert.matches("'virtio%-blk%-device' is not a nic model", err)
    end)
  end)

  it("takes nics=, rng= and disks= in lemu.machine{}", function()
    lemu.run(function()
      local dir = H.tmpdir()
      H.sh("truncate -s 1M " .. dir .. "/d.img")
      local v = lemu.vlan("ctorlan")
      local m = lemu.machine{ name = "db", ram = "64M", kernel = IMAGE, start = false,
                              nics = { { vlan = v } }, rng = true, disks = { { file = dir .. "/d.img" } } }
      local kinds = {}
      for _, d in ipairs(m:info().devices) do kinds[#kinds + 1] = d.kind end
      assert.same({ "nic", "rng", "disk" }, kinds)
      assert.matches("db%.eth0", tostring(v:info()))
      H.sh("rm -rf " .. H.quote(dir))
    end)
  end)
end)
