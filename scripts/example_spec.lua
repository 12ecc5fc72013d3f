-- example_spec.lua: a scenario spec of your own lab, as `lemu test scripts` (or `lemu test DIR`
-- for a folder of them) runs it; `lemu test scripts -o junit > report.xml` writes a JUnit report
-- for CI. Copy it beside your lab and change the lab. This one needs no guest: a scripted endpoint
-- takes a DHCP lease from user-net and pings its gateway, through a link with a 20 ms delay.
local lemu = require "lemu"

describe("my lab", function()
  after_each(function() lemu.closeall() end)

  it("gives a host on the LAN a lease and a route to the gateway", function()
    lemu.run(function()
      local lan = lemu.vlan "lan"
      lan:user { dns_hosts = {} }               -- DNS answered inside lemu: nothing leaves the host
      local ep = lan:endpoint { name = "probe" }
      ep:impair { delay = 20 }
      local h = ep:host {}
      local lease = h:dhcp { timeout = 5000 }
      assert.equal("10.0.2.15", lease.address)
      local rtt = h:ping("10.0.2.2", { timeout = 2000 })
      assert.is_true(rtt >= 20, "the round trip took " .. rtt .. " ms")
    end)
  end)
end)
