-- Impaired links (netstack/impair.c) as scripts see them through endpoints: each impairment does
-- what it says within stated tolerances, seeded runs repeat, a long delay still carries a burst at
-- once, run-time changes leave frames in flight alone, and bad specs are refused by name.
local lemu = require "lemu"
local P = require "lemu.packet"
local H = require "helper"
local G = require "guest"

local function frame(src, seq, size)
  local payload = string.pack(">I4", seq)
  if size then payload = payload .. ("x"):rep(size - 42 - 4) end
  return P.build { eth = { src = src, dst = P.broadcast }, ipv4 = { src = "10.0.0.1", dst = "10.0.0.2" },
    udp = { sport = 1, dport = 2 }, payload = payload }
end
-- Ethernet, IPv4 and UDP headers take 42 bytes; the sequence number follows.
local function seq_of(f) return (string.unpack(">I4", f, 43)) end

-- Sends n frames from a to b (built before the clock starts) and collects what b gets until n
-- arrived, or nothing is in flight and nothing came for 50 ms, or wait ms passed: the sequence
-- numbers in arrival order, their arrival times, each frame's time from its send to its arrival,
-- the start time and each frame's send time.
local function blast(a, b, n, wait, size)
  local frames = {}
  for i = 1, n do frames[i] = frame(a.mac, i, size) end
  local got, at, lat, sent = {}, {}, {}, {}
  local t0 = lemu.now()
  b:_set_handler(function(f)
    local s, now = seq_of(f), lemu.now()
    got[#got + 1], at[#at + 1], lat[#lat + 1] = s, now - t0, now - (sent[s] or t0)
    return true
  end)
  for i = 1, n do sent[i] = lemu.now(); a:send(frames[i]) end
  local deadline, last = t0 + wait, #got
  local quiet = lemu.now()
  while lemu.now() < deadline do
    lemu.sleep(5)
    if #got ~= last then last, quiet = #got, lemu.now() end
    local im = a:info().impair
    local flying = (im and im.out and im.out.in_flight or 0) + (im and im["in"] and im["in"].in_flight or 0)
      + ((b:info().impair or {})["in"] or { in_flight = 0 }).in_flight
    if flying == 0 and lemu.now() - quiet > 50 then break end
  end
  b:_set_handler(nil)
  return got, at, lat, t0, sent
end

-- |k - n p| within z standard deviations of a binomial(n, p).
local function within_binomial(k, n, p, z)
  local mean, sd = n * p, math.sqrt(n * p * (1 - p))
  return math.abs(k - mean) <= z * sd, ("%d of %d, expected %.1f +- %.1f"):format(k, n, mean, z * sd)
end

describe("impaired links", function()
  after_each(function() lemu.closeall() end)

  it("delay frames by what they ask, both ways of a link adding up in the round trip", function()
    lemu.run(function()
      local v = lemu.vlan "imp-delay"
      local a, b = v:endpoint(), v:endpoint()
      a:impair { delay = 50 }
      b:impair { delay = 50 }
      local rtts = {}
      for i = 1, 5 do
        local t0 = lemu.now()
        a:send(frame(a.mac, i))
        local f = b:recv { timeout = 1000 }
        b:send(f)
        a:recv { timeout = 1000 }
        rtts[i] = lemu.now() - t0
      end
      table.sort(rtts)
      assert.is_true(rtts[1] >= 100, "a round trip took " .. rtts[1] .. " ms, less than 2 x 50")
      assert.is_true(rtts[3] < 140, "the median round trip took " .. rtts[3] .. " ms")
      local st = a:info().impair.out
      assert.equal(5, st.passed)
      assert.equal(5, st.delayed)
    end)
  end)

  it("hold a burst for the delay without spreading it: a 100 ms link carries it at once", function()
    lemu.run(function()
      local v = lemu.vlan "imp-burst"
      local a, b = v:endpoint(), v:endpoint { queue = 20000 }
      a:impair { delay = 100 }
      local got, _, lat = blast(a, b, 3000, 3000)
      assert.equal(3000, #got)
      for i = 1, #got do assert.equal(i, got[i]) end     -- in order
      table.sort(lat)
      assert.is_true(lat[1] >= 100, "a frame took " .. lat[1] .. " ms")
      assert.is_true(lat[#lat] < 140, "a frame took " .. lat[#lat] .. " ms: the burst was spread out")
    end)
  end)

  it("lose 1% and 10% of 10,000 frames within binomial bounds, the same frames for the same seed", function()
    lemu.run(function()
      for _, pct in ipairs { 1, 10 } do
        local runs = {}
        for r = 1, 2 do
          local v = lemu.vlan("imp-loss" .. pct .. r)
          local a, b = v:endpoint(), v:endpoint { queue = 20000 }
          a:impair { loss = pct, seed = 7 }
          local got = blast(a, b, 10000, 300)
          local ok, why = within_binomial(10000 - #got, 10000, pct / 100, 4.5)
          assert.is_true(ok, why)
          assert.equal(10000 - #got, a:info().impair.out.lost)
          runs[r] = table.concat(got, ",")
          v:close()
        end
        assert.equal(runs[1], runs[2])
        -- another seed drops other frames
        local v = lemu.vlan("imp-loss-other" .. pct)
        local a, b = v:endpoint(), v:endpoint { queue = 20000 }
        a:impair { loss = pct, seed = 8 }
        assert.not_equal(runs[1], table.concat(blast(a, b, 10000, 300), ","))
      end
    end)
  end)

  it("lose in bursts of the Gilbert-Elliott model's mean length", function()
    lemu.run(function()
      local v = lemu.vlan "imp-ge"
      local a, b = v:endpoint(), v:endpoint { queue = 40000 }
      -- into the bad state with 2% a frame, out with 25%: bursts of 1 / 0.25 = 4 frames on average
      a:impair { loss = { p = 2, r = 25, bad = 100, good = 0 } }
      local n = 30000
      local got = blast(a, b, n, 500)
      local seen = {}
      for _, s in ipairs(got) do seen[s] = true end
      local bursts, lost, run = 0, 0, 0
      for i = 1, n + 1 do
        if i <= n and not seen[i] then run = run + 1
        elseif run > 0 then bursts, lost, run = bursts + 1, lost + run, 0 end
      end
      local mean = lost / bursts
      assert.is_true(bursts > 100, bursts .. " bursts")
      assert.is_true(math.abs(mean - 4) < 0.6, "mean burst length " .. mean)
      -- stationary loss of the chain: p / (p + r) = 2 / 27
      assert.is_true(math.abs(lost / n - 2 / 27) < 0.02, "lost " .. lost)
    end)
  end)

  it("duplicate and corrupt the share of frames they are given, one bit per corrupted frame", function()
    lemu.run(function()
      local v = lemu.vlan "imp-dup"
      local a, b = v:endpoint(), v:endpoint { queue = 30000 }
      a:impair { duplicate = 10 }
      local got = blast(a, b, 10000, 300)
      local ok, why = within_binomial(#got - 10000, 10000, 0.10, 4.5)
      assert.is_true(ok, why)
      assert.equal(#got - 10000, a:info().impair.out.duplicated)

      local w = lemu.vlan "imp-corrupt"
      local c, d = w:endpoint(), w:endpoint { queue = 30000 }
      c:impair { corrupt = 10 }
      local sent = {}
      for i = 1, 2000 do sent[i] = frame(c.mac, i); c:send(sent[i]) end
      local flipped = 0
      for i = 1, 2000 do
        local f = d:recv { timeout = 500 }
        local bits = 0
        for k = 1, #f do
          local x = f:byte(k) ~ sent[i]:byte(k)
          while x ~= 0 do bits = bits + (x & 1); x = x >> 1 end
        end
        assert.is_true(bits <= 1, "frame " .. i .. " has " .. bits .. " bits flipped")
        flipped = flipped + bits
      end
      ok, why = within_binomial(flipped, 2000, 0.10, 4.5)
      assert.is_true(ok, why)
      assert.equal(flipped, c:info().impair.out.corrupted)
    end)
  end)

  it("reorder only when jitter or reorder asks, and keep frames in flight on their schedule when changed", function()
    lemu.run(function()
      local v = lemu.vlan "imp-order"
      local a, b = v:endpoint(), v:endpoint { queue = 20000 }
      a:impair { delay = 80 }
      local sent_at = lemu.now()
      for i = 1, 100 do a:send(frame(a.mac, i)) end
      a:impair { delay = 0 }                      -- the first 100 are in flight: they keep 80 ms
      local got, at, _, t0 = blast(a, b, 100, 400)  -- these would leave at once, but not before them
      assert.equal(200, #got)
      for i = 1, 200 do assert.equal(i <= 100 and i or i - 100, got[i]) end
      local first = t0 + at[1] - sent_at          -- a frame is never early
      assert.is_true(first >= 79.9, "the first frame came " .. first .. " ms after it was sent")

      -- reorder: a quarter of the frames skip the 20 ms delay and overtake the others
      local w = lemu.vlan "imp-reorder"
      local c, d = w:endpoint(), w:endpoint { queue = 20000 }
      c:impair { delay = 20, reorder = 25, seed = 3 }
      local out = {}
      for i = 1, 2000 do c:send(frame(c.mac, i)); if i % 100 == 0 then lemu.sleep(5) end end
      for i = 1, 2000 do out[i] = seq_of(d:recv { timeout = 1000 }) end
      local early = c:info().impair.out.reordered
      local ok, why = within_binomial(early, 2000, 0.25, 4.5)
      assert.is_true(ok, why)
      local inversions = 0
      for i = 2, #out do if out[i] < out[i - 1] then inversions = inversions + 1 end end
      assert.is_true(inversions > 0)

      -- jitter alone reorders too; with neither, a link keeps its order (above)
      local x = lemu.vlan "imp-jitter"
      local e, f = x:endpoint(), x:endpoint { queue = 20000 }
      e:impair { delay = 20, jitter = 10, distribution = "normal" }
      local js = blast(e, f, 500, 400)
      assert.equal(500, #js)
      inversions = 0
      for i = 2, #js do if js[i] < js[i - 1] then inversions = inversions + 1 end end
      assert.is_true(inversions > 0)
    end)
  end)

  it("limit the rate with a bounded queue, counting what overflows", function()
    lemu.run(function()
      local v = lemu.vlan "imp-rate"
      local a, b = v:endpoint(), v:endpoint { queue = 20000 }
      -- 1250-byte frames at 10 Mbit/s: one a millisecond
      a:impair { rate = "10mbit" }
      local got, at = blast(a, b, 200, 1500, 1250)
      assert.equal(200, #got)
      local span = at[#at] - at[1]      -- the first frame leaves after 1 ms, the last after 200
      assert.is_true(math.abs(span - 199) < 199 * 0.1, "200 frames took " .. span .. " ms")
      -- the queue holds 50 frames: of a burst of 200, 50 go through and 150 overflow
      local w = lemu.vlan "imp-limit"
      local c, d = w:endpoint(), w:endpoint { queue = 20000 }
      c:impair { rate = "10mbit", limit = 50 }
      local sent
      got, _, _, _, sent = blast(c, d, 200, 1000, 1250)
      -- while the burst is being sent the queue drains a frame a millisecond: on a loaded host
      -- (or under ASan) sending 200 frames takes several
      local sending = sent[200] - sent[1]
      local most = 50 + math.ceil(sending) + 1
      assert.is_true(#got >= 50 and #got <= most,
        ("%d frames went through; at most %d could (the burst took %.2f ms to send)"):format(#got, most, sending))
      assert.equal(200 - #got, c:info().impair.out.overflow)
    end)
  end)

  it("take tc netem's syntax, and refuse what is wrong by name", function()
    lemu.run(function()
      local v = lemu.vlan "imp-netem"
      local a, b = v:endpoint(), v:endpoint()
      v:impair(a, "delay 30ms 0ms loss 0% rate 100mbit")
      local t0 = lemu.now()
      a:send(frame(a.mac, 1))
      b:recv { timeout = 500 }
      assert.is_true(lemu.now() - t0 >= 30)
      a:impair { netem = "loss 100%" }
      for i = 1, 10 do a:send(frame(a.mac, i)) end
      assert.equal(10, a:info().impair.out.lost)
      a:impair(nil)
      assert.is_nil(a:info().impair)
      a:send(frame(a.mac, 1))
      assert.equal(1, seq_of(b:recv { timeout = 200 }))
      local function fails(spec, pattern)
        local ok, err = pcall(a.impair, a, spec)
        assert.is_false(ok)
        assert.matches(pattern, err)
      end
      fails("delay fast", "'delay fast': not a time")
      fails("loss 120%", "'loss 120%%': not a percentage")
      fails("rate 10mbits", "'rate 10mbits': not a rate")
      fails("shaper 1", "'shaper': unknown")
      fails("reorder 10%", "reorder needs a delay")
      -- found by fuzz_rules: "loss random" with nothing after it read past the words (a crash)
      fails("loss random", "'random' needs a percentage")
      fails("delay 10ms loss random", "'random' needs a percentage")
      fails("loss random gemodel", "'gemodel' needs P")
      a:impair("loss random 0%")
      fails({ delay = -5 }, "delay=%-5: milliseconds")
      fails({ lose = 5 }, "unknown option 'lose'")
      fails({ loss = { p = 1, q = 2 } }, "loss={...}: unknown option 'q'")
      fails({ limit = 10 }, "give rate= too")
      fails({ dir = "up" }, "dir=up: out")
      local ok, err = pcall(v.impair, v, "nosuch", { delay = 1 })
      assert.is_false(ok)
      assert.matches("no port 'nosuch' on VLAN imp%-netem", err)
    end)
  end)

  it("work on a backend's port the same way: a socket link that loses everything", function()
    lemu.run(function()
      local v1, v2 = lemu.vlan "imp-sock1", lemu.vlan "imp-sock2"
      local l = v1:socket { listen = "127.0.0.1:0" }
      local c = v2:socket { connect = l:local_addr() }
      c:wait { timeout = 5000 }
      l:wait { timeout = 5000 }
      local a, b = v1:endpoint(), v2:endpoint()
      c:impair { loss = 100 }                     -- what the connector hands its VLAN (its "out")
      a:send(frame(a.mac, 1))
      lemu.sleep(100)
      assert.equal(0, b:pending())
      local port
      for _, p in ipairs(v2:ports()) do if p.kind == "socket" then port = p end end
      assert.equal(1, port.impair.out.lost)
      c:impair(nil)
      a:send(frame(a.mac, 2))
      assert.equal(2, seq_of(b:recv { timeout = 2000 }))
      c:close()
      l:close()
    end)
  end)

  it("act on frames into the port's owner with dir=\"in\"", function()
    lemu.run(function()
      local v = lemu.vlan "imp-in"
      local a, b, c = v:endpoint(), v:endpoint(), v:endpoint()
      b:impair { dir = "in", loss = 100 }
      a:send(frame(a.mac, 1))
      assert.equal(1, seq_of(c:recv { timeout = 200 }))   -- c is not impaired
      assert.equal(0, b:pending())
      assert.equal(1, b:info().impair["in"].lost)
      assert.is_nil(b:info().impair.out)
    end)
  end)

  it("give the default guest a 2 x 50 ms round trip, exactly so on the virtual clock", function()
    if not G.available() then return pending("guest/images is not in this tree") end
    -- On the virtual clock the guest's own time and the links' delays are one clock, so the
    -- round trip the guest measures does not depend on how busy the host is.
    local out, status = H.lemu({ "-e", [[
      lemu.clock{ mode = "virtual", shift = 0, sleep = false, seed = 1 }
      local v = lemu.vlan "imp-guest"
      local u = v:user { restrict = true }
      local m = lemu.machine{ ram = "256M", kernel = "guest/images/Image.gz",
                              initrd = "guest/images/initramfs.cpio.gz", append = "console=ttyS0", start = false }
      local nic = m:nic{ vlan = v }
      m:start()
      m.console:expect("# ", { timeout = 60000 })
      local o, st = m.console:run("udhcpc -i eth0 -q -n -t 5 -T 1", { timeout = 30000 })
      assert(st == 0, o)
      o, st = m.console:run("ping -c 1 10.0.2.2", { timeout = 20000 })   -- ARP resolved before
      assert(st == 0, o)
      nic:impair { delay = 50 }                 -- what the guest sends
      u:impair { delay = 50 }                   -- what user-net sends back
      o, st = m.console:run("ping -c 5 -i 0.3 10.0.2.2", { timeout = 20000 })
      assert(st == 0, o)
      print("rtt", o:match("min/avg/max = ([%d.]+)/([%d.]+)/([%d.]+)"))
      lemu.closeall()
    ]] })
    assert.equal(0, status, out)
    local mn, avg, mx = out:match("rtt\t([%d.]+)\t([%d.]+)\t([%d.]+)")
    assert.truthy(mn, out)
    -- 100 ms of links, plus at most a quantum (100 us) each way and the guest's own work.
    for _, v in ipairs { mn, avg, mx } do
      assert.is_true(tonumber(v) >= 100 and tonumber(v) < 101, "round trip " .. v .. " ms")
    end
  end)

  it("give the default guest a 10 Mbit/s bottleneck it measures with TCP", function()
    if not G.available() then return pending("guest/images is not in this tree") end
    lemu.run(function()
      local v = lemu.vlan "imp-guest"
      v:user {}
      local m, nic = G.boot { vlan = v }
      local out, st = G.run(m, "udhcpc -i eth0 -t 5 -T 1", 30000)
      assert.equal(0, st, out)
      -- 10 Mbit/s into the guest: its wget of 4 MB takes about 3.4 s. The rate is that of the
      -- TCP segments crossing into the NIC (with their headers), from the first full-sized one to
      -- the last, so the guest's own start-up of wget (slower on a loaded host) does not count.
      local body = ("0123456789abcdef"):rep(4000000 // 16)
      local l = lemu.tcp_listen("127.0.0.1", 0, function(s)
        s:read_until("\r\n\r\n", { timeout = 10000 })
        s:write(("HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n"):format(#body) .. body)
        s:drain { timeout = 30000 }
        s:close()
      end)
      local port = select(2, l:address())
      nic:impair { dir = "in", rate = "10mbit" }
      local first, last, bytes = nil, nil, 0
      local tap = v:tap(function(f, dir)
        if dir ~= "rx" or #f < 1000 then return end
        local t = lemu.now()
        if not first then first = t else bytes = bytes + #f end
        last = t
      end, { port = nic.name })
      out, st = G.run(m, ("wget -q -O /tmp/x http://10.0.2.2:%d/x && wc -c < /tmp/x && rm /tmp/x"):format(port), 60000)
      tap:close()
      assert.equal(0, st, out)
      assert.equal(tostring(#body), out:match("%d+"))
      local mbit = bytes * 8 / ((last - first) / 1000) / 1e6
      local ist = nic:info().port.impair["in"]
      assert.is_true(math.abs(mbit - 10) <= 1, ("the NIC received %.2f Mbit/s (%d passed, %d overflowed, %d in flight)"):format(
        mbit, ist.passed, ist.overflow, ist.in_flight))
      assert.is_true(ist.delayed > 1000)
      l:close()
    end)
  end)

  it("come from -object filter-impair on the command line, which names what it refuses", function()
    local function fails(args, pattern)
      local out, status = H.lemu(args)
      assert.equal(1, status, out)
      assert.matches(pattern, out)
    end
    fails({ "-netdev", "user,id=n0", "-object", "filter-impair,id=f0,netdev=n0,delay=soon", "-kernel", G.IMAGE },
          "filter%-impair,id=f0: delay=soon: not a time")
    fails({ "-netdev", "user,id=n0", "-object", "filter-impair,id=f0,netdev=n9,loss=1", "-kernel", G.IMAGE },
          "netdev=n9: no such netdev %(defined: n0%)")
    fails({ "-netdev", "user,id=n0", "-object", "filter-impair,id=f0,netdev=n0,queue=up", "-kernel", G.IMAGE },
          "queue=up: expected all, rx or tx")
    fails({ "-netdev", "user,id=n0", "-object", "filter-impair,id=f0,netdev=n0,loss=lots", "-kernel", G.IMAGE },
          "loss=lots: expected a number")
    fails({ "-netdev", "user,id=n0", "-object", "filter-impair,id=f0,netdev=n0,delays=5", "-kernel", G.IMAGE },
          "delays")
  end)
end)
