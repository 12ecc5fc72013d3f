-- slirp.lua: the user-mode network (libslirp) as a scripted endpoint sees it.
--   0. ICMP echo to 10.0.2.2 from a C port (lemu.bench.usernet_ping): slirp's own cost;
--   1. ICMP echo round trip to the host address 10.0.2.2 (answered inside slirp);
--   2. UDP request/response: endpoint -> 10.0.2.2:PORT -> slirp's host socket -> a UDP echo server on
--      127.0.0.1:PORT (lemu.udp) -> back to the endpoint: one real host socket round trip;
--   3. TCP throughput host -> endpoint through hostfwd: a host client (lemu.tcp_connect) streams
--      data to a TCP listener on the endpoint (lemu.host's small TCP, all in Lua).
-- Figures 1-3 include the Lua endpoint that stands in for the guest (it builds and matches every
-- frame), so they are upper bounds on slirp's own cost; 0 is the floor.
local lemu = require "lemu"
local P = lemu.packet

local N = tonumber(os.getenv("LEMU_BENCH_ROUNDS") or "") or 5000

local function stats(samples)
  table.sort(samples)
  local sum = 0
  for _, s in ipairs(samples) do sum = sum + s end
  return sum / #samples, samples[math.max(1, #samples // 2)], samples[math.max(1, math.floor(#samples * 0.99))]
end

-- 0. slirp's own ICMP round trip, driven from C (no Lua per frame): the floor under the rest.
do
  local usernet = { bench_ping = require("lemu.bench").usernet_ping }
  usernet.bench_ping(10000)
  local n = N * 40
  local secs, replies = usernet.bench_ping(n)
  print(("ICMP echo, C driver:     %6d round trips, mean %6.2f us, %9.0f/s (%d replies)")
    :format(n, secs / n * 1e6, n / secs, replies))
end

local v = lemu.vlan("bench-slirp")
local u = v:user { dns_hosts = { ["bench.test"] = "10.0.2.2" } }
local ep = v:endpoint { mac = "52:54:00:12:34:56" }
local h = ep:host()
h:dhcp()
local gw = h.arp_cache["10.0.2.2"] or h:resolve("10.0.2.2")

-- 1. ICMP echo: a prebuilt request; the reply is recognised by its type byte (offset 34).
do
  local req = P.build { eth = { src = ep.mac, dst = gw }, ipv4 = { src = "10.0.2.15", dst = "10.0.2.2" },
    icmp = { type = 8, code = 0, id = 1, seq = 1, data = ("x"):rep(56) } }
  local function is_reply(f) return #f > 34 and f:byte(13) == 8 and f:byte(35) == 0 end
  for _ = 1, 200 do ep:send(req) ep:recv { match = is_reply } end
  local samples = {}
  local t0 = lemu.now()
  for i = 1, N do
    local s = lemu.now()
    ep:send(req)
    ep:recv { match = is_reply }
    samples[i] = lemu.now() - s
  end
  local total = lemu.now() - t0
  local mean, med, p99 = stats(samples)
  print(("ICMP echo to 10.0.2.2:   %6d round trips, mean %6.1f us, median %6.1f us, p99 %6.1f us, %8.0f/s")
    :format(N, mean * 1000, med * 1000, p99 * 1000, N / total * 1000))
end

-- 2. UDP through a host socket and back.
do
  local echo = lemu.udp("127.0.0.1", 0)
  local _, port = echo:address()
  lemu.spawn(function()
    while true do
      local ok, data, host, p = pcall(echo.recvfrom, echo, { timeout = false })
      if not ok or echo:closed() then return end
      echo:sendto(data, host, p)
    end
  end)
  local req = P.build { eth = { src = ep.mac, dst = gw }, ipv4 = { src = "10.0.2.15", dst = "10.0.2.2" },
    udp = { sport = 40000, dport = port }, payload = ("q"):rep(64) }
  local function is_reply(f) return #f > 37 and f:byte(13) == 8 and f:byte(24) == 17 and f:byte(37) == 40000 >> 8 and f:byte(38) == 40000 & 0xff end
  for _ = 1, 100 do ep:send(req) ep:recv { match = is_reply } end
  local n = N // 2
  local samples = {}
  local t0 = lemu.now()
  for i = 1, n do
    local s = lemu.now()
    ep:send(req)
    ep:recv { match = is_reply }
    samples[i] = lemu.now() - s
  end
  local total = lemu.now() - t0
  local mean, med, p99 = stats(samples)
  print(("UDP via a host socket:   %6d round trips, mean %6.1f us, median %6.1f us, p99 %6.1f us, %8.0f/s")
    :format(n, mean * 1000, med * 1000, p99 * 1000, n / total * 1000))
  echo:close()
end

-- 3. TCP host -> endpoint through hostfwd.
do
  local probe = lemu.tcp_listen("127.0.0.1", 0)
  local _, hp = probe:address()
  probe:close()
  u:hostfwd_add(("tcp:127.0.0.1:%d-:5001"):format(hp))
  local l = h:tcp_listen(5001)
  local MB = tonumber(os.getenv("LEMU_BENCH_TCP_MB") or "") or 8
  local chunk = ("z"):rep(65536)
  local sender = lemu.spawn(function()
    local s = lemu.tcp_connect("127.0.0.1", hp)
    for _ = 1, MB * 16 do
      s:write(chunk)
      if s:writing() > 4 * 65536 then s:drain { timeout = 30000 } end
    end
    s:drain { timeout = 30000 }
    s:shutdown()
    return s
  end)
  local c = l:accept { timeout = 5000 }
  local got, t0 = 0, lemu.now()
  while true do
    local data = c:recv { timeout = 30000 }
    if not data then break end
    got = got + #data
  end
  local secs = (lemu.now() - t0) / 1000
  lemu.join(sender):close()
  print(("TCP host -> endpoint:    %6.1f MB in %.2f s, %7.1f Mbit/s (the receiver is Lua)")
    :format(got / 1e6, secs, got * 8 / secs / 1e6))
end

local i = u:info().counters
print(("slirp loop: %d cycles, %d timer wake-ups, %d fds watched now"):format(i.cycles, i.timer_wakeups, i.polls))
print("(QEMU has no scripted-guest equivalent to compare with directly; the reference in")
print(" docs/user-net.md is slirp4netns' 1.07 Gbit/s iperf3 figure at MTU 1500 on a real kernel.)")
u:close()
v:close()
