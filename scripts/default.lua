-- default.lua: lemu's default topology, what `make run` starts.
-- Until the machine and network layers land, it shows the runtime at work: tasks that wait on
-- timers and on a child process while the loop keeps running, then a clean exit.
local lemu = require "lemu"

print(("lemu %s: runtime up"):format(lemu.version))

local ticks = 0
local ticker = lemu.every(100, function()
  ticks = ticks + 1
  print(("  tick %d at %.0f ms"):format(ticks, lemu.now()))
end)

local p = lemu.process({ "/bin/sh", "-c", "sleep 0.35; echo '  child process: hello from the host'" })
local status = p:wait { timeout = 5000 }
ticker:close()
print(("child exited with status %d after %d ticks; nothing left to run, so lemu exits"):format(status, ticks))
