-- qemu_guest: boots lemu's default guest image (guest/images) on qemu-system-riscv64 and drives
-- its console, for specs and benchmarks that check the image or compare lemu with QEMU.
--
-- The console is QEMU's `pipe` chardev: QEMU reads the guest's input from DIR/con.in (a FIFO that
-- we write) and appends the guest's output to DIR/con.out (a plain file that we read from an
-- offset), so neither side ever blocks lemu's loop. Waits poll the file every 20 ms with
-- lemu.sleep and time out with an error that names the awaited text and shows the console's tail.
local lemu = require "lemu"
local H = require "helper"

local Q = {}
Q.__index = Q

Q.qemu = "qemu-system-riscv64"
Q.kernel_gz = "guest/images/Image.gz"
Q.initrd = "guest/images/initramfs.cpio.gz"

function Q.available()
  if not H.have(Q.qemu) then return false, Q.qemu .. " is not installed (Debian: qemu-system-misc)" end
  if not H.read(Q.kernel_gz) or not H.read(Q.initrd) then return false, "guest/images are missing" end
  return true
end

-- A TCP port on 127.0.0.1 that nothing listens on now (QEMU fails to start if it is taken since).
local function free_port()
  local used = H.sh("ss -Hltn")
  for _ = 1, 50 do
    local p = math.random(20000, 60000)
    if not used:find(":" .. p .. "%s") then return p end
  end
  error("qemu_guest: no free TCP port found")
end

-- Boots the guest. opts.hostfwd = guest TCP port to forward from a free host port (its number
-- is then g.port); opts.netdev / opts.device replace the default user-net and virtio-net card;
-- opts.kernel / opts.initrd boot other images (a kernel named *.gz is decompressed first, QEMU 7.2
-- loads no compressed kernel); opts.smp and opts.ram set -smp and -m (default 1 and 256M);
-- opts.args appends QEMU arguments. Returns once QEMU runs; wait for g:expect("lemu%-guest: ready").
function Q.boot(opts)
  opts = opts or {}
  local dir = H.tmpdir()
  local g = setmetatable({ dir = dir, pos = 0, out = dir .. "/con.out" }, Q)
  local kernel = opts.kernel or Q.kernel_gz
  local prep = "mkfifo " .. dir .. "/con.in && : > " .. dir .. "/con.out"
  if kernel:match("%.gz$") then
    prep = "gzip -dc " .. H.quote(kernel) .. " > " .. dir .. "/Image && " .. prep
    kernel = dir .. "/Image"
  end
  local _, st = H.sh(prep)
  assert(st == 0, "qemu_guest: cannot prepare " .. dir)
  local netdev = opts.netdev or "user,id=n0"
  if opts.hostfwd then
    g.port = free_port()
    netdev = netdev .. (",hostfwd=tcp:127.0.0.1:%d-:%d"):format(g.port, opts.hostfwd)
  end
  -- through sh so that QEMU's own messages land in DIR/qemu.log for the error of a failed wait;
  -- under make asan the specs' interpreter preloads ASan's runtime, which QEMU must not inherit
  local argv = { "/bin/sh", "-c", 'exec env -u LD_PRELOAD -u ASAN_OPTIONS "$@" >"$0" 2>&1', dir .. "/qemu.log",
    Q.qemu, "-M", "virt", "-m", opts.ram or "256M", "-smp", tostring(opts.smp or 1), "-bios", "default",
    "-display", "none", "-monitor", "none", "-serial", "pipe:" .. dir .. "/con",
    "-kernel", kernel, "-initrd", opts.initrd or Q.initrd,
    "-append", opts.append or "console=ttyS0 earlycon",
    "-netdev", netdev, "-device", opts.device or "virtio-net-device,netdev=n0" }
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  g.t0 = lemu.now()
  g.proc = lemu.process(argv)
  -- Opened for reading and writing ("r+"), a FIFO never blocks in open, whether or not QEMU has
  -- opened its end yet; what we write waits in the pipe until QEMU reads it.
  g.input = assert(io.open(dir .. "/con.in", "r+"))
  g.input:setvbuf("no")
  return g
end

-- Everything the guest printed so far.
function Q:log() return H.read(self.out) or "" end

-- Waits until the console shows text matching the Lua pattern after what earlier expects consumed;
-- consumes up to the end of the match and returns the match's captures (or the whole match).
function Q:expect(pat, timeout)
  timeout = timeout or 20000
  local deadline = lemu.now() + timeout
  while true do
    local text = self:log()
    local r = { text:find(pat, self.pos + 1) }
    if r[1] then
      self.pos = r[2]
      if #r > 2 then return table.unpack(r, 3) end
      return text:sub(r[1], r[2])
    end
    local st = self.proc:status()
    if st or lemu.now() >= deadline then
      local why = st and ("QEMU exited with status " .. st .. ": " .. (H.read(self.dir .. "/qemu.log") or ""))
        or ("timed out after " .. timeout .. " ms")
      error(("qemu_guest: %s waiting for %q; console ends with:\n%s"):format(why, pat,
        text:sub(-1500)), 2)
    end
    lemu.sleep(20)
  end
end

-- Types a line at the console.
function Q:send(line) self.input:write(line .. "\n") end

-- Runs a shell command in the guest and waits for it to finish; returns its output (without the
-- echoed command line) and its exit status. Relies on the prompt being "# ".
function Q:run(cmd, timeout)
  self.serial = (self.serial or 0) + 1
  local tag = "@@" .. self.serial
  -- a command put in the background ends with "&", which "; " may not follow
  local sep = cmd:match("&%s*$") and " " or "; "
  self:send(cmd .. sep .. "echo " .. tag .. "=$?")
  -- the echo of the typed line contains "tag=$?", never "tag=<digits>"
  local start = self.pos
  local status = self:expect(tag .. "=(%d+)", timeout)
  local text = self:log():sub(start + 1, self.pos)
  local out = text:gsub("^.-\n", "", 1):gsub("[^\n]*" .. tag .. "=%d+$", "")
  self:expect("# ", 5000)
  return out, tonumber(status)
end

function Q:close()
  if self.input then self.input:close(); self.input = nil end
  if self.proc then
    if not self.proc:status() then self.proc:kill(9); pcall(self.proc.wait, self.proc, { timeout = 5000 }) end
    self.proc:close()
    self.proc = nil
  end
  if self.dir then H.sh("rm -rf " .. H.quote(self.dir)); self.dir = nil end
end

return Q
