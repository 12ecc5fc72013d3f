-- mkcpio.lua LIST MTIME > out.cpio: writes a newc cpio archive from a list in gen_init_cpio's format
-- (the kernel's usr/gen_init_cpio), for builds that have no kernel tree to build that tool from:
--
--   dir   NAME MODE UID GID
--   file  NAME SOURCE MODE UID GID
--   slink NAME TARGET MODE UID GID
--   nod   NAME MODE UID GID c|b MAJOR MINOR
--
-- Modes are octal. Every entry gets the mtime MTIME (seconds since the epoch) and its own inode
-- number, in list order, so that the same list and files give the same bytes. Needs no root (device
-- nodes are only headers). Lines starting with '#' and empty lines are skipped.
local list, mtime = arg[1], tonumber(arg[2] or "0")
if not list then
  io.stderr:write("usage: lua5.4 stock/mkcpio.lua LIST MTIME > out.cpio\n")
  os.exit(2)
end

local out = io.stdout
local ino = 720
local size = 0   -- bytes written (stdout may be a pipe, which cannot tell its position)
local function put(...)
  for _, s in ipairs({ ... }) do size = size + #s end
  out:write(...)
end
local function pad4(n) return ("\0"):rep((4 - n % 4) % 4) end

local function entry(name, mode, uid, gid, data, rmaj, rmin)
  name = name:gsub("^/", "")
  data = data or ""
  ino = ino + 1
  local hdr = ("070701" .. ("%08X"):rep(13)):format(ino, mode, uid, gid, 1, mtime, #data,
    0, 0, rmaj or 0, rmin or 0, #name + 1, 0)
  put(hdr, name, "\0", pad4(#hdr + #name + 1), data, pad4(#data))
end

local S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK = 0x4000, 0x8000, 0xA000, 0x2000, 0x6000
local n = 0
for line in io.lines(list) do
  n = n + 1
  local w = {}
  for t in line:gmatch("%S+") do w[#w + 1] = t end
  local kind = w[1]
  local function oct(s) return assert(tonumber(s, 8), ("%s:%d: bad mode %q"):format(list, n, tostring(s))) end
  if not kind or kind:sub(1, 1) == "#" then
    -- comment or empty line
  elseif kind == "dir" then
    entry(w[2], S_IFDIR | oct(w[3]), tonumber(w[4]), tonumber(w[5]))
  elseif kind == "file" then
    local f = assert(io.open(w[3], "rb"))
    local data = f:read("a")
    f:close()
    entry(w[2], S_IFREG | oct(w[4]), tonumber(w[5]), tonumber(w[6]), data)
  elseif kind == "slink" then
    entry(w[2], S_IFLNK | oct(w[4]), tonumber(w[5]), tonumber(w[6]), w[3])
  elseif kind == "nod" then
    local t = w[6] == "b" and S_IFBLK or S_IFCHR
    entry(w[2], t | oct(w[3]), tonumber(w[4]), tonumber(w[5]), nil, tonumber(w[7]), tonumber(w[8]))
  else
    error(("%s:%d: unknown entry %q"):format(list, n, kind))
  end
end
entry("TRAILER!!!", 0, 0, 0)
-- gen_init_cpio pads the archive to a multiple of 512 bytes
out:write(("\0"):rep((512 - size % 512) % 512))
