-- workers: machines on worker threads (docs/time.md, "Workers") — on the real clock when asked
-- for, on the virtual clock by default; the count is a setting, never a result.
local H = require "helper"
local G = require "guest"

describe("worker threads", function()
  it("are one per host processor on the virtual clock unless set, and a setting of their own", function()
    local out, status = H.lemu({ "-e", [[
      lemu.clock{ mode = "virtual", shift = 0 }
      print("default", lemu.clock().workers)
      lemu.clock{ workers = 3 }
      print("set", lemu.clock().workers)
    ]] })
    assert.equal(0, status, out)
    local nproc = H.sh("nproc"):gsub("%s+", "")
    assert.matches("default\t" .. nproc .. "\n", out, 1, true)
    assert.matches("set\t3\n", out, 1, true)
  end)

  if not G.available() then
    it("needs the guest images", function() pending("guest/images is not in this tree") end)
    return
  end

  it("run two guests' slices in parallel on the real clock: both lease and ping each other", function()
    local out, status = H.lemu({ "-workers", "2", "-e", [[
      local lan = lemu.vlan("lan")
      lan:user{ restrict = true }
      local ms = {}
      for i = 1, 2 do
        ms[i] = lemu.machine{ name = "g" .. i, ram = "128M", kernel = "guest/images/Image.gz",
                              initrd = "guest/images/initramfs.cpio.gz", append = "console=ttyS0", start = false }
        ms[i]:nic{ vlan = lan, mac = ("52:54:00:12:36:%02x"):format(i) }
        ms[i]:start()
      end
      for _, m in ipairs(ms) do
        m.console:expect("# ", { timeout = 60000 })
        local o, st = m.console:run("udhcpc -i eth0 -q -n -t 5 -T 1", { timeout = 30000 })
        assert(st == 0, o)
        print(m.name, o:match("lease of (%S+)"))
      end
      local o, st = ms[1].console:run("ping -c 3 10.0.2.16", { timeout = 30000 })
      print("ping", st, o:match("(%d+) packets received"))
      print("workers", lemu.clock().workers)
      lemu.closeall()
    ]] })
    assert.equal(0, status, out)
    assert.matches("g1\t10.0.2.15", out, 1, true)
    assert.matches("g2\t10.0.2.16", out, 1, true)
    assert.matches("ping\t0\t3", out, 1, true)
    assert.matches("workers\t2", out, 1, true)
  end)
end)
