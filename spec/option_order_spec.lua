-- With several unknown options, the error names the same one every run: the least, not the first
-- that Lua's table order meets (string hashing is seeded per process, so that order changes).
local lemu = require "lemu"
local H = require "helper"

-- Twelve unknown keys, inserted from u12 down, plus the given known ones: the error must name u01.
local function bad_opts(known)
  local t = {}
  for i = 12, 1, -1 do t[("u%02d"):format(i)] = i end
  for k, v in pairs(known or {}) do t[k] = v end
  return t
end

local function names_u01(what, f)
  local ok, err = pcall(f)
  assert.is_false(ok, what .. " accepted unknown options")
  assert.matches("unknown option 'u01'", tostring(err), 1, true)
end

describe("an unknown option in a Lua call", function()
  after_each(function() lemu.closeall() end)

  it("is the least of them, in every call that takes options", function()
    local v = lemu.vlan "order"
    local ep = v:endpoint()
    local sw = lemu.vlan("order-sw", { switch = true })
    local trunk = sw:endpoint()
    names_u01("lemu.vlan", function() lemu.vlan("order-2", bad_opts { switch = true }) end)
    names_u01("vlan:endpoint", function() v:endpoint(bad_opts()) end)
    names_u01("ep:host", function() ep:host(bad_opts { ip = "10.0.0.1/24" }) end)
    names_u01("vlan:user", function() v:user(bad_opts { restrict = true }) end)
    names_u01("vlan:socket", function() v:socket(bad_opts { listen = "127.0.0.1:0" }) end)
    names_u01("vlan:stream", function() v:stream(bad_opts()) end)
    names_u01("vlan:dgram", function() v:dgram(bad_opts()) end)
    names_u01("vlan:vxlan", function() v:vxlan(bad_opts()) end)
    names_u01("vlan:capture", function() v:capture(bad_opts { file = "/dev/null" }) end)
    names_u01("vlan:tap (a watch)", function() v:tap(function() end, bad_opts()) end)
    names_u01("vlan:vde", function() v:vde(bad_opts { url = "/nonexistent" }) end)
    names_u01("impair", function() ep:impair(bad_opts { delay = 1 }) end)
    names_u01("impair loss model", function() ep:impair { loss = bad_opts { p = 1 } } end)
    names_u01("trunk", function() sw:trunk(trunk, { 10 }, bad_opts()) end)
    names_u01("lemu.clock", function() lemu.clock(bad_opts { mode = "real" }) end)
    names_u01("lemu.topology", function() lemu.topology(bad_opts()) end)
    names_u01("lemu.machine", function() lemu.machine(bad_opts { start = false }) end)
  end)

  it("comes before a bad value, and two bad values are met in a fixed order", function()
    local ok, err = pcall(lemu.clock, { shift = 99, sleep = "yes", mode = "sometimes" })
    assert.is_false(ok)
    assert.matches("mode=sometimes", err, 1, true)
    ok, err = pcall(lemu.clock, bad_opts { shift = 99 })
    assert.is_false(ok)
    assert.matches("unknown option 'u01'", err, 1, true)
  end)

  it("names a string key before a key of another type", function()
    local t = bad_opts()
    t[1], t[true] = "x", "y"
    names_u01("vlan:endpoint", function() lemu.vlan "order-3":endpoint(t) end)
    local ok, err = pcall(lemu.vlan "order-4".endpoint, lemu.vlan "order-4", { [2] = 1, [1] = 1 })
    assert.is_false(ok)
    assert.matches("unknown option '1'", err, 1, true)
  end)
end)

describe("an unknown option on the command line", function()
  local keys = {}
  for i = 12, 1, -1 do keys[#keys + 1] = ("u%02d=1"):format(i) end
  local tail = "," .. table.concat(keys, ",")

  -- Each case in three processes, each with its own string hash seed.
  local function same_error(args, want)
    for _ = 1, 3 do
      local out, status = H.lemu(args)
      assert.is_not.equal(0, status)
      assert.matches(want, out, 1, true)
    end
  end

  it("is the least of them whatever the process's hash seed", function()
    same_error({ "-netdev", "user,id=n" .. tail, "-e", "" }, "-netdev user: unknown option 'u01'")
    same_error({ "-netdev", "socket,id=s,listen=127.0.0.1:0" .. tail, "-e", "" },
      "-netdev socket: unknown option 'u01'")
    same_error({ "-icount", "shift=1" .. tail, "-e", "" }, "unknown option 'u01'")
  end)

  it("-icount checks its values in the documented order", function()
    same_error({ "-icount", "quantum=0,sleep=maybe,shift=11", "-e", "" }, "shift=11: must be 0 to 10")
  end)

  it("dns_hosts names the least bad host", function()
    same_error({ "-netdev", "user,id=n,dns_hosts=h9=x;h8=x;h7=x;h6=x;h5=x;h4=x;h3=x;h2=x;h1=x", "-e", "" },
      "'x' for h1 is not an IP address")
  end)
end)
