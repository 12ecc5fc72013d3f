-- Injected fault: user-net when the process runs out of file descriptors. A child lemu under
-- `ulimit -n 40` serves a host forward (spec/fixtures/fdpeer.lua) while the spec holds connections
-- open until none is left. A user sees each further connection refused at once (a reset, not a
-- hang), one warning, a counter, the process idle and answering, and forwards working again once
-- descriptors are free. Before, slirp's failing accept left the connection pending: the peer hung
-- and the loop spun on the readable listening socket (45% of a core).
local lemu = require "lemu"
local H = require "helper"

local LIMIT = 40

local function cpu_ticks(pid)
  local st = H.read("/proc/" .. pid .. "/stat")
  local f = {}
  for x in st:match("%) (.*)$"):gmatch("%S+") do f[#f + 1] = x end
  return tonumber(f[12]) + tonumber(f[13])   -- utime + stime
end

describe("fault: user-net out of file descriptors", function()
  after_each(function() lemu.closeall() end)

  it("refuses forward connections cleanly, stays idle and responsive, and recovers", function()
    lemu.run(function()
      local d = H.tmpdir()
      local p = lemu.process({ "sh", "-c", ("ulimit -n %d; exec env %s %s spec/fixtures/fdpeer.lua %s </dev/null 2>%s/err")
        :format(LIMIT, H.lemu_env, H.lemu_bin, d, d) }, { quiet = true })
      local ports
      lemu.wait("the child's ports", { timeout = 10000 }, function(wake)
        local t = lemu.every(20, function()
          ports = H.read(d .. "/ports")
          if ports or p:status() then wake() end
        end)
        return function() t:close() end
      end)
      assert(ports, "the child exited: " .. tostring(H.read(d .. "/err")))
      local fport, cport = ports:match("(%d+) (%d+)")
      fport, cport = tonumber(fport), tonumber(cport)
      local ctl = lemu.udp("127.0.0.1", 0)
      local function ask()
        local t0 = lemu.now()
        ctl:sendto("q", "127.0.0.1", cport)
        local r = ctl:recvfrom { timeout = 2000 }
        return r, lemu.now() - t0
      end
      -- the scripted guest takes its lease first: wait until a connection is greeted
      local held, refused_err = {}, nil
      local function open()
        local s = lemu.tcp_connect("127.0.0.1", fport, { timeout = 2000 })
        local ok, line = pcall(s.read_until, s, "\n", { timeout = 2000 })
        if not ok then s:close() error(line, 0) end
        held[#held + 1] = s
        return line
      end
      lemu.wait("the forward to answer", { timeout = 10000 }, function(wake)
        local done = false
        lemu.spawn(function()
          while not done do
            if pcall(open) then done = true wake() else lemu.sleep(100) end
          end
        end)
        return function() done = true end
      end)
      -- hold connections until one is refused; each attempt ends within its 2 s, none hangs
      for _ = 1, LIMIT do
        local ok, err = pcall(open)
        if not ok then refused_err = err break end
      end
      assert(refused_err, "no connection was refused with " .. #held .. " open")
      assert.matches("connection reset by peer", refused_err)
      assert.is_true(#held >= 10 and #held < LIMIT, #held .. " connections held")
      -- out of descriptors, the process is idle (not spinning) and still answers at once
      local c0 = cpu_ticks(p:pid())
      for _ = 1, 5 do
        assert.has_error(open)             -- refused, again and again, each at once
        lemu.sleep(200)
      end
      local spent = cpu_ticks(p:pid()) - c0
      assert.is_true(spent < 30, ("the child used %d ticks of CPU in ~1 s while out of fds"):format(spent))
      local r, rtt = ask()
      assert.is_true(rtt < 500, "control round trip " .. rtt .. " ms")
      local refused = tonumber(r:match("refused=(%d+)"))
      assert.is_true(refused >= 6, r)
      -- free them: slirp keeps a closed connection's socket for its TIME_WAIT (2 MSL, 10 s), then
      -- forwards work again
      for _, s in ipairs(held) do s:close() end
      local again
      lemu.wait("a forward connection after the descriptors were freed", { timeout = 20000 }, function(wake)
        local done = false
        lemu.spawn(function()
          while not done do
            local ok, line = pcall(open)
            if ok then again = line done = true wake() else lemu.sleep(250) end
          end
        end)
        return function() done = true end
      end)
      assert.matches("^hi %d+\n$", again)
      for _, s in ipairs(held) do s:close() end
      -- one warning line at first (rate-limited after), and a clean end on SIGTERM: no crash
      p:kill()
      local status, sig = p:wait { timeout = 5000 }
      p:close()
      assert.equal(0, status)
      assert.equal(0, sig or 0)
      local err = H.read(d .. "/err")
      assert.matches("out of file descriptors %(Too many open files%): refused a host%-forward connection", err)
      assert.not_matches("AddressSanitizer", err)
      H.sh("rm -rf " .. H.quote(d))
    end)
  end)
end)
