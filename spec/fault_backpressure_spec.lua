-- Injected fault: a receiver that stops taking frames. A socket peer stops reading; the frames
-- toward it fill the kernel's buffers and the write queue, then wait in its port's bounded queue,
-- then are dropped and counted. When it reads again every frame that was not counted as dropped
-- arrives, in order, and new frames flow at once.
local lemu = require "lemu"
local P = require "lemu.packet"

local QUEUE = 1024   -- a port's queue bound (netstack/port.h)

local function sock_port(v)
  for _, x in ipairs(v:ports()) do if x.kind == "socket" then return x end end
end

describe("fault: a receiver that stops taking frames", function()
  after_each(function() lemu.closeall() end)

  it("queues to the bound, drops and counts past it, loses nothing else, recovers", function()
    lemu.run(function()
      local v = lemu.vlan "bp"
      local l = v:socket { listen = "127.0.0.1:0", write_queue = 16384, stall_timeout = 60000 }
      local host, port = l:local_addr():match("^(.*):(%d+)$")
      local s = lemu.tcp_connect(host, tonumber(port), { timeout = 3000 })   -- never read, for now
      l:wait { timeout = 3000 }
      local ep = v:endpoint {}
      local pad = string.rep("p", 1400)
      local function frame(seq) return string.rep("\255", 6) .. P.mac_bytes(ep.mac) .. "\136\181" .. string.pack(">I4", seq) .. pad end
      -- Send until frames are being dropped; the loop runs between bursts, so the writes progress
      -- as far as the kernel and the stream's reader take them.
      local sent, queued_max = 0, 0
      local deadline = lemu.now() + 30000
      while sock_port(v).rx.drops < 50 do
        assert(lemu.now() < deadline, "no drops after " .. sent .. " frames")
        for _ = 1, 64 do sent = sent + 1 ep:send(frame(sent)) end
        queued_max = math.max(queued_max, sock_port(v).queued)
        lemu.sleep(1)
      end
      local p = sock_port(v)
      assert.equal(QUEUE, p.queued)                  -- the queue is full, and no fuller
      assert.equal(QUEUE, queued_max)
      assert.is_true(p.rx.drops >= 50)
      assert.equal(sent, p.rx.frames + p.queued + p.rx.drops)   -- each one taken, waiting or counted
      local drops = p.rx.drops
      -- the peer reads again: everything that was not dropped arrives, in order, then the queue is empty
      local buf, seqs = "", {}
      local want = sent - drops
      while #seqs < want do
        local chunk = s:read { timeout = 5000 }
        assert(chunk, "the stream ended")
        buf = buf .. chunk
        while #buf >= 4 do
          local len = string.unpack(">I4", buf)
          if #buf < 4 + len then break end
          seqs[#seqs + 1] = string.unpack(">I4", buf, 4 + 15)
          buf = buf:sub(5 + len)
        end
      end
      for i = 1, want do
        if seqs[i] ~= i then error(("frame %d arrived as number %s (%d sent, %d dropped)"):format(i, tostring(seqs[i]), sent, drops)) end
      end
      p = sock_port(v)
      assert.equal(0, p.queued)
      assert.equal(drops, p.rx.drops)                 -- no more lost while it drained
      assert.equal(want, p.rx.frames)
      -- and a new frame goes straight through
      ep:send(frame(999999))
      buf = buf .. assert(s:read { timeout = 2000 })
      assert.equal(999999, string.unpack(">I4", buf, 4 + 15))
      assert.equal(1, l:connected())
      s:close()
    end)
  end)
end)
