-- Names, paths and rules given to the Lua API go to C, where a string ends at its first NUL byte:
-- each call refuses one that holds a NUL, naming the option, instead of using the part before it.
local lemu = require "lemu"
local H = require "helper"

describe("a name, path or rule holding a NUL byte", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() lemu.closeall() H.sh("rm -rf " .. H.quote(dir)) end)

  local function refused(fn, pattern)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    assert.matches(pattern, tostring(err))
  end

  it("is refused as a capture file, and no file is made at the shorter name", function()
    refused(function() lemu.vlan "nul-cap":capture { file = dir .. "/x.pcap\0.txt" } end,
      "capture: file= '[^']*/x%.pcap%.%.%.': holds a NUL byte")
    assert.is_nil(H.read(dir .. "/x.pcap"))
  end)

  it("is refused as a VLAN name, a machine's kernel and a host forward rule", function()
    refused(function() lemu.vlan "nul-a\0b" end, "a VLAN name cannot hold a NUL byte")
    refused(function() lemu.machine { kernel = dir .. "/k\0.elf", start = false } end,
      "kernel '[^']*/k%.%.%.': holds a NUL byte")
    local u = lemu.vlan "nul-user":user {}
    refused(function() u:hostfwd_add("tcp::0-:22\0tcp::0-:23") end,
      "hostfwd rule 'tcp::0%-:22%.%.%.': holds a NUL byte")
    refused(function() u:hostfwd_remove("tcp::0-:22") end, "no such forward")   -- nothing was added
  end)

  it("is refused in an impairment, which would otherwise lose what follows the NUL", function()
    local ep = lemu.vlan "nul-imp":endpoint()
    refused(function() ep:impair("delay 50ms\0 loss 100%") end, "impair 'delay 50ms%.%.%.': holds a NUL byte")
    refused(function() ep:impair { netem = "loss 1%\0" } end, "impair: netem= 'loss 1%%%.%.%.'")
    refused(function() ep:impair { delay = "5ms\0" } end, "delay '5ms%.%.%.'")
  end)

  it("leaves VDE's mode= to octal permissions", function()
    refused(function() lemu.vlan "nul-vde":vde { url = dir .. "/sw", mode = "rw" } end,
      "vlan:vde: mode=rw: an octal permission")
    refused(function() lemu.vlan "nul-vde":vde { url = dir .. "/sw", mode = 4096 } end,
      "vlan:vde: mode=4096: a permission from 0 to 0777")
  end)
end)
