-- socket.lua: throughput and frame rate of a socket link between two lemu processes, over TCP and
-- over a unix stream; and the same traffic relayed through QEMU's socket netdevs (two of them on
-- a hub) for a side-by-side ratio. This process receives and counts (the frames cross the socket
-- and are dropped at a VLAN with no other port); a child lemu process sends as fast as its loop
-- lets it, in batches that leave the loop room to write.
local lemu = require "lemu"
local bin = (os.getenv("LEMU_BUILD") or "build") .. "/lemu"
local SECONDS = tonumber(os.getenv("BENCH_SECONDS") or "2")

local sender = [[
local lemu = require "lemu"
local addr, size = arg[1], tonumber(arg[2])
local v = lemu.vlan(0)
local s = v:stream { addr = addr, reconnect = 0.05 }
local ep = v:endpoint {}
s:wait { timeout = 5000 }
local frame = string.rep("\255", 6) .. string.rep("\2", 6) .. "\136\181" .. string.rep("x", size - 14)
-- Each batch waits 1 ms: lemu.sleep(0) in a tight loop keeps libuv in its timer phase most of the
-- time, which delays socket I/O and even SIGTERM. The batch is sized to keep the link busy.
local batch = math.max(64, math.floor(2e6 / size))
while true do
  for _ = 1, batch do ep:send(frame) end
  lemu.sleep(1)
end
]]

local tmp = os.tmpname()
local f = assert(io.open(tmp, "w"))
f:write(sender)
f:close()

local function measure(what, listen, connect_to, size, relay)
  local v = lemu.vlan("bench")
  local l = v:socket { listen = listen }
  local target = connect_to or l:local_addr()
  local q
  if relay then q = relay(l:local_addr()) target = q.addr end
  local p = lemu.process({ bin, tmp, target, tostring(size) }, { quiet = true })
  l:wait { timeout = 10000 }
  lemu.sleep(300)   -- warm up
  local i0, t0 = l:info().peers[1].from_peer, lemu.now()
  lemu.sleep(SECONDS * 1000)
  local i1, t1 = l:info().peers[1].from_peer, lemu.now()
  local dt = (t1 - t0) / 1000
  local frames, bytes = i1.frames - i0.frames, i1.bytes - i0.bytes
  p:kill()
  p:wait { timeout = 3000 }
  p:close()
  if q then q.proc:kill() q.proc:wait { timeout = 3000 } q.proc:close() end
  l:close()
  v:close()
  local gbps, mfps = bytes * 8 / dt / 1e9, frames / dt / 1e6
  print(("  %-34s %5d-byte frames: %7.3f Gbit/s  %6.3f Mframes/s"):format(what, size, gbps, mfps))
  return gbps, mfps
end

-- QEMU as a relay: the sender connects to QEMU's listener, QEMU's hub forwards to its second socket
-- netdev, which connects to our listener. Same traffic, one extra hop through QEMU's socket code.
local wfi = os.tmpname()
local w = assert(io.open(wfi, "wb"))
w:write("\x73\x00\x50\x10\x6f\xf0\xdf\xff")   -- wfi; j .-4: an idle guest
w:close()
local function qemu_relay(dst)
  local port = 20000 + math.random(0, 9999)
  local proc = lemu.process({ "qemu-system-riscv64", "-M", "virt", "-bios", "none", "-kernel", wfi,
    "-display", "none", "-serial", "none", "-monitor", "none", "-nodefaults",
    "-netdev", "socket,id=a,listen=127.0.0.1:" .. port, "-netdev", "socket,id=b,connect=" .. dst,
    "-netdev", "hubport,id=h1,hubid=0,netdev=a", "-netdev", "hubport,id=h2,hubid=0,netdev=b" }, { quiet = true })
  return { proc = proc, addr = "127.0.0.1:" .. port }
end
local function lemu_relay(dst)
  local port = 20000 + math.random(0, 9999)
  local v = lemu.vlan("relay")
  local a = v:socket { listen = "127.0.0.1:" .. port }
  local b = v:socket { connect = dst }
  -- the relay runs in this process; a child would be fairer but this keeps the bench short
  return { proc = { kill = function() a:close() b:close() v:close() end, wait = function() end, close = function() end },
           addr = "127.0.0.1:" .. port }
end

local have_qemu = os.execute("command -v qemu-system-riscv64 >/dev/null 2>&1")
local sock = os.tmpname()
os.remove(sock)
for _, size in ipairs { 1514, 64 } do
  measure("TCP, lemu -> lemu", "127.0.0.1:0", nil, size)
  measure("unix stream, lemu -> lemu", "unix:" .. sock, nil, size)
  if have_qemu then
    local g1, f1 = measure("TCP via a lemu relay (same process)", "127.0.0.1:0", nil, size, lemu_relay)
    local g2, f2 = measure("TCP via QEMU 7.2's socket hub", "127.0.0.1:0", nil, size, qemu_relay)
    print(("  %-34s %5d-byte frames: lemu relay / QEMU relay = %.2fx"):format("ratio", size, g1 / math.max(g2, 1e-9)))
  end
end
os.remove(tmp)
os.remove(wfi)
lemu.closeall()
