-- lemu.machine: machines as Lua objects. lemu.machine{...} builds (and by default starts) a board;
-- m.console is its serial console: send, expect (Lua patterns, returning the match and captures),
-- wait_line, lines, a log file and failure strings. Everything that waits does so in a task with a
-- timeout whose error names what was awaited and shows the console's last output.
local cmachine = require "lemu.cmachine"

return function(lemu)
  local Machine, Console = {}, {}
  local MAX_PENDING = 1 << 20   -- bytes of console output kept for expect/wait_line
  Machine.__index, Console.__index = Machine, Console
  -- __name: tostring() says "machine: 0x..." and the REPL's help knows the kind (lua/lemu/help.lua).
  Machine.__name, Console.__name = "machine", "console"
  local count = 0

  -- "256M", "1G", "512K", "4096B", 256 (MiB, as QEMU's -m) -> bytes
  local function ram_bytes(v)
    if v == nil then return nil end
    if type(v) == "number" then
      if v ~= math.floor(v) or v <= 0 then error("ram: expected a positive size, got " .. v, 3) end
      return math.tointeger(v * 1024 * 1024)
    end
    local n, unit, b = tostring(v):match("^(%d+)%s*([KkMmGgTt]?)([Bb]?)$")
    if not n then error(("ram: cannot read size '%s' (use e.g. 256M or 1G)"):format(v), 3) end
    local mul = ({ k = 1 << 10, m = 1 << 20, g = 1 << 30, t = 1 << 40 })[unit:lower()]
    if not mul then mul = b ~= "" and 1 or (1 << 20) end
    return math.tointeger(tonumber(n) * mul)
  end

  local function tail(s, n)
    s = s:sub(-(n or 200))
    return (s:gsub("[%c]", function(c) return c == "\n" and "\\n" or ("\\x%02x"):format(c:byte()) end))
  end

  -- The console: output accumulates in buf (consumed by expect up to pos); complete lines also go
  -- to a queue for the line iterator.
  local function new_console(m)
    local c = setmetatable({ machine = m, buf = "", pos = 1, chunks = {}, pending = 0,
                             partial = "", waiters = {},
                             lines_q = lemu.queue("a console line", 100000), fails = {},
                             all = "" }, Console)
    return c
  end

  function Console:_output(s)
    if self.log then self.log:write(s) self.log:flush() end
    for _, f in ipairs(self.taps or {}) do f(s) end
    -- Output is kept in chunks and joined only when a wait looks at it, so a chatty guest nobody
    -- waits on costs no copying; unconsumed output is capped at MAX_PENDING bytes.
    self.chunks[#self.chunks + 1] = s
    self.pending = self.pending + #s
    if self.pending > 2 * MAX_PENDING then self:_join() end
    self.all = (self.all .. s):sub(-4096)
    local text = self.partial .. s
    local start = 1
    for line, e in text:gmatch("([^\n]*)\n()") do
      self.lines_q:put((line:gsub("\r$", "")))
      start = e
    end
    self.partial = text:sub(start)
    for _, f in ipairs(self.fails) do
      if not self.failed and self.all:find(f.pattern, 1, f.plain) then
        self.failed = ("console printed %q, registered as a failure"):format(f.pattern)
      end
    end
    self:_check()
  end

  function Console:_join()
    if #self.chunks > 0 then
      self.buf = self.buf:sub(self.pos) .. table.concat(self.chunks)
      self.pos, self.chunks, self.pending = 1, {}, 0
    end
    if #self.buf - self.pos + 1 > MAX_PENDING then
      self.buf, self.pos = self.buf:sub(-MAX_PENDING), 1
    end
  end

  function Console:_check()
    local i = 1
    while i <= #self.waiters do
      local w = self.waiters[i]
      if self.failed or self.machine._exited then
        table.remove(self.waiters, i)
        w.wake(false)
      else
        local r = table.pack(w.try())
        if r[1] then
          table.remove(self.waiters, i)
          w.wake(true, r)
        else
          i = i + 1
        end
      end
    end
  end

  -- Waits until try() returns results; raises on timeout, a registered failure, or machine exit.
  function Console:_wait(what, opts, try)
    local r = table.pack(try())
    if r[1] then return r end
    if self.failed then error(self.failed .. " (while waiting for " .. what .. ")", 3) end
    if self.machine._exited then
      error(("the machine exited (status %s) while waiting for %s; console's last output: \"%s\"")
        :format(self.machine:_exit_text(), what, tail(self.all)), 3)
    end
    local ok, done, res = pcall(lemu.wait, what, opts, function(wake)
      local w = { try = try, wake = wake }
      table.insert(self.waiters, w)
      return function()
        for k, x in ipairs(self.waiters) do if x == w then table.remove(self.waiters, k) break end end
      end
    end)
    if not ok then
      error(("%s; console's last output: \"%s\""):format(tostring(done):gsub("^[^:]*:%d+: ", ""), tail(self.all)), 3)
    end
    if not done then
      if self.failed then error(self.failed .. " (while waiting for " .. what .. ")", 3) end
      error(("the machine exited (status %s) while waiting for %s; console's last output: \"%s\"")
        :format(self.machine:_exit_text(), what, tail(self.all)), 3)
    end
    return res
  end

  -- expect(pattern, {timeout=, plain=}) -> the match, then the pattern's captures
  function Console:expect(pattern, opts)
    if type(pattern) ~= "string" then error("console:expect: pattern must be a string", 2) end
    opts = opts or {}
    local r = self:_wait(("console output matching '%s'"):format(pattern), opts, function()
      self:_join()
      local f = table.pack(self.buf:find(pattern, self.pos, opts.plain))
      if not f[1] then return nil end
      self.pos = f[2] + 1
      return self.buf:sub(f[1], f[2]), table.unpack(f, 3, f.n)
    end)
    return table.unpack(r, 1, r.n)
  end

  -- wait_line(pattern, opts) -> the first whole line (after what expect consumed) containing pattern
  function Console:wait_line(pattern, opts)
    opts = opts or {}
    local r = self:_wait(("a console line matching '%s'"):format(pattern), opts, function()
      self:_join()
      local p = self.pos
      while true do
        local e = self.buf:find("\n", p, true)
        if not e then return nil end
        local line = self.buf:sub(p, e - 1):gsub("\r$", "")
        if line:find(pattern, 1, opts.plain) then self.pos = e + 1 return line end
        p = e + 1
      end
    end)
    return r[1]
  end

  -- for line in m.console:lines{timeout=} do ... end (ends when the machine has exited)
  function Console:lines(opts)
    return function()
      if #self.lines_q == 0 and self.machine._exited then return nil end
      local v = self.lines_q:get(opts)
      if v == false then return nil end
      return v
    end
  end

  function Console:send(s)
    self.machine.h:send(s)
    return self
  end

  -- run(cmd, {timeout=, prompt=}) -> output, exit status: runs a command at the guest's shell (a
  -- POSIX shell at its prompt) and waits for it. The typed line ends in "END$((6*7)) $?", which the
  -- shell prints as "END42 <status>" but the echo never shows as such, so the echoed line cannot
  -- match. The output is what the command printed, without the echoed line, with CRLF as LF.
  -- A timeout (default 20 s), the machine's exit or a fail_on string raises an error naming cmd.
  function Console:run(cmd, opts)
    if type(cmd) ~= "string" then error("console:run: cmd must be a string", 2) end
    if cmd:find("\n") then error(("console:run(%q): cmd must be one line"):format(cmd), 2) end
    opts = opts or {}
    local timeout = opts.timeout
    if timeout == nil then timeout = 20000 end
    local t0 = lemu.now()
    self:send(cmd .. "; echo END$((6*7)) $?\n")
    local ok, a, out, st = pcall(self.expect, self, "\n(.-)END42 (%d+)\r?\n", { timeout = timeout })
    if ok and opts.prompt ~= false then
      local left = timeout and math.max(1000, timeout - (lemu.now() - t0)) or false
      ok, a = pcall(self.expect, self, opts.prompt or "# ", { timeout = left, plain = true })
    end
    if not ok then
      local msg = tostring(a):gsub("^[^:]*:%d+: ", "")
      if msg:find("^timed out") then
        msg = ("did not finish within %d ms (%s)"):format(timeout, msg)
      end
      error(("console:run(%q): %s"):format(cmd, msg), 2)
    end
    return (out:gsub("\r\n", "\n")), tonumber(st)
  end

  -- A string (Lua pattern unless plain) that fails every wait on this console once printed.
  function Console:fail_on(pattern, plain)
    table.insert(self.fails, { pattern = pattern, plain = plain })
    self:_output("")
    return self
  end

  -- Appends all console output to a file.
  function Console:log_to(path)
    if self.log then self.log:close() end
    self.log = assert(io.open(path, "ab"))
    return self
  end

  -- The output so far (the last 4 KiB).
  function Console:recent() return self.all end

  -- m.console:attach(): a live console on this terminal, from a task (a line at the REPL). The
  -- terminal goes raw: keystrokes (Ctrl-C too) go to the guest and its output streams to stdout,
  -- until Ctrl-] (telnet's escape key) gives the terminal back; then it returns "detached", or
  -- "exited" if the machine ended first. Other waits on the console keep working meanwhile.
  function Console:attach()
    local m = self.machine
    if m._exited then error(("machine %s has exited (status %s)"):format(m.name, m:_exit_text()), 2) end
    local out = io.stdout
    local function tap(s) out:write(s) out:flush() end
    out:write(("[%s's console; Ctrl-] returns]\r\n"):format(m.name))
    out:flush()
    local why = lemu.wait(("Ctrl-] on %s's console"):format(m.name), { timeout = false }, function(wake)
      if not m.h:attach_stdin("detach", function() wake("detached") end) then
        error("console:attach: standard input is not a terminal or a pipe", 0)
      end
      self.taps = self.taps or {}
      -- a machine from -nographic/-serial stdio already writes its console to stdout
      if not m._stdout then table.insert(self.taps, tap) end
      local function on_exit() wake("exited") end
      table.insert(m._exit_waiters, on_exit)
      return function()
        m.h:detach_stdin()
        for i, f in ipairs(self.taps) do if f == tap then table.remove(self.taps, i) break end end
        for i, f in ipairs(m._exit_waiters) do if f == on_exit then table.remove(m._exit_waiters, i) break end end
      end
    end)
    out:write("\r\n")
    out:flush()
    return why
  end

  function Machine:start() self.h:start() return self end
  function Machine:pause() self.h:pause() return self end
  function Machine:resume() self.h:resume() return self end
  function Machine:reset() self.h:reset() return self end
  function Machine:stop(status) self.h:stop(status or 0) return self end
  function Machine:state() return self.h:state() end
  function Machine:exit_status() return self._status end
  -- The status, and why lemu ended the machine if it did (a stall), for error messages.
  function Machine:_exit_text()
    return self._why and ("%s, %s"):format(tostring(self._status), self._why) or tostring(self._status)
  end
  function Machine:dtb() return self.h:dtb() end
  local minfo_mt = { __tostring = function(t)
    local lines = { ("%s: %s board, %d hart%s, %d instructions retired"):format(t.name, t.type, t.smp,
                    t.smp == 1 and "" or "s", t.instret) }
    for i, h in ipairs(t.harts) do
      lines[#lines + 1] = ("  hart %d: %s at pc 0x%x in %s-mode, %d retired"):format(i - 1, h.state, h.pc, h.priv, h.instret)
    end
    for _, d in ipairs(t.devices) do lines[#lines + 1] = "  " .. tostring(d):gsub("\n", "\n  ") end
    return table.concat(lines, "\n")
  end }
  -- m:info(): {name=, type=, smp=, dtb_addr=, instret=, harts={{pc=, priv=, state=, instret=}},
  -- devices={dev:info()...}}; tostring() gives a readable listing.
  function Machine:info()
    local t = self.h:info()
    t.name = self.name
    t.devices = {}
    for i, d in ipairs(self.devices or {}) do t.devices[i] = d:info() end
    return setmetatable(t, minfo_mt)
  end

  function Machine:dumpdtb(path)
    local f = assert(io.open(path, "wb"))
    f:write(self.h:dtb())
    f:close()
  end

  -- Waits for the guest to end the machine; returns its exit status.
  function Machine:wait_exit(opts)
    if self._exited then return self._status end
    return lemu.wait(("machine %s to exit"):format(self.name), opts, function(wake)
      table.insert(self._exit_waiters, wake)
    end)
  end

  function Machine:close()
    if self.console.log then self.console.log:close() self.console.log = nil end
    self.h:close()
  end

  -- Devices, plugged before the machine starts (lemu.machine{start=false} or the constructor's
  -- nics/rng/disks options). The models come from one registry in C (board/mdevices.c): every
  -- way to plug a device (m:device{}, m:nic{}, m:rng(), m:disk{}, -device, -nic, -net nic) and
  -- every help listing reads it.
  local cdevices = require "lemu.cdevices"
  local models, by_name = cdevices.models(), {}
  for _, md in ipairs(models) do
    by_name[md.name] = md
    for _, a in ipairs(md.aliases) do by_name[a] = md end
  end
  Machine.models = models
  local function model_line(md)
    return #md.aliases > 0 and ("%s (aliases: %s)"):format(md.name, table.concat(md.aliases, ", ")) or md.name
  end
  local function models_of(kind)
    local t = {}
    for _, md in ipairs(models) do if md.kind == kind then t[#t + 1] = model_line(md) end end
    return t
  end
  Machine.nic_models = models_of("nic")

  -- A PCI device's addr=: its slot on bus 0 ("5", "0x5", "05.0": hex, function 0 only), as QEMU's
  -- addr= reads it; an integer is the slot itself. Without addr= a PCI device takes the first
  -- free slot from 1 up, in plugging order.
  local function pci_slot(addr)
    if addr == nil then return nil end
    if math.type(addr) == "integer" then return addr end
    local slot, fn = tostring(addr):lower():match("^0?x?(%x+)%.?(%x?)$")
    if not slot or (fn ~= "" and fn ~= "0") then
      error(("addr=%s: lemu takes a PCI slot in hex, function 0 (e.g. addr=5 or addr=05.0)"):format(tostring(addr)), 0)
    end
    return tonumber(slot, 16)
  end

  -- A device handle: what m:device{} and its shorthands return.
  local Device = {}
  Device.__index, Device.__name = Device, "device"
  lemu._classes = { machine = Machine, console = Console, device = Device }
  local info_mt = { __tostring = function(t)
    local s = ("%s: %s on %s slot %d"):format(t.name, t.model, t.bus, t.slot)
    local p = t.port
    if p then
      s = s .. ("\n  %s, %s, %s: rx %d frames %d bytes %d drops, tx %d frames %d bytes %d drops"):format(
        t.mac, t.vlan and ("vlan " .. t.vlan) or "not on a VLAN", t.link and "link up" or "link down",
        p.rx.frames, p.rx.bytes, p.rx.drops, p.tx.frames, p.tx.bytes, p.tx.drops)
    end
    if t.counters then
      local names = {}
      for k in pairs(t.counters) do names[#names + 1] = k end
      table.sort(names)
      for i, k in ipairs(names) do names[i] = ("%s %d"):format(k, t.counters[k]) end
      if #names > 0 then s = s .. "\n  " .. table.concat(names, ", ") end
    end
    return s
  end }
  -- dev:info(): {name=, model=, bus=, kind=, slot=} and for NICs mac=, link=, vlan=, port={rx=,
  -- tx=, ...}, and counters={...} for models that keep their own; tostring() gives a readable
  -- listing.
  function Device:info()
    local t = cdevices.info(self.machine.h, self.index)
    t.name, t.mac = self.name, self.mac
    if t.port then
      t.link = cdevices.link(self.machine.h, self.index)
      t.vlan = self.vlan and self.vlan:name() or nil
      t.rx, t.tx = t.port.rx, t.port.tx      -- as nic:info() always had them
    end
    return setmetatable(t, info_mt)
  end
  function Device:link(up) return cdevices.link(self.machine.h, self.index, up) end
  -- nic:impair(spec): impairments on the NIC's port (vlan:impair; nil removes them). dir="out"
  -- (the default) acts on what the guest sends, "in" on what it receives.
  function Device:impair(spec)
    local t = cdevices.info(self.machine.h, self.index)
    if not t.port then error(("impair: %s is not a NIC"):format(self.name), 2) end
    if not self.vlan then error(("impair: %s is not on a VLAN"):format(self.name), 2) end
    return self.vlan:impair(t.port.name, spec)
  end
  function Device:attach(vlan) cdevices.attach(self.machine.h, self.index, vlan) self.vlan = vlan end
  function Device:__tostring()
    return ("lemu device %s (%s%s)"):format(self.name, self.model, self.mac and (", " .. self.mac) or "")
  end

  local common_keys = { model = true, id = true }
  -- m:device{model=, id=, ...the model's options} -> device. NICs: vlan=, mac=, name= (default
  -- "<machine>.<id or ethN>", the port's name in VLAN listings and captures), link=false to
  -- start unplugged, legacy=; disks: file=, readonly=; all virtio-mmio ones: legacy=.
  function Machine:device(o)
    if type(o) ~= "table" or type(o.model) ~= "string" then
      error("device: expected {model=NAME, ...} (lemu has: " .. table.concat(models_of("nic"), ", ") ..
            ", " .. table.concat(models_of("rng"), ", ") .. ", " .. table.concat(models_of("disk"), ", ") .. ")", 2)
    end
    local md = by_name[o.model]
    if not md then
      local names = {}
      for _, x in ipairs(models) do names[#names + 1] = x.name end
      error(("device: unknown model '%s' (lemu has: %s)"):format(o.model, table.concat(names, ", ")), 2)
    end
    local valid = {}
    for _, k in ipairs(md.options) do valid[k] = true end
    local bad = require("lemu.cmdline").unknown_key(o, function(k) return valid[k] or common_keys[k] end)
    if bad ~= nil then
      local list = {}
      for _, x in ipairs(md.options) do list[#list + 1] = x end
      table.sort(list)
      error(("%s: unknown option '%s' (valid: %s)"):format(md.name, tostring(bad), table.concat(list, ", ")), 2)
    end
    self.devices = self.devices or {}
    local same = 0                     -- devices of this kind so far: eth0, eth1, rng0, disk0...
    for _, d in ipairs(self.devices) do if d.kind == md.kind then same = same + 1 end end
    local p = {}
    for k, v in pairs(o) do p[k] = v end
    if p.addr ~= nil then
      local ok, slot = pcall(pci_slot, p.addr)
      if not ok then error(slot, 2) end
      p.addr = slot
    end
    local default = ("%s.%s"):format(self.name, o.id or ((md.kind == "nic" and "eth" or md.kind) .. same))
    if md.kind == "nic" and not p.name then p.name = default end
    local ok, index, mac = pcall(cdevices.plug, self.h, md.name, p)
    if not ok then error(index, 2) end
    local d = setmetatable({ machine = self, index = index, model = md.name, kind = md.kind, id = o.id,
                             name = p.name or default,
                             mac = mac, vlan = o.vlan }, Device)
    if md.kind == "nic" and o.link == false then d:link(false) end
    table.insert(self.devices, d)
    if md.kind == "nic" then
      self.nics = self.nics or {}
      table.insert(self.nics, d)
    end
    return d
  end

  local function shorthand(kind, default, what)
    return function(self, o)
      local p = {}
      for k, v in pairs(o or {}) do p[k] = v end
      p.model = p.model or default
      local md = by_name[p.model]
      if md and md.kind ~= kind then error(("%s: '%s' is not a %s model"):format(what, p.model, what), 2) end
      if not md then
        error(("%s: unknown model '%s' (lemu has: %s)"):format(what, tostring(p.model), table.concat(models_of(kind), ", ")), 2)
      end
      local ok, d = pcall(Machine.device, self, p)
      if not ok then error((tostring(d):gsub("^[^:]*:%d+: ", "")), 2) end
      return d
    end
  end
  -- m:nic{model="virtio-net", vlan=v, mac="52:54:00:..", link=true, ...} -> device
  Machine.nic = shorthand("nic", "virtio-net-device", "nic")
  -- m:rng{}: a virtio-rng fed from the host's entropy -> device
  Machine.rng = shorthand("rng", "virtio-rng-device", "rng")
  -- m:disk{file=, readonly=false}: a virtio-blk disk on a raw image file -> device
  local disk = shorthand("disk", "virtio-blk-device", "disk")
  function Machine:disk(o)
    if type(o) ~= "table" or type(o.file) ~= "string" then error("disk: expected {file=PATH}", 2) end
    local ok, d = pcall(disk, self, o)
    if not ok then error((tostring(d):gsub("^[^:]*:%d+: ", "")), 2) end
    return d
  end

  function Machine:__tostring() return ("lemu.machine %s (%s)"):format(self.name, self.h:state()) end

  -- QEMU's options for the machine; they gather into one lemu.machine{} call made once all
  -- options are read (cmdline.apply's `started` step).
  local cmdline = require "lemu.cmdline"
  local function mopts(state)
    if not state.machine_opts then
      state.machine_opts = {}
      table.insert(state.started, function(st) Machine._from_cmdline(st) end)
    end
    return state.machine_opts
  end
  local function simple(name, key, help)
    cmdline.options[name] = { arg = "FILE", help = help, apply = function(v, st) mopts(st)[key] = v end }
  end
  local function machine_opt(v, st)
    local o = mopts(st)
    for item in v:gmatch("[^,]+") do
      local k, val = item:match("^([%w%-_]+)=(.*)$")
      if not k then o.type = item
      elseif k == "type" then o.type = val
      elseif k == "dumpdtb" then o.dumpdtb = val
      else error(("unknown machine property '%s' (lemu knows type= and dumpdtb=)"):format(k)) end
    end
    if o.type ~= "virt" and o.type ~= "spike" then
      error(("unknown machine type '%s' (lemu has virt and spike)"):format(tostring(o.type)))
    end
  end
  cmdline.options.M = { arg = "TYPE[,dumpdtb=FILE]", help = "the board: virt (QEMU's layout) or spike",
                        apply = machine_opt }
  cmdline.options.machine = { arg = "TYPE[,dumpdtb=FILE]", help = "same as -M", apply = machine_opt }
  cmdline.options.m = { arg = "SIZE", help = "guest RAM: 256M, 1G, or a number of MiB (default 128M)",
                        apply = function(v, st) mopts(st).ram = ram_bytes(v:match("^size=(.*)$") or v) end }
  cmdline.options.smp = { arg = "N", help = "number of harts (default 1)", apply = function(v, st)
    local n = tonumber(v:match("^cpus=(%d+)$") or v:match("^(%d+)$"))
    if not n then error(("cannot read a hart count from '%s'"):format(v)) end
    mopts(st).smp = math.tointeger(n)
  end }
  cmdline.options.accel = { arg = "interp|jit", help = "execution engine: jit (translated blocks; the default on x86-64 hosts) or interp (the interpreter; the default elsewhere)",
    apply = function(v, st)
      if v ~= "interp" and v ~= "jit" then
        error(("unknown accelerator '%s' (lemu has interp and jit)"):format(v))
      end
      mopts(st).accel = v
    end }
  simple("bios", "bios", "firmware (ELF or raw), none, or default (OpenSBI); omitted: built-in SBI")
  simple("kernel", "kernel", "kernel: ELF, raw RISC-V Image (at 0x80200000) or gzip of either")
  simple("initrd", "initrd", "initial ramdisk")
  simple("dtb", "dtb", "a device tree to use instead of the generated one")
  cmdline.options.append = { arg = "CMDLINE", help = "kernel command line (/chosen/bootargs)",
                             apply = function(v, st) mopts(st).append = v end }
  cmdline.options.nographic = { help = "console on this terminal (raw mode; C-a h for help, C-a x quits)",
                                apply = function(_, st) mopts(st).nographic = true end }
  cmdline.options.serial = { arg = "stdio|none|file:F", help = "where the UART goes (default stdio)",
    apply = function(v, st)
      if v ~= "stdio" and v ~= "mon:stdio" and v ~= "none" and v ~= "null" and not v:match("^file:.") then
        error(("unknown serial backend '%s' (lemu has stdio, none, file:FILE)"):format(v))
      end
      mopts(st).serial = v
    end }
  cmdline.options.display = { arg = "none", help = "accepted for QEMU compatibility (lemu has no display)",
    apply = function(v) if v ~= "none" then error("lemu has no display; only 'none' is accepted") end end }

  -- Devices and NICs on the command line, QEMU's way. They are plugged when the machine is built,
  -- after every -netdev has been applied, so the order of options does not matter. The QEMU
  -- properties each kind of model takes on -device:
  local qemu_props = {
    nic = { { "netdev", "ID of a -netdev (the NIC's VLAN)" }, { "mac", "MAC address" },
            { "id", "device id (names the NIC's port: <machine>.<id>)" },
            { "romfile", "accepted and ignored: lemu's NICs have no option ROM" } },
    rng = { { "id", "device id" }, { "rng", "ignored: the host's entropy feeds it" } },
    disk = { { "drive", "ID of a -drive ...,if=none" }, { "id", "device id" } },
  }
  local pci_props = { { "addr", "PCI slot on bus 0, hex (5, 05.0); default: the first free from 1" } }
  local function device_list()
    local lines = {}
    for _, md in ipairs(models) do lines[#lines + 1] = ("  %-20s %s"):format(md.name, md.help) end
    return table.concat(lines, "\n")
  end
  local function devices(st)
    local o = mopts(st)
    o.devices = o.devices or {}
    return o.devices
  end
  local function nic_model(model)
    if model == nil then return "virtio-net-device" end
    if model == "help" or model == "?" then return "help" end
    local md = by_name[model]
    -- A PCI model goes to the first free PCI slot. (QEMU 7.2's virt board ignores -nic and
    -- -net nic models with a warning; lemu plugs them, as QEMU's PC boards do.)
    if md and md.kind == "nic" then return md.name end
    error(("model=%s: unknown NIC model (lemu has: %s)"):format(model, table.concat(Machine.nic_models, ", ")), 0)
  end
  local function model_help(st)
    io.stdout:write("Available NIC models:\n", table.concat(Machine.nic_models, "\n"), "\n")
    st.exit_status = 0
    mopts(st)
  end
  cmdline.options.device = { arg = "DRIVER[,opt=...]", help = "a device (-device help lists them)",
    apply = function(v, st)
      local o = cmdline.parse_opts(v, "driver")
      local d = o.driver
      if d == "help" or d == "?" then
        io.stdout:write("Devices lemu has:\n", device_list(), "\n")
        st.exit_status = 0
        return
      end
      local md = by_name[d or ""]
      if not md then
        local names = {}
        for _, x in ipairs(models) do names[#names + 1] = x.name end
        error(("unknown device '%s' (lemu has: %s; -device help describes them)"):format(tostring(d), table.concat(names, ", ")), 0)
      end
      local props = {}
      for _, pr in ipairs(qemu_props[md.kind]) do props[#props + 1] = pr end
      if md.bus == "pci" then for _, pr in ipairs(pci_props) do props[#props + 1] = pr end end
      if o.help ~= nil or v:match(",%s*help$") or v:match(",%s*%?$") then
        local lines = { md.name .. " options:" }
        for _, pr in ipairs(props) do lines[#lines + 1] = ("  %-8s %s"):format(pr[1] .. "=", pr[2]) end
        io.stdout:write(table.concat(lines, "\n"), "\n")
        st.exit_status = 0
        return
      end
      local keys = { "driver" }
      for _, pr in ipairs(props) do keys[#keys + 1] = pr[1] end
      cmdline.check_keys("-device " .. md.name, o, keys)
      if md.kind == "disk" and not o.drive then
        error(("-device %s needs drive=ID (from -drive ...,id=ID)"):format(md.name), 0)
      end
      if o.romfile and o.romfile ~= "" then
        io.stderr:write(("lemu: warning: -device %s,romfile=%s: ignored (lemu's NICs have no option ROM; U-Boot and Linux on RISC-V do not use one)\n")
          :format(md.name, o.romfile))
      end
      table.insert(devices(st), { kind = md.kind, model = md.name, netdev = o.netdev, mac = o.mac,
                                  drive = o.drive, id = o.id, addr = o.addr and pci_slot(o.addr) })
    end }
  cmdline.options.drive = { arg = "file=F[,if=virtio|none][,id=ID][,format=raw][,readonly=on]",
    help = "a raw disk image: if=virtio plugs it, if=none leaves it for -device virtio-blk-device",
    apply = function(v, st)
      local o = cmdline.parse_opts(v, "file")
      cmdline.check_keys("-drive", o, { "file", "if", "id", "format", "readonly", "media", "cache" })
      if not o.file then error("-drive needs file=IMAGE", 0) end
      if o.format and o.format ~= "raw" then error(("format=%s: lemu reads raw images only"):format(o.format), 0) end
      local d = { file = o.file, readonly = cmdline.bool("readonly", o.readonly) or false }
      st.drives = st.drives or {}
      if o.id then st.drives[o.id] = d end
      if (o["if"] or "virtio") == "virtio" then
        table.insert(devices(st), { kind = "disk", model = "virtio-blk-device", disk = d })
      end
    end }
  -- -nic user[,model=virtio-net-device][,mac=M][,user options]: a user-net and its NIC in one go.
  cmdline.options.nic = { arg = "user[,model=M][,mac=M][,...]", help = "a NIC with its own backend (user, socket, ...)",
    apply = function(v, st)
      local o, all = cmdline.parse_opts(v, "type")
      local model = nic_model(o.model)
      if model == "help" then return model_help(st) end
      -- -nic none: no NIC (QEMU's way to drop a board's default one; lemu's boards have none)
      if o.type == "none" then
        cmdline.check_keys("-nic none", o, { "type" })
        return
      end
      local fn = cmdline.netdev_kinds and cmdline.netdev_kinds[o.type or ""]
      if not fn then
        local names = { "none" }
        for k in pairs(cmdline.netdev_kinds or {}) do names[#names + 1] = k end
        table.sort(names)
        error(("unknown backend type '%s' (valid: %s)"):format(tostring(o.type), table.concat(names, ", ")), 0)
      end
      st.nic_count = (st.nic_count or 0) + 1
      if o.id then cmdline.check_id(o.id) end
      local id = o.id or ("nic" .. st.nic_count)
      local mac = o.mac
      o.model, o.mac, o.id = nil, nil, id
      all.model, all.mac = nil, nil
      fn(o, all, st)
      table.insert(devices(st), { kind = "nic", model = model, netdev = id, mac = mac })
    end }
  -- -net none: no networking (QEMU's; lemu's boards have no default NIC to drop).
  cmdline.net_kinds.none = function(o)
    cmdline.check_keys("-net none", o, {})
  end
  -- -net nic[,vlan=N][,model=virtio][,macaddr=M]: the seed's legacy NIC on VLAN N.
  cmdline.net_kinds.nic = function(o, _, st)
    cmdline.check_keys("-net nic", o, { "vlan", "model", "macaddr", "name", "id", "netdev" })
    local model = nic_model(o.model)
    if model == "help" then return model_help(st) end
    table.insert(devices(st), { kind = "nic", model = model, vlan = o.vlan or "0", netdev = o.netdev,
                                mac = o.macaddr, id = o.name or o.id })
  end

  -- -global virtio-mmio.force-legacy=on|off: QEMU's switch between the version 1 (legacy) and
  -- version 2 register layouts, for every virtio-mmio device of the machine.
  cmdline.options.global = { arg = "virtio-mmio.force-legacy=on|off",
    help = "virtio-mmio register layout: on = legacy version 1, off = version 2 (lemu's default)",
    apply = function(v, st)
      local driver, prop, val = v:match("^([^.=]+)%.([^=]+)=(.*)$")
      if driver ~= "virtio-mmio" or prop ~= "force-legacy" then
        error("lemu knows only virtio-mmio.force-legacy=on|off", 0)
      end
      mopts(st).legacy = cmdline.bool("force-legacy", val)
    end }

  local function plug_devices(m, st)
    local legacy = (st.machine_opts or {}).legacy or false
    -- The transport's own options: -global virtio-mmio.force-legacy for virtio-mmio, addr= for PCI.
    local function bus_opts(d, o)
      if by_name[d.model].bus == "pci" then o.addr = d.addr else o.legacy = legacy end
      return o
    end
    for _, d in ipairs((st.machine_opts or {}).devices or {}) do
      if d.kind == "nic" then
        local vlan
        if d.netdev then
          local nd = cmdline.netdevs(st)[d.netdev]
          if not nd then error(("netdev=%s: no -netdev with that id"):format(d.netdev), 0) end
          vlan = nd.vlan
          if st.peers then st.peers[d.netdev] = true end
        elseif d.vlan then
          vlan = cmdline.vlan(d.vlan)
        else
          -- -device NIC without netdev=: a card on no VLAN, as QEMU makes it (with its warning)
          io.stderr:write(("lemu: warning: nic %s has no peer\n"):format(d.id or d.model))
        end
        m:device(bus_opts(d, { model = d.model, vlan = vlan, mac = d.mac, id = d.id }))
      elseif d.kind == "rng" then
        m:device(bus_opts(d, { model = d.model, id = d.id }))
      else
        local disk = d.disk or (st.drives or {})[d.drive]
        if not disk then error(("drive=%s: no -drive with that id"):format(d.drive), 0) end
        m:device(bus_opts(d, { model = d.model, id = d.id, file = disk.file, readonly = disk.readonly }))
      end
    end
  end

  function Machine._from_cmdline(st)
    local ok, err = pcall(Machine._build_from_cmdline, st)
    if not ok then
      if cmdline.is_usage_error(err) then error(err, 0) end
      cmdline.fail((tostring(err):gsub("^[^:]*:%d+: ", "")))
    end
  end

  function Machine._build_from_cmdline(st)
    if st.exit_status then return end   -- a help option answered already
    local o = st.machine_opts
    if o.dumpdtb then
      local m = lemu.machine{ type = o.type, ram = o.ram and (o.ram .. "B"), smp = o.smp, accel = o.accel,
                              bios = o.bios or "none", kernel = o.kernel, initrd = o.initrd,
                              append = o.append, dtb = o.dtb, start = false }
      m:dumpdtb(o.dumpdtb)
      m:close()
      io.stderr:write("lemu: info: dtb dumped to ", o.dumpdtb, ". Exiting.\n")
      st.exit_status = 0
      return
    end
    local m = lemu.machine{ type = o.type, ram = o.ram and (o.ram .. "B"), smp = o.smp, bios = o.bios, accel = o.accel,
                            kernel = o.kernel, initrd = o.initrd, append = o.append, dtb = o.dtb,
                            start = false, on_exit = function(_, status)
                              st.exit_status = status
                              lemu.core.stop()
                            end }
    plug_devices(m, st)
    local serial = o.serial or "stdio"
    local tostdio = serial == "stdio" or serial == "mon:stdio"
    local mux = tostdio and (o.nographic or serial == "mon:stdio") or false
    -- QEMU's monitor on stdin: alone (-monitor stdio), or behind Ctrl-A c on the console (mux).
    local on_monitor, attached = require("lemu.monitor").stdin_monitor(st, mux)
    local function quit()
      st.exit_status = 0
      lemu.core.stop()
    end
    if tostdio then m.h:serial_fd(1) m._stdout = true end
    if serial:match("^file:") then m.console.log = assert(io.open(serial:sub(6), "wb")) end
    if tostdio or on_monitor then
      local ok, tty = m.h:attach_stdin(mux, quit, on_monitor)
      if attached then attached(ok, tty) end
    end
    st.machine = m
    m:start()
  end

  -- Every machine made -> its number, for lemu.machines() and lemu.topology() (weak: a machine
  -- nobody holds goes away).
  lemu._machines = setmetatable({}, { __mode = "k" })

  local KNOWN = { ram = true, smp = true, accel = true, bios = true, kernel = true, initrd = true, append = true,
                  dtb = true, type = true, name = true, log = true, start = true, on_exit = true,
                  nics = true, rng = true, disks = true, devices = true }

  -- lemu.machine{ram=, smp=, accel=, bios=, kernel=, initrd=, append=, dtb=, type=, name=, log=,
  --              start=true, on_exit=fn(m, status), nics={{nic opts}...}, rng=true,
  --              disks={{disk opts}...}, devices={{model=, ...}...}}
  return function(opts)
    if type(opts) ~= "table" then error("lemu.machine: expected a table of options", 2) end
    local bad = require("lemu.cmdline").unknown_key(opts, KNOWN)
    if bad ~= nil then
      local names = {}
      for n in pairs(KNOWN) do names[#names + 1] = n end
      table.sort(names)
      error(("lemu.machine: unknown option '%s' (known: %s)"):format(tostring(bad), table.concat(names, ", ")), 2)
    end
    count = count + 1
    local m = setmetatable({ name = opts.name or ("m" .. count), _exit_waiters = {} }, Machine)
    m.console = new_console(m)
    if opts.log then m.console:log_to(opts.log) end
    local copts = { type = opts.type, ram_bytes = ram_bytes(opts.ram), smp = opts.smp, accel = opts.accel, bios = opts.bios,
                    kernel = opts.kernel, initrd = opts.initrd, append = opts.append, dtb = opts.dtb }
    local h, err = cmachine.new(copts, function(s) m.console:_output(s) end, function(status, why)
      m._exited, m._status, m._why = true, status, why
      m.console.lines_q:put(false)
      m.console:_check()
      local ws = m._exit_waiters
      m._exit_waiters = {}
      for _, w in ipairs(ws) do w(status) end
      if opts.on_exit then lemu.spawn(opts.on_exit, m, status) end
    end)
    if not h then error(err, 2) end
    m.h = h
    -- Listed only once built: a machine that failed to build is not one of lemu.machines().
    lemu._machines[m] = count
    local ok, derr = pcall(function()
      for _, n in ipairs(opts.nics or {}) do m:nic(n) end
      if opts.rng then m:rng(type(opts.rng) == "table" and opts.rng or nil) end
      for _, d in ipairs(opts.disks or {}) do m:disk(d) end
      for _, d in ipairs(opts.devices or {}) do m:device(d) end
    end)
    if not ok then h:close() error(derr, 2) end
    if opts.start ~= false then h:start() end
    return m
  end
end
