-- uboot: network boot of the default guest through Debian's S-mode U-Boot for QEMU's riscv64 virt
-- board (package u-boot-qemu), for specs: the firmware's path, a TFTP directory with the guest's
-- kernel and initrd, a U-Boot boot script (a legacy uImage of type script, built here so that
-- mkimage is not needed), and a console over files for emulators run from their command line.
local lemu = require "lemu"
local H = require "helper"
local G = require "guest"

local U = {}

U.BIN = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
U.OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"   -- what -bios default loads

-- Whether U-Boot, OpenSBI and the guest images are there; false and why otherwise.
function U.available()
  if not H.read(U.BIN) then
    return false, "u-boot-qemu is not installed (" .. U.BIN .. " is missing; scripts/deps.sh installs it)"
  end
  if not H.read(U.OPENSBI) then return false, "opensbi is not installed (" .. U.OPENSBI .. " is missing)" end
  if not G.available() then return false, "guest/images is not in this tree" end
  return true
end

-- CRC-32 (IEEE 802.3, as zlib and U-Boot compute it).
local crctab = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do c = (c & 1 ~= 0) and (0xedb88320 ~ (c >> 1)) or (c >> 1) end
  crctab[i] = c
end
function U.crc32(s)
  local c = 0xffffffff
  for i = 1, #s do c = crctab[(c ~ s:byte(i)) & 0xff] ~ (c >> 8) end
  return c ~ 0xffffffff
end

