-- -nographic in a real terminal (tmux): the console in raw mode, typed input reaching the guest,
-- and QEMU's escapes: C-a h prints help, C-a x quits.
local H = require "helper"

local function tmux(args) return H.sh("tmux -L lemu-board-spec " .. args) end
local function screen() return (tmux("capture-pane -p -t vm")) end

local function wait_for(pattern, ms)
  local deadline = os.time() + math.ceil((ms or 5000) / 1000) + 1
  repeat
    local s = screen()
    if s:find(pattern) then return s end
    H.sh("sleep 0.05")
  until os.time() > deadline
  error("screen never showed " .. pattern .. ":\n" .. screen())
end

describe("-nographic in a terminal", function()
  if not H.have("tmux") then
    it("needs tmux", function() pending("tmux is not installed") end)
    return
  end
  local dir
  setup(function()
    dir = H.tmpdir()
    tmux("kill-server")
    tmux("new-session -d -s vm -x 100 -y 30 '" .. H.lemu_env .. H.lemu_bin
      .. " -M virt -nographic -bios none -kernel guest/board/echo.elf; echo status=$?; sleep 30'")
    wait_for("echo>")
  end)
  teardown(function()
    tmux("kill-server")
    H.sh("rm -rf " .. H.quote(dir))
  end)

  it("passes typed keys to the guest's UART", function()
    tmux("send-keys -t vm 'hello there' Enter")
    wait_for("HELLO THERE")
  end)

  it("prints help on C-a h and quits on C-a x with status 0", function()
    tmux("send-keys -t vm C-a h")
    wait_for("C%-a x%s+exit lemu")
    tmux("send-keys -t vm C-a x")
    wait_for("lemu: terminated")
    wait_for("status=0")
  end)
end)
