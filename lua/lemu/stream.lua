-- lemu.stream: host sockets for scripts, on the loop. lemu.tcp_connect / lemu.tcp_listen /
-- lemu.unix_listen / lemu.udp return objects whose reads and accepts wait in a task (with the
-- usual timeouts) while the loop keeps running. The C half (lua/lstream.c) reports events here.
local score = require "lemu.stream.core"

local M = {}
local lemu   -- set by install (lemu.stream is loaded from init.lua)

local waiters = setmetatable({}, { __mode = "k" })   -- handle -> list of wake functions
local accepted = setmetatable({}, { __mode = "k" })  -- listener -> queue of streams
local datagrams = setmetatable({}, { __mode = "k" }) -- udp -> queue of {data, host, port}
local handlers = setmetatable({}, { __mode = "k" })  -- listener -> on_accept function

local function wake_all(h)
  local ws = waiters[h]
  if not ws then return end
  waiters[h] = nil
  for _, w in ipairs(ws) do w() end
end

score.set_notify(function(h, event, a, b, c)
  if event == "accept" then
    if handlers[h] then lemu.spawn(handlers[h], a)
    else accepted[h]:put(a) end
  elseif event == "datagram" then
    datagrams[h]:put({ data = a, host = b, port = c })
  else
    wake_all(h)
  end
end)

local function wait_event(h, what, opts)
  return lemu.wait(what, opts, function(wake)
    local ws = waiters[h] or {}
    waiters[h] = ws
    ws[#ws + 1] = wake
    return function()
      for i, w in ipairs(ws) do if w == wake then table.remove(ws, i) break end end
    end
  end)
end

local S = debug.getregistry()["lemu.stream"]

local pending = setmetatable({}, { __mode = "k" })  -- stream -> bytes read_until left over

-- stream:read{timeout=} -> the bytes that arrived (at least one), or nil, "eof" / nil, error.
function S.read(s, opts)
  local p = pending[s]
  if p then pending[s] = nil return p end
  while true do
    local data, err = s:_take()
    if data or err then return data, err end
    wait_event(s, tostring(s) .. " to receive data", opts)
  end
end

-- stream:read_until(want, opts): reads until the bytes contain the plain string want (or, for a
-- number, are that long) and returns them up to there; the rest stays for the next read. Raises
-- if the stream ends first.
function S.read_until(s, want, opts)
  local buf = ""
  while true do
    local stop
    if type(want) == "number" then stop = #buf >= want and want or nil
    else local _, e = buf:find(want, 1, true) stop = e end
    if stop then
      if stop < #buf then pending[s] = buf:sub(stop + 1) end
      return buf:sub(1, stop)
    end
    local data, err = s:read(opts)
    if not data then
      error(("stream ended (%s) before %s arrived"):format(err,
        type(want) == "number" and (want .. " bytes") or ("'" .. want .. "'")), 2)
    end
    buf = buf .. data
  end
end

-- stream:read_all{timeout=}: everything until the peer closes.
function S.read_all(s, opts)
  local parts = {}
  while true do
    local data, err = s:read(opts)
    if not data then
      if err ~= "eof" then error("stream failed: " .. tostring(err), 2) end
      return table.concat(parts)
    end
    parts[#parts + 1] = data
  end
end

-- stream:drain{timeout=}: waits until everything written has been handed to the kernel.
function S.drain(s, opts)
  while s:writing() > 0 do wait_event(s, tostring(s) .. " to send its data", opts) end
end

local L = debug.getregistry()["lemu.listener"]

-- listener:accept{timeout=} -> the next connection's stream.
function L.accept(l, opts)
  return accepted[l]:get(opts)
end

local U = debug.getregistry()["lemu.udp"]

-- udp:recvfrom{timeout=} -> data, host, port
function U.recvfrom(u, opts)
  local d = datagrams[u]:get(opts)
  return d.data, d.host, d.port
end

function M.install(l)
  lemu = l
  -- lemu.tcp_connect(host, port, {timeout=}) -> connected stream (waits in a task).
  function lemu.tcp_connect(host, port, opts)
    local s = score.tcp_connect(host, port)
    while s:_state() == "connecting" do
      wait_event(s, ("a TCP connection to %s:%d"):format(host, port), opts)
    end
    local st, err = s:_state()
    if st == "failed" then
      s:close()
      error(("tcp_connect %s:%d: %s"):format(host, port, err), 2)
    end
    return s
  end
  function lemu.unix_connect(path, opts)
    local s = score.unix_connect(path)
    while s:_state() == "connecting" do wait_event(s, "a connection to " .. path, opts) end
    local st, err = s:_state()
    if st == "failed" then s:close() error(("unix_connect %s: %s"):format(path, err), 2) end
    return s
  end
  -- lemu.tcp_listen(host, port[, on_accept]) -> listener; on_accept(stream) runs in a new task per
  -- connection, else listener:accept() returns them. Port 0 picks a free port (listener:address()).
  local function listener(l, on_accept, name)
    accepted[l] = lemu.queue(name)
    handlers[l] = on_accept
    return l
  end
  function lemu.tcp_listen(host, port, on_accept)
    local l = score.tcp_listen(host, port)
    return listener(l, on_accept, ("a connection to %s:%d"):format(host, port))
  end
  function lemu.unix_listen(path, on_accept)
    return listener(score.unix_listen(path), on_accept, "a connection to " .. path)
  end
  -- lemu.udp(host, port) -> UDP socket: u:sendto(data, host, port), u:recvfrom{timeout=}.
  function lemu.udp(host, port)
    local u = score.udp(host, port)
    datagrams[u] = lemu.queue(("a datagram on %s:%d"):format(host or "127.0.0.1", port or 0))
    return u
  end
end

return M
