-- hub.lua: VLAN hub fan-out rates, and a learning switch's forwarding rate. One port sends; every other port receives each frame (C sink
-- ports driven by lemu.bench.hub). "shared": receivers look at the one shared frame (the hub's own
-- cost); "copied": each receiver copies the frame out, as a NIC's DMA into guest memory does.
-- Rates: frames sent per second (in), frames and Gbit/s delivered over all receivers (out). Then
-- the same through scripted endpoints, where Lua handles every frame.
local lemu = require "lemu"
local bench = require "lemu.bench"
local P = lemu.packet

local budget = tonumber(os.getenv("LEMU_BENCH_FRAMES") or "") or 4000000  -- deliveries per case

print(("%-6s %-6s %-7s %13s %13s %10s"):format("size", "ports", "mode", "in frames/s", "out frames/s", "out Gbit/s"))
for _, size in ipairs { 64, 1514 } do
  for _, ports in ipairs { 2, 8, 32 } do
    for _, copy in ipairs { false, true } do
      local n = math.max(1000, budget // (ports - 1))
      bench.hub(ports, size, n // 10, copy)                -- warm up
      local secs, frames, bytes = bench.hub(ports, size, n, copy)
      print(("%-6d %-6d %-7s %13.0f %13.0f %10.2f"):format(size, ports, copy and "copied" or "shared",
        n / secs, frames / secs, bytes * 8 / secs / 1e9))
    end
  end
end

-- A learning switch: port 0 sends unicast to the other ports in turn, every address learned, so
-- each frame is looked up and reaches one port (the issue's goal: 5 M frames/s at 64 bytes).
print(("%-6s %-6s %-7s %13s %13s %10s"):format("size", "ports", "switch", "in frames/s", "out frames/s", "out Gbit/s"))
for _, size in ipairs { 64, 1514 } do
  for _, ports in ipairs { 2, 8, 32 } do
    local n = budget
    bench.hub(ports, size, n // 10, false, true)
    local secs, frames, bytes = bench.hub(ports, size, n, false, true)
    print(("%-6d %-6d %-7s %13.0f %13.0f %10.2f"):format(size, ports, "unicast", n / secs, frames / secs, bytes * 8 / secs / 1e9))
  end
end

-- Through Lua: endpoint to endpoint, one frame at a time (send, then recv in the same task).
local v = lemu.vlan("bench-lua")
local a, b = v:endpoint(), v:endpoint()
for _, size in ipairs { 64, 1514 } do
  local f = P.ether { src = a.mac, dst = b.mac, payload = ("x"):rep(size - 14) }
  local n = 100000
  local t0 = lemu.now()
  for _ = 1, n do
    a:send(f)
    b:recv()
  end
  local secs = (lemu.now() - t0) / 1000
  print(("endpoint to endpoint through Lua, %4d bytes: %9.0f frames/s, %6.2f Gbit/s"):format(size, n / secs, n * size * 8 / secs / 1e9))
end
v:close()
print("(QEMU has no standalone hub benchmark to compare with; these are lemu's own figures.)")
