-- The default guest's other virtio devices: a virtio-blk disk on a raw image (read, written back,
-- read-only), virtio-rng as the kernel's entropy source, and the legacy (version 1) virtio-mmio
-- layout, from Lua and from QEMU's command line.
local lemu = require "lemu"
local H = require "helper"

local G = require "guest"
local run = G.run
local IMAGE, INITRD = G.IMAGE, G.INITRD

-- A raw image of `sectors` 512-byte sectors whose first sector starts with `head`.
local function image(dir, head, sectors)
  local path = dir .. "/disk.img"
  H.write(path, head .. string.rep("\0", sectors * 512 - #head))
  return path
end

-- Bit n of the feature string Linux shows in sysfs (one character per bit, bit 0 first).
local function feature_bit(features, n) return features:match("[01]+"):sub(n + 1, n + 1) end

describe("the default guest's virtio devices", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function()
    lemu.closeall()
    H.sh("rm -rf " .. H.quote(dir))
  end)
  if not G.available() then
    it("needs the guest images", function() pending("guest/images is not in this tree") end)
    return
  end

  it("a virtio-blk disk reads the image, and what the guest writes lands in the file", function()
    local path = image(dir, "lemu-disk-sector0", 2048)
    lemu.run(function()
      local m = G.boot{ plug = function(mm) mm:disk{ file = path } end }
      assert.equal("2048", run(m, "cat /sys/block/vda/size"):match("%d+"))
      assert.matches("lemu%-disk%-sector0", run(m, "head -c 17 /dev/vda"))
      run(m, "echo written-by-the-guest | dd of=/dev/vda bs=512 seek=7 conv=sync; sync")
      m.console:send("poweroff -f\n")
      assert.equal(0, m:wait_exit { timeout = 20000 })
    end)
    assert.equal("written-by-the-guest\n", H.read(path):sub(7 * 512 + 1, 7 * 512 + 21))
  end)

  it("a read-only disk is read-only to the guest and the file is untouched", function()
    local path = image(dir, "keep-me", 64)
    local before = H.read(path)
    lemu.run(function()
      local m = G.boot{ plug = function(mm) mm:disk{ file = path, readonly = true } end }
      assert.equal("1", run(m, "cat /sys/block/vda/ro"):match("%d"))
      local out = run(m, "echo x | dd of=/dev/vda conv=sync 2>&1; echo dd=$?")
      assert.not_matches("dd=0", out)
    end)
    assert.equal(before, H.read(path))
  end)

  it("refuses a disk image that does not exist, naming it", function()
    lemu.run(function()
      local m = lemu.machine{ ram = "64M", kernel = IMAGE, start = false }
      local ok, err = pcall(m.disk, m, { file = dir .. "/nope.img" })
      assert.is_false(ok)
      assert.matches("nope%.img", err)
    end)
  end)

  it("virtio-rng becomes the kernel's hardware RNG and gives it bytes", function()
    lemu.run(function()
      local m = G.boot{ plug = function(mm) mm:rng() end }
      assert.matches("virtio_rng", run(m, "cat /sys/class/misc/hw_random/rng_current"))
      local a = run(m, "head -c 16 /dev/hwrng | od -An -tx1"):gsub("%s", "")
      local b = run(m, "head -c 16 /dev/hwrng | od -An -tx1"):gsub("%s", "")
      assert.equal(32, #a, a)
      assert.are_not.equal(a, b)
    end)
  end)

  it("legacy virtio-mmio (version 1) devices work without VIRTIO_F_VERSION_1", function()
    lemu.run(function()
      local v = lemu.vlan("legacynet")
      v:user{}
      local m = G.boot{ plug = function(mm) mm:nic{ vlan = v, legacy = true } end }
      assert.equal("0", feature_bit(run(m, "cat /sys/bus/virtio/devices/virtio0/features"), 32))
      assert.matches("lease of 10%.0%.2%.15 obtained", run(m, "udhcpc -i eth0 -q -n -t 5 -T 1", 30000))
    end)
    lemu.run(function()
      local m = G.boot{ plug = function(mm) mm:nic{ vlan = lemu.vlan("modernnet") } end }
      assert.equal("1", feature_bit(run(m, "cat /sys/bus/virtio/devices/virtio0/features"), 32))
    end)
  end)

  it("-drive, -device virtio-rng-device and -global virtio-mmio.force-legacy=on on the command line", function()
    local path = image(dir, "from-the-command-line", 128)
    local args = { "-M", "virt", "-m", "256M", "-kernel", IMAGE, "-initrd", INITRD, "-append", "console=ttyS0",
                   "-global", "virtio-mmio.force-legacy=on", "-drive", "file=" .. path .. ",if=none,id=d0",
                   "-device", "virtio-blk-device,drive=d0", "-device", "virtio-rng-device" }
    local q = {}
    for _, a in ipairs(args) do q[#q + 1] = H.quote(a) end
    local out, status = H.sh("(sleep 4; echo 'head -c 21 /dev/vda; echo; cat /sys/class/misc/hw_random/rng_current; "
      .. "cat /sys/bus/virtio/devices/virtio0/features; poweroff -f') | " .. H.lemu_env .. H.lemu_bin .. " "
      .. table.concat(q, " "))
    assert.equal(0, status, out)
    assert.matches("from%-the%-command%-line", out)
    assert.matches("virtio_rng", out)
    local features = out:match("\n([01][01][01][01][01][01]+)%s")
    assert.equal("0", feature_bit(features, 32))

    out, status = H.lemu({ "-global", "virtio-mmio.force-legacy=maybe", "-kernel", IMAGE })
    assert.equal(1, status)
    assert.matches("force%-legacy=maybe: expected on or off", out)
    out, status = H.lemu({ "-drive", "file=" .. path .. ",format=qcow2", "-kernel", IMAGE })
    assert.equal(1, status)
    assert.matches("format=qcow2: lemu reads raw images only", out)
  end)
end)
