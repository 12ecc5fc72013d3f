-- guestnet.lua: the default guest's networking on lemu and on qemu-system-riscv64, side by side.
-- Both boot the same kernel (guest/images/Image.gz, decompressed once, since QEMU 7.2 loads no
-- gzip Image) and initramfs with "console=ttyS0", 256M, one hart, and a virtio-net-device (or the
-- NIC model LEMU_BENCH_NIC names: scripts/bench/guestnet_pci.sh runs it with virtio-net-pci,
-- guestnet_classic.sh with e1000, rtl8139 and ne2k_pci) on
-- user-net (libslirp in both): lemu's vlan:user{} with dns_hosts (no query leaves lemu), QEMU's
-- -netdev user (the benchmark looks up no names, so QEMU's DNS forwarding is never used). lemu
-- runs its built-in SBI, QEMU its default OpenSBI; one lemu line uses Debian's OpenSBI too.
--   1. from start (lemu: machine creation; QEMU: process start) to the guest's "lease of ...
--      obtained" line of `udhcpc -i eth0 -q -n`, typed at the first prompt: median of RUNS boots;
--   2. TCP through user-net with busybox nc, whose small variant has only -l -p -w -i -f -e and
--      moves 1 KiB per read and write on both emulators: guest -> host is `dd | nc 10.0.2.2 P`
--      into a lemu.tcp_listen on 127.0.0.1 (timed from accept to EOF, bytes counted); host ->
--      guest is lemu.tcp_connect to a hostfwd on 127.0.0.1 into `nc -l -p 5001 >/dev/null`
--      (timed from connect to the guest's close, which comes after its nc read EOF);
--   3. `ping -c 10 -i 0.2 10.0.2.2` (after one warm-up ping): the summary line's avg.
-- 2 and 3 run on the guest of the last boot. QEMU's console is a FIFO and a file polled every
-- 5 ms; lemu's is event-driven. Figures only: nothing here fails on speed.
package.path = "spec/?.lua;" .. package.path
local lemu = require "lemu"
local H = require "helper"

local RUNS = tonumber(os.getenv("LEMU_BENCH_RUNS") or "") or 5
local G2H_MB = tonumber(os.getenv("LEMU_BENCH_G2H_MB") or "") or 4
local H2G_MB = tonumber(os.getenv("LEMU_BENCH_H2G_MB") or "") or 8
local BUDGET_MS = 40000          -- per emulator for the boots: slow machines get fewer runs
local GUEST_PORT = 5001
local NIC = os.getenv("LEMU_BENCH_NIC") or "virtio-net-device"
-- QEMU's PCI NICs want an option ROM (ipxe-qemu) unless romfile= is empty; lemu has none.
local QEMU_NIC = NIC .. ",netdev=n0" .. (NIC:match("%-device$") and "" or ",romfile=")
local INITRD = "guest/images/initramfs.cpio.gz"
local OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
local QEMU = "qemu-system-riscv64"

if not H.read("guest/images/Image.gz") or not H.read(INITRD) then
  print("  guestnet: guest/images are missing: skipped")
  return
end

local started = lemu.now()
local dir = H.sh("mktemp -d /tmp/lemu-guestnet.XXXXXX"):gsub("%s+$", "")
local IMAGE = dir .. "/Image"
local qemus = {}                 -- QEMU processes not yet reaped, killed whatever happens
-- Backstop for an interrupted run (SIGINT ends lemu without unwinding this task): lua_close
-- collects this and kills and removes what is left.
local function cleanup()
  for p in pairs(qemus) do pcall(p.kill, p, 9) pcall(p.close, p) end
  qemus = {}
  os.execute("rm -rf " .. H.quote(dir))
end
local guard = setmetatable({}, { __gc = cleanup })

-- ---- lemu: the machine in this process ----

local Lemu = {}
Lemu.__index = Lemu

local nvlan = 0
local function boot_lemu(bios, accel)
  nvlan = nvlan + 1
  local v = lemu.vlan("guestnet" .. nvlan)
  local u = v:user { dns_hosts = {}, hostfwd = ("tcp:127.0.0.1:0-:%d"):format(GUEST_PORT) }
  local g = setmetatable({ v = v, u = u, port = u:info().forwards[1].host_port }, Lemu)
  g.t0 = lemu.now()
  g.m = lemu.machine { ram = "256M", kernel = IMAGE, initrd = INITRD, append = "console=ttyS0",
                       bios = bios, accel = accel, start = false }
  g.m.console:fail_on("Kernel panic")
  g.m:nic { vlan = v, model = NIC }
  g.m:start()
  return g
end

function Lemu:expect(pat, timeout)
  local r = table.pack(self.m.console:expect(pat, { timeout = timeout or 20000 }))
  if r.n > 1 then return table.unpack(r, 2, r.n) end
  return r[1]
end
function Lemu:send(line) self.m.console:send(line .. "\n") end
function Lemu:close()
  self.m:close()
  self.u:close()
  self.v:close()
end

-- ---- QEMU: a child process; console through a FIFO (stdin) and a file (stdout) ----

local Qemu = {}
Qemu.__index = Qemu

local nqemu = 0
local function boot_qemu()
  nqemu = nqemu + 1
  local probe = lemu.tcp_listen("127.0.0.1", 0)   -- a free port for the hostfwd
  local _, port = probe:address()
  probe:close()
  local con = ("%s/con%d"):format(dir, nqemu)
  local _, st = H.sh(("mkfifo %s.in && : > %s.out"):format(con, con))
  assert(st == 0, "guestnet: cannot make " .. con .. ".in")
  local g = setmetatable({ con = con, port = port, text = "", pos = 0, read = 0 }, Qemu)
  -- <> opens the FIFO read-write, which never blocks; QEMU's messages go to .log
  g.argv = { QEMU, "-M", "virt", "-m", "256M", "-nographic", "-bios", "default",
    "-kernel", IMAGE, "-initrd", INITRD, "-append", "console=ttyS0",
    "-netdev", ("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:%d"):format(port, GUEST_PORT),
    "-device", QEMU_NIC }
  local argv = { "/bin/sh", "-c", 'exec "$@" <>"$0.in" >"$0.out" 2>"$0.log"', con }
  table.move(g.argv, 1, #g.argv, #argv + 1, argv)
  g.t0 = lemu.now()
  g.proc = lemu.process(argv)
  qemus[g.proc] = true
  g.input = assert(io.open(con .. ".in", "r+"))
  g.input:setvbuf("no")
  g.output = assert(io.open(con .. ".out", "rb"))
  return g
end

function Qemu:expect(pat, timeout)
  timeout = timeout or 20000
  local deadline = lemu.now() + timeout
  while true do
    local r = table.pack(self.text:find(pat, self.pos + 1))
    if r[1] then
      self.pos = r[2]
      if r.n > 2 then return table.unpack(r, 3, r.n) end
      return self.text:sub(r[1], r[2])
    end
    local st = self.proc:status()
    if st or lemu.now() >= deadline then
      error(("%s waiting for %q; console ends with:\n%s"):format(st and ("QEMU exited with status "
        .. st .. ": " .. (H.read(self.con .. ".log") or "")) or ("timed out after " .. timeout ..
        " ms"), pat, self.text:sub(-800)), 0)
    end
    lemu.sleep(5)
    self.output:seek("set", self.read)   -- also clears stdio's sticky end of file
    local more = self.output:read("a") or ""
    self.read = self.read + #more
    self.text = self.text .. more
  end
end
function Qemu:send(line) self.input:write(line .. "\n") end
function Qemu:close()
  if self.proc then
    if not self.proc:status() then self.proc:kill(9) pcall(self.proc.wait, self.proc, { timeout = 5000 }) end
    qemus[self.proc] = nil
    self.proc:close()
    self.proc = nil
  end
  if self.input then self.input:close() self.input = nil end
  if self.output then self.output:close() self.output = nil end
end

-- ---- the measurements, the same on both ----

-- Runs a shell command; returns its output and exit status. The typed line holds "END$((6*7))",
-- never "END42", so its echo cannot match.
local function run(g, cmd, timeout)
  g:send(cmd .. "; echo END$((6*7)) $?")
  local out, st = g:expect("\n(.-)END42 (%d+)", timeout)
  g:expect("# ", 5000)
  return out, tonumber(st)
end

-- Boots a guest and takes its lease; g.lease is the ms from start to the lease line.
local function lease(boot)
  local g = boot()
  local ok, err = pcall(function()
    g:expect("lemu%-guest: ready", 60000)
    g:expect("# ", 10000)
    g:send("udhcpc -i eth0 -q -n; echo END$((6*7)) $?")
    g:expect("lease of [%d%.]+ obtained", 20000)
    g.lease = lemu.now() - g.t0
    g:expect("END42 0", 10000)
    g:expect("# ", 5000)
  end)
  if not ok then g:close() error(err, 0) end
  return g
end

local function median(t)
  local s = table.move(t, 1, #t, 1, {})
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

-- Boots up to RUNS times (fewer if they eat the budget); returns the median lease time in
-- seconds, the number of runs, and the last guest, still running.
local function leases(boot)
  local t, g = {}, nil
  local t0 = lemu.now()
  for i = 1, RUNS do
    if g then g:close() end
    g = lease(boot)
    t[i] = g.lease / 1000
    if lemu.now() - t0 > BUDGET_MS then break end
  end
  return median(t), #t, g
end

-- Guest -> host: bytes and seconds from the host's accept to the guest's end of file.
local function g2h(g, mb)
  local l = lemu.tcp_listen("127.0.0.1", 0)
  local _, port = l:address()
  local ok, secs, got = pcall(function()
    g:send(("dd if=/dev/zero bs=64k count=%d 2>/dev/null | nc 10.0.2.2 %d; echo END$((6*7)) $?")
      :format(mb * 16, port))
    local c = l:accept { timeout = 20000 }
    local t0, n = lemu.now(), 0
    while true do
      local d, err = c:read { timeout = 20000 }
      if not d then
        if err ~= "eof" then error("guest -> host: " .. tostring(err), 0) end
        break
      end
      n = n + #d
    end
    local s = (lemu.now() - t0) / 1000
    c:close()
    g:expect("END42 %d+", 20000)
    g:expect("# ", 5000)
    return s, n
  end)
  l:close()
  if not ok then error(secs, 0) end
  if got ~= mb * 1048576 then error(("guest -> host: %d of %d bytes arrived"):format(got, mb * 1048576), 0) end
  return secs
end

-- Host -> guest through the hostfwd: seconds from connect until the guest closes, having read
-- everything (its nc exits on end of file; a reset would be an error, not "eof").
local function h2g(g, mb)
  local _, st = run(g, ("nc -l -p %d >/dev/null & while ! netstat -ltn | grep -q ':%d '; do usleep 10000; done")
    :format(GUEST_PORT, GUEST_PORT))
  assert(st == 0, "host -> guest: the guest's nc is not listening")
  local chunk = ("z"):rep(65536)
  local t0 = lemu.now()
  local s = lemu.tcp_connect("127.0.0.1", g.port, { timeout = 5000 })
  for _ = 1, mb * 16 do
    s:write(chunk)
    if s:writing() > 4 * 65536 then s:drain { timeout = 20000 } end
  end
  s:drain { timeout = 20000 }
  s:shutdown()
  while true do
    local d, err = s:read { timeout = 20000 }
    if not d then
      s:close()
      if err ~= "eof" then error("host -> guest: " .. tostring(err), 0) end
      break
    end
  end
  return (lemu.now() - t0) / 1000
end

local function ping(g)
  local out, st = run(g, "ping -c 1 10.0.2.2 >/dev/null; ping -c 10 -i 0.2 10.0.2.2", 20000)
  local avg = out:match("round%-trip min/avg/max = [%d%.]+/([%d%.]+)/")
  if st ~= 0 or not avg then error("ping failed:\n" .. out, 0) end
  return tonumber(avg)
end

-- Everything for one emulator; a failure is reported and the other still runs.
local function measure(boot, what)
  local r = {}
  local g
  local ok, err = pcall(function()
    r.lease, r.runs, g = leases(boot)
    r.g2h = G2H_MB * 8 * 1.048576 / g2h(g, G2H_MB)
    r.h2g = H2G_MB * 8 * 1.048576 / h2g(g, H2G_MB)
    r.ping = ping(g)
    if g.u then r.counters = g.u:info().counters end
  end)
  if g then g:close() end
  if not ok then print(("  %s: failed: %s"):format(what, err)) r.failed = true end
  return r
end

local ok, err = pcall(function()
  local _, st = H.sh("gzip -dc guest/images/Image.gz > " .. IMAGE)
  assert(st == 0, "guestnet: cannot decompress the kernel")
  local L = measure(boot_lemu, "lemu")
  -- The interpreter too, where the default engine is the translator (x86-64 hosts).
  local engine = lemu.machine { ram = "256M", kernel = IMAGE, start = false }
  local default_accel = engine:info().accel
  engine:close()
  local LI
  if default_accel ~= "interp" then LI = measure(function() return boot_lemu(nil, "interp") end, "lemu -accel interp") end
  local LS
  if H.read(OPENSBI) then
    local okl, m, n, g = pcall(leases, function() return boot_lemu("default") end)
    if g then g:close() end
    LS = okl and { lease = m, runs = n } or nil
    if not okl then print("  lemu + OpenSBI: failed: " .. m) end
  end
  local Q
  if H.have(QEMU) then Q = measure(boot_qemu, "qemu") end
  local qv = Q and (H.sh(QEMU .. " --version"):match("version ([%d%.]+)")) or "?"

  print("  256M, 1 hart, " .. NIC .. " on user-net; lemu: built-in SBI, -accel " .. default_accel .. (Q and
    ("; qemu-system-riscv64 %s: its default OpenSBI (-bios default)"):format(qv) or ""))
  if not Q then print("  " .. QEMU .. " is not installed (qemu-system-misc): lemu's figures alone") end
  local function row(label, l, q, unit, fmt, lower)
    local function v(x) return x and fmt:format(x) or ("%" .. #fmt:format(0) .. "s"):format("-") end
    local s = ("  %-38s lemu %s %s"):format(label, v(l), unit)
    if q then
      s = s .. ("   qemu %s %s"):format(v(q.v), unit)
      if l and q.v then
        s = s .. ("   lemu%sqemu %.2fx%s"):format(lower and "/" or "÷", l / q.v,
          lower and " the time (lower is better)" or " the rate (higher is better)")
      end
    end
    print(s)
  end
  local n = math.min(L.runs or RUNS, Q and Q.runs or RUNS)
  row(("DHCP lease from start, median of %d:"):format(n), L.lease, Q and { v = Q.lease }, "s", "%6.3f", true)
  if LS then row(("  the same, lemu on OpenSBI, of %d:"):format(LS.runs), LS.lease, Q and { v = Q.lease }, "s", "%6.3f", true) end
  row(("TCP guest -> host, nc, %d MiB:"):format(G2H_MB), L.g2h, Q and { v = Q.g2h }, "Mbit/s", "%6.1f", false)
  row(("TCP host -> guest, nc -l, %d MiB:"):format(H2G_MB), L.h2g, Q and { v = Q.h2g }, "Mbit/s", "%6.1f", false)
  row("ping 10.0.2.2, avg of 10:", L.ping, Q and { v = Q.ping }, "ms", "%6.3f", true)
  if LI and not LI.failed then
    row("lemu -accel interp: DHCP lease, median:", LI.lease, Q and { v = Q.lease }, "s", "%6.3f", true)
    row("  TCP guest -> host:", LI.g2h, Q and { v = Q.g2h }, "Mbit/s", "%6.1f", false)
    row("  TCP host -> guest:", LI.h2g, Q and { v = Q.h2g }, "Mbit/s", "%6.1f", false)
    row("  ping 10.0.2.2:", LI.ping, Q and { v = Q.ping }, "ms", "%6.3f", true)
  end
  if L.counters then
    local c = L.counters
    print(("  lemu user-net: %d frames from the guest, %d to it, %d + %d dropped, %d DNS queries")
      :format(c.rx.frames, c.tx.frames, c.rx.drops, c.tx.drops, c.dns.queries))
  end
  print(("  (%.0f s in all)"):format((lemu.now() - started) / 1000))
  if L.failed or (Q and Q.failed) or (LI and LI.failed) then error("guestnet: a measurement failed (above)", 0) end
end)

cleanup()
setmetatable(guard, nil)
lemu.closeall()
if not ok then error(err, 0) end
