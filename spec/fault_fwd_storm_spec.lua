-- Injected fault: 1,000 connections to one host forward opened at once, served by a scripted guest
-- in a child lemu (spec/fixtures/fdpeer.lua). A user sees every connection served or refused
-- cleanly (none hangs past its timeout), the process answering a control datagram throughout, and
-- the forward serving afterwards. Before, libslirp's listen backlog of 1 let 110 of the 1,000 in
-- within 30 s (the rest waited on the kernel's SYN-ACK retransmits); user.c now raises it.
local lemu = require "lemu"
local H = require "helper"

local N = 1000

describe("fault: 1,000 host-forward connections at once", function()
  after_each(function() lemu.closeall() end)

  it("serves or cleanly refuses each one and stays responsive", function()
    lemu.run(function()
      local d = H.tmpdir()
      local p = lemu.process({ "sh", "-c", ("exec env %s %s spec/fixtures/fdpeer.lua %s </dev/null 2>%s/err")
        :format(H.lemu_env, H.lemu_bin, d, d) }, { quiet = true })
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
        local r = ctl:recvfrom { timeout = 3000 }
        return r, lemu.now() - t0
      end
      -- the scripted guest has its lease once a connection is greeted
      lemu.wait("the forward to answer", { timeout = 10000 }, function(wake)
        local done = false
        lemu.spawn(function()
          while not done do
            local ok = pcall(function()
              local s = lemu.tcp_connect("127.0.0.1", fport, { timeout = 1000 })
              s:read_until("\n", { timeout = 1000 })
              s:close()
            end)
            if ok then done = true wake() else lemu.sleep(100) end
          end
        end)
        return function() done = true end
      end)
      local served, failed, finished, held, why = 0, 0, 0, {}, {}
      local t0 = lemu.now()
      for i = 1, N do
        lemu.spawn(function()
          local ok, err = pcall(function()
            local s = lemu.tcp_connect("127.0.0.1", fport, { timeout = 30000 })
            held[#held + 1] = s
            local line = s:read_until("\n", { timeout = 30000 })
            assert(line:match("^hi %d+\n$"), line)
          end)
          if ok then served = served + 1 else failed = failed + 1 why[#why + 1] = err end
          finished = finished + 1
        end)
      end
      -- while they come in, the process answers its control socket
      local worst = 0
      while finished < N do
        local _, rtt = ask()
        worst = math.max(worst, rtt)
        assert.is_true(lemu.now() - t0 < 60000, ("%d of %d done after 60 s"):format(finished, N))
        lemu.sleep(100)
      end
      local took = lemu.now() - t0
      -- refused ones failed at once with a reset, never by a timeout
      for _, e in ipairs(why) do assert.not_matches("timed out", tostring(e)) end
      assert.equal(N, served + failed)
      assert.is_true(served >= N * 0.9, ("%d served, %d failed: %s"):format(served, failed, tostring(why[1])))
      assert.is_true(worst < 2000, "a control datagram took " .. worst .. " ms")
      local r = ask()
      print(("# %d connections: %d served, %d refused in %.1f s; control round trip at worst %.0f ms; %s")
        :format(N, served, failed, took / 1000, worst, r))
      for _, s in ipairs(held) do s:close() end
      -- and afterwards a new connection is served
      local s = lemu.tcp_connect("127.0.0.1", fport, { timeout = 5000 })
      assert.matches("^hi %d+\n$", s:read_until("\n", { timeout = 5000 }))
      s:close()
      p:kill()
      local status = p:wait { timeout = 5000 }
      p:close()
      assert.equal(0, status)
      H.sh("rm -rf " .. H.quote(d))
    end)
  end)
end)
