-- impair.lua: how closely impaired links (netstack/impair.c) do what they are told, measured with
-- scripted endpoints: one-way delay (median and 99th percentile of 2000 frames, with and without
-- jitter), bottleneck rates (1250-byte frames), random and burst loss over 100,000 frames, and the
-- cost of a stage on a wire that is otherwise perfect. Figures only: nothing here fails.
local lemu = require "lemu"

local function frame(src, seq, size)
  local f = lemu.packet.build { eth = { src = src, dst = "ff:ff:ff:ff:ff:ff" },
    ipv4 = { src = "10.0.0.1", dst = "10.0.0.2" }, udp = { sport = 1, dport = 2 }, payload = string.pack(">I4", seq) }
  if size and size > #f then f = f .. ("\0"):rep(size - #f) end
  return f
end

-- Sends n frames (rate: frames per ms, or all at once) through spec; returns the arrival of each
-- (ms since its send) by sequence number.
local n_vlan = 0
local function run(spec, n, size, per_ms)
  n_vlan = n_vlan + 1
  local v = lemu.vlan("bench-impair" .. n_vlan)
  local a, b = v:endpoint(), v:endpoint { queue = 200000 }
  a:impair(spec)
  local frames = {}
  for i = 1, n do frames[i] = frame(a.mac, i, size) end
  local sent, lat, arr, count = {}, {}, {}, 0
  b:_set_handler(function(f)
    local s = string.unpack(">I4", f, 43)
    arr[s] = lemu.now()
    lat[s] = arr[s] - sent[s]
    count = count + 1
    return true
  end)
  local t0 = lemu.now()
  for i = 1, n do
    sent[i] = lemu.now()
    a:send(frames[i])
    if per_ms and i % per_ms == 0 then lemu.sleep(1) end
  end
  local quiet, last = lemu.now(), 0
  while lemu.now() - quiet < 300 do
    lemu.sleep(10)
    if count ~= last then last, quiet = count, lemu.now() end
  end
  local st = a:info().impair.out
  v:close()
  return lat, count, st, lemu.now() - t0 - 300, arr
end

local function pct(t, p)
  local x = {}
  for _, v in pairs(t) do x[#x + 1] = v end
  table.sort(x)
  return x[math.max(1, math.floor(#x * p + 0.5))] or 0/0
end

print("one-way delay (2000 frames, 1 per ms):")
for _, d in ipairs { { 10 }, { 50 }, { 50, 10 }, { 100 } } do
  local lat = run({ delay = d[1], jitter = d[2] }, 2000, nil, 1)
  print(("  delay %3d ms%s: median %.2f ms, p99 %.2f ms"):format(d[1], d[2] and (" jitter " .. d[2]) or "          ",
    pct(lat, 0.5), pct(lat, 0.99)))
end

print("bottleneck rate (1250-byte frames, sent at once; at 1 Gbit/s the Lua sender keeps the loop")
print("busy for most of the run, so frames due meanwhile leave in batches when it yields):")
for _, r in ipairs { { "10mbit", 10e6, 500 }, { "100mbit", 100e6, 4000 }, { "1gbit", 1e9, 20000 } } do
  local _, count, _, _, arr = run({ rate = r[1], limit = 100000 }, r[3], 1250)
  local first, last = math.huge, 0
  for _, t in pairs(arr) do first = math.min(first, t) last = math.max(last, t) end
  local mbit = (count - 1) * 1250 * 8 / ((last - first) / 1000) / 1e6
  print(("  rate %-8s: measured %8.2f Mbit/s (%.1f%% of the set rate)"):format(r[1], mbit, mbit / (r[2] / 1e6) * 100))
end

print("loss (100,000 frames):")
for _, l in ipairs { { loss = 1 }, { loss = 10 }, { loss = { p = 1, r = 25 } } } do
  local _, count, st = run(l, 100000)
  local what = type(l.loss) == "table" and "gemodel p 1% r 25% (stationary 3.85%)" or (l.loss .. "%")
  print(("  loss %-38s: lost %.2f%%"):format(what, (100000 - count) / 1000))
end

local function cost(spec)
  local _, count, _, ms = run(spec, 200000)
  return count / (ms / 1000)
end
print(("a stage passing every frame: %.0f frames/s through Lua endpoints, %.0f without a stage"):format(
  cost({ loss = 0 }), cost({})))
