-- lemu test: a user's scenario specs run by the host program with busted, their own helpers on
-- the path, the exit status of the run, and a JUnit report for CI; the example in scripts/ passes.
local H = require "helper"

describe("lemu test", function()
  it("runs a folder of a user's specs, fails with a failing one, and writes JUnit XML", function()
    local out, st = H.lemu { "test", "spec/fixtures/userlab", "--pattern=_check" }
    assert.equal(1, st, out)
    assert.matches("1 success / 1 failure", out)
    assert.matches("fails when the lab is wrong", out)
    out, st = H.lemu { "test", "spec/fixtures/userlab", "--pattern=_check", "-o", "junit" }
    assert.equal(1, st, out)
    local suites = out:match("<testsuites [^>]*>")          -- attributes come in any order
    assert.is_not_nil(suites, out)
    assert.matches("tests='2'", suites)
    assert.matches("failures='1'", suites)
    assert.matches("name='a user&apos;s lab delivers a frame between two endpoints'", out)
    out, st = H.lemu { "test", "spec/fixtures/userlab", "--pattern=_check", "--filter=delivers", "-o", "TAP" }
    assert.equal(0, st, out)
    assert.matches("ok 1 %- a user's lab delivers a frame", out)
  end)

  it("passes the example spec in scripts/, and says what is missing", function()
    local out, st = H.lemu { "test", "scripts" }
    assert.equal(0, st, out)
    assert.matches("1 success / 0 failures", out)
    out, st = H.lemu { "test", "no/such/dir" }
    assert.equal(1, st)
    assert.matches("lemu test: no/such/dir: no such directory or spec file", out)
  end)
end)
