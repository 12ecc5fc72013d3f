-- soak.lua: `make soak`, lemu under steady traffic for a long time, watched for growth.
--
--   VLAN "a": user-net (10.0.2.0/24) + guests a1..a4 --socket link (TCP, 127.0.0.1)-- VLAN "b": guests b1..b4
--
-- Eight default guests lease from the one user-net (the guests on "b" across the socket link, so
-- every one of their frames crosses it). Each guest pings the gateway and a guest on the other
-- VLAN, and fetches a page from a host HTTP server through slirp every second; the script fetches
-- a page from two guests' httpd through host forwards every second. Every minute it samples its
-- own RSS, open descriptors (/proc/self/fd), the ports' counters and the traffic done, and at the
-- end prints the table and the growth after warm-up (the mean of the last third of the samples
-- against the first third's). It fails (exit status 1) if RSS (less the translator's code memory,
-- see mem_kb, which must stay under its limit) grows by more
-- than SOAK_RSS_KB (default 16384, guest RAM included) or resting descriptors by more than
-- SOAK_FDS (default 4) after warm-up,
-- or if traffic stalls in a minute.
--
-- Environment: SOAK_MIN (minutes, default 60), SOAK_SAMPLE_S (seconds between samples, default 60),
-- SOAK_WARM (samples counted as warm-up, default 2).
local lemu = require "lemu"

local here = (arg and arg[0] or "scripts/soak.lua"):match("^(.*)/scripts/[^/]*$") or "."
local IMAGE, INITRD = here .. "/guest/images/Image.gz", here .. "/guest/images/initramfs.cpio.gz"
local function envn(name, def)
  local v = os.getenv(name)
  if v == nil or v == "" then return def end
  local n = tonumber(v)
  if not n or n <= 0 then
    io.stderr:write(("soak: %s=%s: expected a positive number\n"):format(name, v))
    os.exit(2)
  end
  return n
end
local MINUTES = envn("SOAK_MIN", 60)
local SAMPLE_S = envn("SOAK_SAMPLE_S", 60)
local WARM = math.floor(envn("SOAK_WARM", 2))
local RSS_KB = envn("SOAK_RSS_KB", 16384)
local FDS = envn("SOAK_FDS", 4)

-- RSS in KiB of the whole process, guest RAM included: a guest's RAM is resident once its kernel
-- touched it, and that settles after boot (its allocator reuses the pages it freed), so growth
-- after warm-up is lemu's own or a guest that keeps taking new memory. The translator's code
-- memory (the memfd "lemu-jit", mapped twice) is left out of it and given on its own, counted
-- once: it is a cache that fills up to its limit per machine at the guests' pace (pages of code
-- dropped and translated again), which can take longer than the warm-up.
local JIT_LIMIT_KB = 8192
local function mem_kb()
  local total, jit, jit_x, in_jit, x = 0, 0, 0, false, false
  for line in io.lines("/proc/self/smaps") do
    local perms, path = line:match("^%x+%-%x+ (%S+) %S+ %S+ %S+%s*(.*)$")
    if perms then
      in_jit, x = path:find("lemu-jit", 1, true) ~= nil, perms:find("x", 1, true) ~= nil
    else
      local kb = tonumber(line:match("^Rss:%s*(%d+)"))
      if kb then
        total = total + kb
        if in_jit then jit = jit + kb; if x then jit_x = jit_x + kb end end
      end
    end
  end
  return total - jit, jit_x
