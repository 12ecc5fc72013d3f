-- bootstress.lua: boot reliability. Boots the default guest LEMU_BENCH_BOOTS times (default 50)
-- through lemu's built-in SBI and as many times through Debian's OpenSBI (-bios default), one
-- machine at a time, and counts the boots whose shell answers console input after the prompt (an
-- `echo` of a fresh token, read back). A boot that never prompts, or prompts and then ignores the
-- console (the old latched-SEIP hang), counts as failed, and its console tail is shown. Reports
-- answered/total per path, the median time to the answer, and the host's load average before and
-- after, since a loaded host is where such hangs show. Figures only: nothing here fails.
-- LEMU_BENCH_SMP sets the harts (default 1).
package.path = "spec/?.lua;" .. package.path
local lemu = require "lemu"
local H = require "helper"
io.stdout:setvbuf("line")

local BOOTS = tonumber(os.getenv("LEMU_BENCH_BOOTS") or "") or 50
local SMP = tonumber(os.getenv("LEMU_BENCH_SMP") or "") or 1
local IMAGE, INITRD = "guest/images/Image.gz", "guest/images/initramfs.cpio.gz"
local OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"

if not H.read(IMAGE) or not H.read(INITRD) then
  print("  bootstress: guest/images are missing: skipped")
  return
end

local function loadavg()
  local f = io.open("/proc/loadavg")
  local s = f and f:read("l") or "?"
  if f then f:close() end
  return s:match("^(%S+ %S+ %S+)") or s
end

local function median(t)
  if #t == 0 then return 0 end
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  return s[(#s + 1) // 2]
end

-- One boot; returns the ms from creation to the echoed answer, or nil and why.
local function boot(bios, i)
  local t0 = lemu.now()
  local m = lemu.machine{ ram = "256M", smp = SMP, kernel = IMAGE, initrd = INITRD,
                          append = "console=ttyS0", bios = bios }
  m.console:fail_on("Kernel panic")
  local ok, err = pcall(function()
    m.console:expect("# ", { timeout = 30000 })
    local n = math.random(1 << 30)
    -- The typed line says $((40+2)), so only the shell's output matches "answer-42-".
    m.console:send(("echo answer-$((40+2))-%d-%d\n"):format(i, n))
    m.console:expect(("answer%%-42%%-%d%%-%d"):format(i, n), { timeout = 10000 })
  end)
  local ms = lemu.now() - t0
  m:stop()
  m:close()
  if ok then return ms end
  return nil, tostring(err)
end

local function run(label, bios)
  if bios and not H.read(OPENSBI) then
    print(("  %-22s skipped: %s is missing (Debian's opensbi package)"):format(label, OPENSBI))
    return
  end
  local answered, times, first_err = 0, {}, nil
  for i = 1, BOOTS do
    local ms, err = boot(bios, i)
    if ms then
      answered = answered + 1
      times[#times + 1] = ms
    elseif not first_err then
      first_err = ("boot %d: %s"):format(i, err)
    end
  end
  print(("  %-22s %d/%d answered, median %.0f ms to the answer"):format(label, answered, BOOTS,
                                                                         median(times)))
  if first_err then print("    first failure: " .. first_err:sub(1, 400)) end
end

-- The host program runs this file as a task, so the machines' waits just work.
print(("  smp %d, %d boots per path; load average before: %s"):format(SMP, BOOTS, loadavg()))
run("built-in SBI", nil)
run("Debian's OpenSBI", "default")
print(("  load average after: %s"):format(loadavg()))
