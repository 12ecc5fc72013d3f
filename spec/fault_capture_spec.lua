-- Injected fault: a pcap capture whose file cannot grow (a file size limit, `ulimit -f`, in a child
-- lemu with SIGXFSZ ignored, so its writes fail with EFBIG as on a full disk). The capture says so
-- once, keeps the records it wrote whole, counts what it lost, and the VLAN goes on.
local H = require "helper"

-- The child: two endpoints on a VLAN with a capture; N frames one way, then the capture's info and
-- whether every frame still arrived.
local CHILD = [[
local lemu = require "lemu"
local file, n = arg[1], tonumber(arg[2])
local v = lemu.vlan(0)
local a, b = v:endpoint { name = "a" }, v:endpoint { name = "b", queue = n + 10 }
local cap = v:capture { file = file }
do
  for i = 1, n do
    a:send(string.rep("\255", 6) .. "\82\84\0\0\0\1" .. "\136\181" .. string.pack(">I4", i) .. string.rep("x", 80))
  end
  local got = 0
  for i = 1, n do
    local f = b:recv { timeout = 2000 }
    if string.unpack(">I4", f, 15) == i then got = got + 1 end
  end
  local i = cap:info()
  print(("frames=%d errors=%d error=%s got=%d"):format(i.frames, i.errors, tostring(i.error), got))
  local ok, err = pcall(cap.close, cap)
  print("close: " .. tostring(ok) .. " " .. tostring(err))
end
lemu.closeall()
]]

-- Counts whole records in a pcap file; returns the count and whether the file ends on a record.
local function records(data)
  local pos, n = 25, 0
  while pos + 16 <= #data + 1 do
    local incl = string.unpack("<I4", data, pos + 8)
    if pos + 16 + incl > #data + 1 then return n, false end
    pos, n = pos + 16 + incl, n + 1
  end
  return n, pos == #data + 1
end

describe("fault: pcap capture on a file that cannot grow", function()
  it("warns once with the reason, keeps whole records, counts the rest; frames still flow", function()
    local d = H.tmpdir()
    local script, file = d .. "/child.lua", d .. "/cap.pcap"
    H.write(script, CHILD)
    -- 8 blocks of 512 bytes: the header and 35 records of 114 bytes fit, the 36th only in part
    local out, st = H.sh(("(trap '' XFSZ; ulimit -f 8; exec timeout -k 5 60 env %s %s %s %s 200 </dev/null)")
      :format(H.lemu_env, H.lemu_bin, H.quote(script), H.quote(file)))
    assert.equal(0, st, out)
    local frames, errors, why, got = out:match("frames=(%d+) errors=(%d+) error=([^\n]-) got=(%d+)")
    assert.equal("200", got, out)                         -- the VLAN carried every frame
    frames, errors = tonumber(frames), tonumber(errors)
    assert.equal(200, frames + errors, out)               -- every frame written or counted
    assert.is_true(frames > 0 and errors > 0, out)
    assert.equal("File too large", why, out)
    -- said once, naming the file and why
    local _, warns = out:gsub("cannot write: File too large", "")
    assert.equal(1, warns, out)
    assert.matches("capture: warning: '" .. file:gsub("%p", "%%%0") .. "': cannot write: File too large", out)
    assert.matches("close: false .-is incomplete: " .. errors .. " frames could not be written %(File too large%)", out)
    -- the file holds exactly the frames counted as written, the last one whole
    local data = H.read(file)
    assert.is_true(#data <= 8 * 512)
    local n, whole = records(data)
    assert.equal(frames, n)
    assert.is_true(whole, "the file ends inside a record")
    if H.have("tshark") then
      local o, s = H.sh("tshark -r " .. H.quote(file) .. " 2>/dev/null | wc -l")
      assert.equal(0, s)
      assert.equal(frames, tonumber(o))
    end
    H.sh("rm -rf " .. H.quote(d))
  end)
end)
