-- make deps (scripts/deps.sh) as a user with neither root nor sudo: it names the missing packages,
-- says how to proceed and fails. Run as nobody through runuser (pending unless this is root with
-- runuser and no sudo on PATH for nobody). Also: builds run in parallel by default.
local H = require "helper"

describe("make deps", function()
  it("without root or sudo names the packages and says how to proceed", function()
    if H.sh("id -u"):match("%d+") ~= "0" or not H.have("runuser") then
      pending("needs root and runuser to try it as nobody") return
    end
    if select(2, H.sh("runuser -u nobody -- sh -c 'command -v sudo'")) == 0 then
      pending("sudo is installed: nobody would be asked for a password") return
    end
    local out, status = H.sh("cd scripts/.. && LEMU_DEPS_EXTRA=lemu-no-such-package runuser -u nobody -- sh scripts/deps.sh")
    assert.equal(1, status, out)
    assert.matches("deps: these Debian 12 packages are missing: lemu-no-such-package", out, 1, true)
    assert.matches("is not root and has no sudo", out, 1, true)
    assert.matches("run 'make deps' as root", out, 1, true)
    assert.matches("apt-get install --no-install-recommends lemu-no-such-package", out, 1, true)
  end)

  it("is quiet when everything is installed, and builds default to one job per core", function()
    local out, status = H.sh("sh scripts/deps.sh")
    assert.equal(0, status, out)
    assert.equal("", out)
    out = H.sh("make -pn -f Makefile deps 2>/dev/null | grep '^MAKEFLAGS'")
    assert.matches("%-j%d+", out)
  end)
end)
