-- Repeated backend warnings are rate-limited per backend with a count: a socket client in a
-- reconnect loop against a listener that closes every connection (loopback only) logs its first
-- drops, then one "N more like this" line a window, and the counts add up to every drop.
local H = require "helper"

local SCRIPT = [[
local n = 0
local l = lemu.tcp_listen("127.0.0.1", 0, function(s) n = n + 1 s:close() end)
local v = lemu.vlan "loop"
local c = v:socket { connect = "127.0.0.1:" .. select(2, l:address()), reconnect = 0.01 }
lemu.sleep(1500)
local drops = c:info().dropped
c:close()
l:close()
io.stderr:write(("drops %d\n"):format(drops))
]]

describe("backend warnings", function()
  it("are rate-limited per backend in a reconnect loop, with a count of the rest", function()
    local dir = H.tmpdir()
    H.write(dir .. "/loop.lua", SCRIPT)
    local out, status = H.lemu({ dir .. "/loop.lua" }, "LEMU_LOG_WINDOW_MS=300")
    H.sh("rm -rf " .. H.quote(dir))
    assert.equal(0, status, out)
    local drops = tonumber(out:match("drops (%d+)"))
    assert.is_truthy(drops, out)
    assert.is_true(drops > 30, "the loop reconnected only " .. tostring(drops) .. " times: " .. out)
    local shown, counted, summaries = 0, 0, 0
    for line in out:gmatch("[^\n]+") do
      if line:match("dropped peer .*closed by the peer") and not line:match("more like this in the last") then
        shown = shown + 1
      end
      local n = line:match("^lemu: sock: warning: (%d+) more like this in the last %d+%.%d s %(last: .*dropped peer")
      if n then counted, summaries = counted + tonumber(n), summaries + 1 end
    end
    assert.equal(5, shown, out)   -- the first five
    assert.matches("closed by the peer (more like this are counted, not shown)", out, 1, true)
    -- about one summary per 300 ms window of the 1.5 s run, and nothing lost from the count
    assert.is_true(summaries >= 2 and summaries <= 7, out)
    assert.equal(drops, shown + counted, out)
    local _, lines = out:gsub("\n", "")
    assert.is_true(lines < 15, out)
  end)
end)