-- The script as `mkimage -A riscv -O linux -T script -C none -n NAME -d FILE` makes it: a 64-byte
-- legacy header (magic 0x27051956, header and data CRCs), then the length table of a one-part
-- multi-image (the script's length, 0) and the script. U-Boot's `source` checks both CRCs.
function U.script_image(text, name)
  local data = string.pack(">I4I4", #text, 0) .. text
  local function header(hcrc)
    return string.pack(">I4I4I4I4I4I4I4BBBBc32", 0x27051956, hcrc, 0, #data, 0, 0, U.crc32(data),
      5, 26, 6, 0, ((name or "boot script") .. ("\0"):rep(32)):sub(1, 32))   -- linux, riscv, script, none
  end
  return header(U.crc32(header(0))) .. data
end

-- A temporary TFTP directory with the guest's kernel, decompressed (Image) and as committed
-- (Image.gz), and its initrd; files = { name = contents } adds more. Returns the directory and
-- the sizes of what it holds by name.
function U.tftpdir(files)
  local dir = H.tmpdir()
  local _, st = H.sh(("gzip -dc %s > %s/Image && cp %s %s %s/"):format(H.quote(G.IMAGE), dir,
    H.quote(G.IMAGE), H.quote(G.INITRD), dir))
  assert(st == 0, "uboot: cannot fill " .. dir)
  for name, s in pairs(files or {}) do H.write(dir .. "/" .. name, s) end
  local sizes = {}
  for _, name in ipairs { "Image", "Image.gz", "initramfs.cpio.gz" } do sizes[name] = #H.read(dir .. "/" .. name) end
  return dir, sizes
end

-- ------------------------------------------------------------ an emulator run from its command line

-- A console over files, for an emulator started from its command line with -nographic: its stdin
-- is DIR/con.in, a FIFO opened here read-write before the emulator starts (so neither open blocks
-- and the emulator never sees end of file), and its output goes to DIR/con.out, a file read from an
-- offset. `timeout -k` bounds the run even if the spec dies. Waits poll the file every 20 ms.
local Con = {}
Con.__index = Con

-- What ends every wait at once when the console shows it: a kernel panic, a trap U-Boot did not expect.
U.FAILS = { "Kernel panic", "Unhandled exception" }

function U.spawn(argv, limit_s)
  local dir = H.tmpdir()
  local _, st = H.sh("mkfifo " .. dir .. "/con.in && : > " .. dir .. "/con.out")
  assert(st == 0, "uboot: cannot prepare " .. dir)
  local c = setmetatable({ dir = dir, out = dir .. "/con.out", pos = 0, name = argv[1] }, Con)
  c.input = assert(io.open(dir .. "/con.in", "r+"))
  c.input:setvbuf("no")
  local cmd = { "/bin/sh", "-c", 'out=$1; shift; exec "$@" <"$0" >"$out" 2>&1', dir .. "/con.in", c.out,
                "timeout", "-k", "5", tostring(limit_s or 180) }
  for _, a in ipairs(argv) do cmd[#cmd + 1] = a end
  c.proc = lemu.process(cmd)
  return c
end

function Con:log() return H.read(self.out) or "" end

-- Waits for text matching the Lua pattern after what earlier waits consumed; returns the match's
-- captures (or the match). A timeout or the emulator's exit raises an error with the console's tail.
function Con:expect(pat, timeout)
  timeout = timeout or 20000
  local deadline = lemu.now() + timeout
  while true do
    local text = self:log():gsub("\r", "")
    local r = { text:find(pat, self.pos + 1) }
    if r[1] then
      self.pos = r[2]
      if #r > 2 then return table.unpack(r, 3) end
      return text:sub(r[1], r[2])
    end
    local st, failed = self.proc:status(), nil
    for _, f in ipairs(U.FAILS) do
      if text:find(f, 1, true) then failed = f end
    end
    if st or failed or lemu.now() >= deadline then
      error(("uboot: %s %s waiting for %q; console ends with:\n%s"):format(self.name,
        failed and ("printed '" .. failed .. "'") or st and ("exited with status " .. st)
        or ("timed out after " .. timeout .. " ms"), pat, text:sub(-2000)), 2)
    end
    lemu.sleep(20)
  end
end

function Con:send(s) self.input:write(s) end

-- The exit status, waiting up to timeout ms.
function Con:wait(timeout) return (self.proc:wait { timeout = timeout or 15000 }) end

function Con:close()
  if self.input then self.input:close(); self.input = nil end
  if self.proc then
    if not self.proc:status() then
      self.proc:kill(15)      -- timeout passes it on to the emulator
      if not pcall(self.proc.wait, self.proc, { timeout = 5000 }) then self.proc:kill(9) end
    end
    self.proc:close()
    self.proc = nil
  end
  if self.dir then H.sh("rm -rf " .. H.quote(self.dir)); self.dir = nil end
end

-- Wraps a lemu machine's console in the same interface (expect(pattern, ms), send), failing every
-- wait on U.FAILS.
function U.machine_console(m)
  for _, f in ipairs(U.FAILS) do m.console:fail_on(f) end
  return { expect = function(_, pat, timeout)
             local r = table.pack(m.console:expect(pat, { timeout = timeout or 20000 }))
             if r.n > 1 then return table.unpack(r, 2, r.n) end
             return r[1]
           end,
           send = function(_, s) m.console:send(s) end,
           log = function() return m.console:recent() end }
end

-- Runs a shell command in the guest behind a console of either kind; returns its output (without
-- the echoed line) and exit status. The typed line holds "END$((6*7))", never "END42".
function U.run(c, cmd, timeout)
  c:send(cmd .. "; echo END$((6*7)) $?\n")
  local out, st = c:expect("\n(.-)END42 (%d+)", timeout or 20000)
  c:expect("# ", 5000)
  return out, tonumber(st)
end

-- ------------------------------------------------------------ shared by the emulator specs

U.UBOOT_M = "/usr/lib/u-boot/qemu-riscv64/u-boot.bin"   -- M-mode U-Boot, run as -bios
U.LONG = 90000    -- a boot stage on a loaded 2-core machine (or under ASan)

-- An emulator's argv: lemu under ASan keeps leak checking; QEMU never gets the ASan runtime.
function U.argv(bin, args)
  local a
  if bin == H.lemu_bin then
    a = os.getenv("LEMU_ASAN_OPTIONS") and { "env", "ASAN_OPTIONS=" .. os.getenv("LEMU_ASAN_OPTIONS"), bin } or { bin }
  else
    a = { "env", "-u", "LD_PRELOAD", "-u", "ASAN_OPTIONS", bin }
  end
  for _, x in ipairs(args) do a[#a + 1] = x end
  return a
end

function U.random_bytes(n)
  local t = {}
  for i = 1, n do t[i] = string.char(math.random(0, 255)) end
  return table.concat(t)
end

-- A host HTTP/1.0 server on 127.0.0.1 answering every GET with body; returns it and its port.
function U.http_server(body)
  local l = lemu.tcp_listen("127.0.0.1", 0, function(s)
    s:read_until("\r\n\r\n", { timeout = 10000 })
    s:write(("HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n"):format(#body) .. body)
    s:drain { timeout = 10000 }
    s:close()
  end)
  return l, select(2, l:address())
end

-- A host listener on 127.0.0.1 that keeps what one connection sends, in got[1].
function U.sink_server(got)
  local l = lemu.tcp_listen("127.0.0.1", 0, function(s)
    got[1] = s:read_all { timeout = 30000 }
    s:close()
  end)
  return l, select(2, l:address())
end

-- U-Boot from its command line on bin ("smode": behind OpenSBI as -kernel; "mmode": as -bios),
-- with the -device NIC on a user-net that serves dir by TFTP, driven at its prompt: pci enum, the
-- listing and 00:01.0's header, the commands in before (virtio scan), dhcp, ping 10.0.2.2,
-- tftpboot of payload.bin and its crc32, poweroff. Returns what was seen, for comparing.
function U.netboot(bin, firmware, dir, device, before)
  local args = { "-M", "virt", "-m", "256M", "-smp", "1", "-nographic" }
  if firmware == "smode" then
    for _, x in ipairs { "-bios", "default", "-kernel", U.BIN } do args[#args + 1] = x end
  else
    for _, x in ipairs { "-bios", U.UBOOT_M } do args[#args + 1] = x end
  end
  for _, x in ipairs { "-netdev", "user,id=n0,tftp=" .. dir, "-device", device } do args[#args + 1] = x end
  local c = U.spawn(U.argv(bin, args))
  local seen = {}
  local ok, err = pcall(function()
    c:expect("U%-Boot 2023%.01", U.LONG)
    c:expect("Hit any key to stop autoboot", U.LONG)
    c:send(" ")
    c:expect("\n=> ")
    -- A command's output: from the end of its echoed line to the next prompt at a line's start
    -- (crc32 prints "==> " inside its line).
    local function cmd(line, timeout)
      c:send(line .. "\n")
      return (c:expect("\n(.-)%f[^\n]=> ", timeout or 20000):gsub("\n$", ""))
    end
    cmd("pci enum")
    seen.pci = cmd("pci")
    seen.header = cmd("pci header 0.1.0")
    for _, b in ipairs(before or {}) do cmd(b) end
    cmd("setenv autoload no")
    local out = cmd("dhcp", U.LONG)
    seen.lease = out:match("DHCP client bound to address ([%d.]+)")
    out = cmd("ping 10.0.2.2", U.LONG)
    seen.dev = out:match("Using (%S+) device")
    seen.ping = out:match("host 10%.0%.2%.2 is alive") ~= nil
    out = cmd("tftpboot ${kernel_addr_r} payload.bin", U.LONG)
    seen.bytes = tonumber(out:match("Bytes transferred = (%d+)"))
    seen.crc = cmd("crc32 ${kernel_addr_r} ${filesize}"):match("==> (%x+)")
    c:send("poweroff\n")
    seen.status = c:wait(20000)
  end)
  c:close()
  if not ok then error(err, 0) end
  return seen
end

return U
