-- The source folders form a DAG (core < netstack < devices < board < lua): no file includes a
-- header from a higher layer. scripts/check-layers.sh decides; this runs it on the tree, and on a
-- small copy with one upward include to show that it catches one.
local H = require "helper"

describe("the layering of the C sources", function()
  it("has no include that goes upward", function()
    local out, status = H.sh("sh scripts/check-layers.sh")
    assert.equal(0, status, out)
    assert.matches("no upward includes", out)
  end)

  it("is checked: an upward include fails the check and is named", function()
    local dir = H.tmpdir()
    H.sh(("mkdir -p %s/core %s/devices %s/board"):format(dir, dir, dir))
    H.write(dir .. "/board/machine.h", "/* x */\n")
    H.write(dir .. "/devices/uart.h", "/* x */\n")
    H.write(dir .. "/devices/uart.c", '#include "uart.h"\n#include "machine.h"\n')
    H.write(dir .. "/core/bus.c", '#include "uart.h"\n')
    local out, status = H.sh("sh scripts/check-layers.sh " .. H.quote(dir))
    H.sh("rm -rf " .. H.quote(dir))
    assert.equal(1, status, out)
    assert.matches('devices/uart.c: includes "machine.h" %(board%) from a lower layer %(devices%)', out)
    assert.matches('core/bus.c: includes "uart.h" %(devices%) from a lower layer %(core%)', out)
  end)
end)
