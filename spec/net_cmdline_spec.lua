-- The shared QEMU option-string parser and the -net / -object dispatchers.
require "lemu"
local cmdline = require "lemu.cmdline"

describe("cmdline.parse_opts", function()
  it("splits key=value items, with the first bare word as the implied key", function()
    local o, all = cmdline.parse_opts("user,id=n0,net=10.0.3.0/24,hostfwd=tcp::2222-:22,hostfwd=udp::5353-:53", "type")
    assert.same({ type = "user", id = "n0", net = "10.0.3.0/24", hostfwd = "udp::5353-:53" }, o)
    assert.same({ "tcp::2222-:22", "udp::5353-:53" }, all.hostfwd)
  end)
  it("reads ,, as a literal comma and keeps = inside values", function()
    local o = cmdline.parse_opts("file=a,,b.pcap,guestfwd=tcp:10.0.2.100:80-cmd:nc x 80,k=a=b")
    assert.same({ file = "a,b.pcap", guestfwd = "tcp:10.0.2.100:80-cmd:nc x 80", k = "a=b" }, o)
  end)
  it("treats a later bare word as a flag set to on", function()
    assert.same({ kind = "dump", restrict = "on" }, (cmdline.parse_opts("dump,restrict", "kind")))
  end)
  it("names bad items", function()
    assert.same({ a = "1,", b = "2" }, (cmdline.parse_opts("a=1,,,b=2")))
    assert.has_error(function() cmdline.parse_opts("=x") end, "item '=x' has no name before '='")
    assert.has_error(function() cmdline.parse_opts(",a=1") end, "empty item in option string ',a=1'")
  end)
  it("check_keys lists the valid options", function()
    assert.has_error(function() cmdline.check_keys("-netdev user", { kind = "user", bogus = "1" }, { "id", "net" }) end,
      "-netdev user: unknown option 'bogus' (valid: id, net)")
  end)
  it("-net dispatches on its first word to net_kinds", function()
    local got
    cmdline.net_kinds.testkind = function(opts) got = opts end
    cmdline.options.net.apply("testkind,vlan=2", { started = {} })
    cmdline.net_kinds.testkind = nil
    assert.same({ kind = "testkind", vlan = "2" }, got)
  end)
end)

describe("-object filter-dump", function()
  local lemu = require "lemu"
  local P = require "lemu.packet"
  local H = require "helper"
  after_each(function() lemu.closeall() end)

  it("captures the netdev named, found after every option was applied", function()
    local dir = H.tmpdir()
    local file = dir .. "/fd.pcap"
    local ep
    cmdline.net_kinds.testnd = function(opts, _, state)   -- a stand-in backend registering a netdev
      local v = lemu.vlan("fd-lan")
      ep = v:endpoint { name = "nd-" .. opts.id }
      cmdline.netdevs(state)[opts.id] = { vlan = v, port = ep.name }
    end
    local state = cmdline.apply { { "object", "filter-dump,id=f0,netdev=n0,file=" .. file .. ",maxlen=50" },
                                  { "net", "testnd,id=n0" } }
    cmdline.net_kinds.testnd = nil
    local other = lemu.vlan("fd-lan"):endpoint()
    other:send(P.build { eth = { src = other.mac }, arp = { op = 1, sha = other.mac, spa = "1.1.1.1", tpa = "1.1.1.2" } })
    ep:send(P.build { eth = { src = ep.mac }, ipv4 = { src = "1.1.1.2", dst = "1.1.1.1" }, udp = { sport = 1, dport = 2 }, payload = ("p"):rep(100) })
    assert.equal(2, state.objects.f0:info().frames)
    state.objects.f0:close()
    local s = H.read(file)
    assert.equal(24 + 16 + 50 + 16 + 50, #s)   -- two records, each cut to maxlen=50
    H.sh("rm -rf " .. H.quote(dir))
  end)
end)