end
local PID = assert(io.open("/proc/self/stat")):read("l"):match("^(%d+)")
-- Open descriptors when none is in flight: connections live for milliseconds, so the fewest of
-- ten counts 20 ms apart is the resting number (the shell's pipe to us is in every count alike).
local function nfds()
  local least
  for _ = 1, 10 do
    local p = io.popen("ls /proc/" .. PID .. "/fd | wc -l")
    local n = tonumber(p:read("a"))
    p:close()
    least = math.min(least or n, n)
    lemu.sleep(20)
  end
  return least
end

-- The host side: an HTTP server the guests fetch from (as 10.0.2.2) and the forwards' counters.
local served, fetched, fetch_fail = 0, 0, 0
local body = string.rep("soak ", 400)
local srv = lemu.tcp_listen("127.0.0.1", 0, function(s)
  local ok = pcall(function()
    s:read_until("\r\n\r\n", { timeout = 5000 })
    s:write("HTTP/1.0 200 OK\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body)
    s:drain { timeout = 5000 }
  end)
  if ok then served = served + 1 end
  s:close()
end)
local _, srv_port = srv:address()

local va, vb = lemu.vlan "a", lemu.vlan "b"
local fwd = {}
local user = va:user { dns_hosts = { ["host.lemu"] = "10.0.2.2" } }
local link = va:socket { listen = "127.0.0.1:0" }
local link_b = vb:socket { connect = link:local_addr(), reconnect = 0.2 }

local guests = {}
for i, name in ipairs { "a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4" } do
  local m = lemu.machine { name = name, ram = "128M", kernel = IMAGE, initrd = INITRD,
                           append = "console=ttyS0", start = false }
  m.console:fail_on("Kernel panic")
  m:nic { vlan = i <= 4 and va or vb, mac = ("52:54:00:50:00:%02x"):format(i) }
  m:rng()
  guests[i] = { name = name, m = m }
end

local function run(m, cmd, timeout)
  local out, st = m.console:run(cmd, { timeout = timeout or 20000 })
  if st ~= 0 then error(("%s: '%s' exited with %d: %s"):format(m.name or "?", cmd, st, out)) end
  return out
end

local t_start = lemu.now()
for _, g in ipairs(guests) do g.m:start() end
for _, g in ipairs(guests) do
  g.m.console:expect("lemu%-guest: ready", { timeout = 120000 })
  g.m.console:expect("# ", { timeout = 20000 })
end
-- Leases one guest at a time, so each address is known.
for _, g in ipairs(guests) do
  g.ip = run(g.m, "udhcpc -i eth0 -q -n -t 10 -T 2", 60000):match("lease of ([%d%.]+) obtained")
  assert(g.ip, g.name .. ": no lease")
end
-- Forwards to a1's and b1's httpd: the host's fetches cross slirp, and for b1 the link too.
for _, i in ipairs { 1, 5 } do
  local g = guests[i]
  run(g.m, "httpd -h /www -p 80")
  fwd[#fwd + 1] = user:hostfwd_add(("tcp:127.0.0.1:0-%s:80"):format(g.ip)).host_port
end
for i, g in ipairs(guests) do
  local peer = guests[(i + 3) % 8 + 1]   -- a guest on the other VLAN
  run(g.m, ("(ping -q -i 0.5 10.0.2.2 >/dev/null 2>&1 &); (ping -q -i 0.5 %s >/dev/null 2>&1 &)"):format(peer.ip))
  run(g.m, ("(while true; do wget -q -O /dev/null http://10.0.2.2:%d/ || echo WGET''FAIL; sleep 1; done &)"):format(srv_port))
end
print(("soak: 8 guests up and leased in %.1f s; %g min, a sample every %g s, warm-up %d samples")
  :format((lemu.now() - t_start) / 1000, MINUTES, SAMPLE_S, WARM))

-- The host's fetches through the forwards, one a second each.
for _, port in ipairs(fwd) do
  lemu.spawn(function()
    while true do
      local ok = pcall(function()
        local s = lemu.tcp_connect("127.0.0.1", port, { timeout = 5000 })
        s:write("GET /hello.txt HTTP/1.0\r\nHost: guest\r\n\r\n")
        local r = s:read_all { timeout = 10000 }
        s:close()
        assert(r:match("^HTTP/1%.%d 200"))
      end)
      if ok then fetched = fetched + 1 else fetch_fail = fetch_fail + 1 end
      lemu.sleep(1000)
    end
  end)
end

local function counters()
  local frames, drops = 0, 0
  for _, v in ipairs { va, vb } do
    for _, p in ipairs(v:ports()) do
      frames = frames + p.rx.frames + p.tx.frames
      drops = drops + p.rx.drops + p.tx.drops
    end
  end
  return frames, drops
end

local samples = {}
local n = math.max(WARM + 3, math.floor(MINUTES * 60 / SAMPLE_S + 0.5))
local stalled
for i = 1, n do
  lemu.sleep(SAMPLE_S * 1000)
  collectgarbage()
  local frames, drops = counters()
  local rss, jit = mem_kb()
  local s = { t = (lemu.now() - t_start) / 1000, rss = rss, jit = jit, fds = nfds(), frames = frames,
              drops = drops, served = served, fetched = fetched, fail = fetch_fail,
              link = link_b:connected() }
  samples[i] = s
  local prev = samples[i - 1]
  if prev and (s.frames == prev.frames or s.served == prev.served or s.fetched == prev.fetched) then
    stalled = stalled or ("traffic stalled before the sample at %.0f s"):format(s.t)
  end
  io.write(("%4d %6.0f s  rss %7d KiB  jit %6d KiB  fds %3d  frames %10d  drops %6d  guest GETs %7d  host GETs %6d (%d failed)  link %d\n")
    :format(i, s.t, s.rss, s.jit, s.fds, s.frames, s.drops, s.served, s.fetched, s.fail, s.link))
  io.flush()
end

for _, g in ipairs(guests) do
  local out = g.m.console:recent()
  if out:match("WGETFAIL") then print(g.name .. ": some wget fetches failed (see its console)") end
end

-- Growth: the mean of the last third of the samples after warm-up minus the mean of the first
-- third, so a few connections in flight at one sample neither hide a leak nor make one.
local after = {}
for i = WARM + 1, #samples do after[#after + 1] = samples[i] end
local k = math.max(1, #after // 3)
local function mean(key, from, to)
  local sum = 0
  for i = from, to do sum = sum + after[i][key] end
  return sum / (to - from + 1)
end
local function growth(key) return mean(key, #after - k + 1, #after) - mean(key, 1, k) end
local function peak(key)
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(after) do lo, hi = math.min(lo, x[key]), math.max(hi, x[key]) end
  return lo, hi
end
local last = samples[#samples]
local rlo, rhi = peak("rss")
local flo, fhi = peak("fds")
print(("soak: after warm-up (%d samples, %.0f s) to the end (%.0f s), last %d samples vs first %d:")
  :format(WARM, samples[WARM].t, last.t, k, k))
print(("soak:   RSS %+.0f KiB (range %d..%d KiB)"):format(growth("rss"), rlo, rhi))
print(("soak:   open descriptors %+.1f (range %d..%d)"):format(growth("fds"), flo, fhi))
local _, jhi = peak("jit")
print(("soak:   translator code memory %+.0f KiB, at most %d KiB (limit %d KiB: %d KiB per machine)")
  :format(growth("jit"), jhi, JIT_LIMIT_KB * #guests, JIT_LIMIT_KB))
print(("soak: %d frames, %d drops, %d guest fetches from the host, %d host fetches through forwards (%d failed)")
  :format(last.frames, last.drops, last.served, last.fetched, last.fail))
local failed = {}
if growth("rss") > RSS_KB then failed[#failed + 1] = ("RSS grew %.0f KiB (bound %d)"):format(growth("rss"), RSS_KB) end
if jhi > JIT_LIMIT_KB * #guests then
  failed[#failed + 1] = ("the translator's code memory reached %d KiB (limit %d)"):format(jhi, JIT_LIMIT_KB * #guests)
end
if growth("fds") > FDS then failed[#failed + 1] = ("descriptors grew by %.1f (bound %d)"):format(growth("fds"), FDS) end
if stalled then failed[#failed + 1] = stalled end
for _, g in ipairs(guests) do g.m:stop() end
lemu.closeall()
if #failed > 0 then
  print("soak: FAILED: " .. table.concat(failed, "; "))
  os.exit(1)
end
print("soak: passed")
os.exit(0)
