-- The REPL driven in a real terminal (tmux): evaluation, multi-line input, history, a timer that
-- fires and prints while the prompt waits for input, help, Tab completion, Ctrl-C, the result
-- printer and a live guest console (m.console:attach()).
local H = require "helper"

-- A tmux server of this run's own (two suites at once on one machine must not share one).
local SOCKET = "lemu-spec-" .. H.sh("echo $PPID"):gsub("%s+", "")
local function tmux(args) return H.sh("tmux -L " .. SOCKET .. " " .. args) end

local function capture()
  return (tmux("capture-pane -p -t repl"))
end

local function wait_for(pattern, ms)
  local deadline = os.time() + math.ceil((ms or 5000) / 1000) + 1
  repeat
    local screen = capture()
    if screen:find(pattern) then return screen end
    H.sh("sleep 0.05")
  until os.time() > deadline
  error("screen never showed " .. pattern .. ":\n" .. capture())
end

describe("the REPL in a terminal", function()
  local home
  if not H.have("tmux") then
    it("needs tmux", function() pending("tmux is not installed") end)
    return
  end

  setup(function()
    home = H.tmpdir()
    tmux("kill-server")
    tmux("new-session -d -s repl -x 120 -y 30 'HOME=" .. home .. " " .. H.lemu_bin .. "'")
    wait_for("leaves%)\n>")
  end)
  teardown(function()
    tmux("kill-server")
    H.sh("rm -rf " .. H.quote(home))
  end)

  it("evaluates expressions and statements", function()
    tmux("send-keys -t repl '1 + 41' Enter")
    wait_for("\n42\n")
    tmux("send-keys -t repl 'y = 6' Enter 'y * 7, \"x\"' Enter")
    wait_for("\n42%s+x\n")
  end)

  it("continues an incomplete chunk on a '>>' prompt", function()
    tmux("send-keys -t repl 'function f(a)' Enter 'return a .. \"!\" end' Enter 'f(\"hi\")' Enter")
    wait_for(">> ")
    wait_for("\nhi!\n")
  end)

  it("keeps a chunk open over several '>>' lines until it is complete", function()
    -- -l: tmux would take a lone "end" for the End key.
    for _, l in ipairs({ "for i = 1, 2 do", "local sq = i * i", "print('sq' .. sq)", "end" }) do
      tmux("send-keys -t repl -l " .. H.quote(l))
      tmux("send-keys -t repl Enter")
    end
    wait_for("\nsq1\nsq4\n")
  end)

  it("prints a timer callback while the prompt waits, keeping the typed text", function()
    -- `lemu` is a global at the prompt: no require needed.
    tmux("send-keys -t repl 'lemu.after(300, function() print(\"TIMER\" .. \" FIRED\") end)' Enter")
    tmux("send-keys -t repl 'partial'")
    local screen = wait_for("TIMER FIRED", 5000)
    assert.matches("TIMER FIRED\n> partial", screen)
    tmux("send-keys -t repl C-u")
  end)

  it("prints the help topics for a bare `help`, and a topic's section from the docs", function()
    tmux("send-keys -t repl C-l 'help' Enter")
    wait_for("help%(obj%) or help \"topic\" prints the docs' text")
    wait_for("\n  vlan +lemu%.vlan")
    tmux("send-keys -t repl C-l 'help \"vlan\"' Enter")
    wait_for("%(docs/netstack%.md%)\n>%s*$")
    assert.matches("vlan:info%(%)` returns", capture())
    tmux("send-keys -t repl C-l 'help(lemu.vlan(7))' Enter")   -- an object: its kind's section
    wait_for("%(docs/netstack%.md%)\n>%s*$")
    tmux("send-keys -t repl C-l 'help(lemu.vlan(7).capture)' Enter")   -- a method: where the docs name it
    assert.matches("%-%- docs/netstack%.md, Capture", wait_for("vlan:capture:\n"))
  end)

  it("completes globals, fields and methods with Tab", function()
    tmux("send-keys -t repl C-l 'lemu.vl' Tab")
    wait_for("> lemu%.vlan%s*$")
    tmux("send-keys -t repl C-u 'v3 = lemu.vlan(3)' Enter C-l 'v3:cap' Tab")
    wait_for("> v3:capture%s*$")
    tmux("send-keys -t repl C-u 'compl_marker = 1' Enter C-l 'compl_m' Tab")
    wait_for("> compl_marker%s*$")
    tmux("send-keys -t repl C-u")
  end)

  it("cancels the running chunk with Ctrl-C, and its timeout never fires later", function()
    tmux("send-keys -t repl C-l 'lemu.vlan(0):endpoint{}:recv{timeout = 1500}' Enter")
    H.sh("sleep 0.5")
    tmux("send-keys -t repl C-c")
    wait_for("interrupted\n>%s*$", 1000)   -- at once, not when the 1.5 s timeout would end it
    tmux("send-keys -t repl 'lemu.sleep(60000)' Enter")
    H.sh("sleep 0.3")
    tmux("send-keys -t repl C-c")
    wait_for("%^C interrupted\n>%s*$", 2000)
    tmux("send-keys -t repl '6 * 7' Enter")
    wait_for("\n42\n>%s*$")
    H.sh("sleep 1.7")   -- past the first chunk's 1.5 s timeout: nothing may print over the prompt
    local screen = capture()
    assert.not_matches("timed out", screen)
    assert.matches("\n42\n>%s*$", screen)
    -- a loop that never waits is interrupted too (a hook, as lua5.4 does), and only once; not
    -- under TSan, which holds a signal back until the thread makes a call a loop never makes
    if not H.tsan() then
      tmux("send-keys -t repl C-l 'while true do end' Enter")
      H.sh("sleep 0.3")
      tmux("send-keys -t repl C-c")
      wait_for("> while true do end\n%^C interrupted\n>%s*$", 2000)
      tmux("send-keys -t repl '3 * 3' Enter")
      wait_for("> while true do end\n%^C interrupted\n> 3 %* 3\n9\n>%s*$")
    end
    -- at an idle prompt Ctrl-C drops the typed line
    tmux("send-keys -t repl 'half typed'")
    wait_for("> half typed")
    tmux("send-keys -t repl C-c")
    wait_for("%^C\n>%s*$")
    tmux("send-keys -t repl '1 + 1' Enter")
    wait_for("\n> 1 %+ 1\n2\n>%s*$")
  end)

  it("prints plain tables readably, keys sorted and nested, and keeps __tostring", function()
    tmux("send-keys -t repl C-l '{b = 2, a = {1, 2, {x = \"y\"}}, [10] = true}' Enter")
    wait_for('\n{ %[10%] = true, a = { 1, 2, { x = "y" } }, b = 2 }\n')
    tmux("send-keys -t repl C-l 'lemu.vlan(0):info()' Enter")
    wait_for("\nvlan 0: ")
  end)

  it("attaches a live console to the default guest: keys go to it, Ctrl-] comes back", function()
    tmux("send-keys -t repl C-l " .. H.quote('m = lemu.machine{ram = "256M", kernel = "guest/images/Image.gz", '
      .. 'initrd = "guest/images/initramfs.cpio.gz", append = "console=ttyS0"}') .. " Enter")
    tmux("send-keys -t repl " .. H.quote('m.console:expect("lemu%-guest: ready", {timeout = 120000})') .. " Enter")
    wait_for("lemu%-guest: ready\n>%s*$", 130000)
    tmux("send-keys -t repl C-l 'm.console:attach()' Enter")
    wait_for("%[m1's console; Ctrl%-%] returns%]")
    tmux("send-keys -t repl Enter")
    wait_for("\n#%s*$", 10000)
    tmux("send-keys -t repl -l 'echo hi'")
    tmux("send-keys -t repl Enter")
    wait_for("\nhi\r?\n", 10000)
    tmux("send-keys -t repl C-]")
    wait_for("\ndetached\n>%s*$", 5000)
    tmux("send-keys -t repl '6 * 7' Enter")   -- the prompt edits lines again
    wait_for("\n42\n>%s*$")
    tmux("send-keys -t repl 'm:stop() m:close()' Enter")
  end)

  it("recalls history with the up arrow and keeps it in ~/.lemu_history", function()
    tmux("send-keys -t repl 'hist_marker = 123' Enter")
    H.sh("sleep 0.2")
    tmux("send-keys -t repl Up")
    wait_for("> hist_marker = 123%s*\n[^\n]*$")
    tmux("send-keys -t repl C-u C-d")
    H.sh("sleep 0.5")
    assert.matches("hist_marker[ \\0-9]*=[ \\0-9]*123", H.read(home .. "/.lemu_history") or "")
  end)
end)
