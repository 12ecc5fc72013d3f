-- helper: shared pieces for specs — where the build is, running the host program, temp files.
local H = {}

H.build = os.getenv("LEMU_BUILD") or "build"
H.lemu_bin = H.build .. "/lemu"

-- Runs a shell command; returns its stdout+stderr and exit status.
function H.sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"::status=$?\"")
  local out = p:read("a")
  p:close()
  local status = tonumber(out:match("::status=(%d+)%s*$"))
  return out:gsub("::status=%d+%s*$", ""), status
end

function H.quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The environment a run of build/lemu gets: under `make asan`, leak checking back on.
H.lemu_env = os.getenv("LEMU_ASAN_OPTIONS") and ("ASAN_OPTIONS=" .. os.getenv("LEMU_ASAN_OPTIONS") .. " ") or ""

-- Runs build/lemu with the given argument list; env may set variables or wrap it in a shorter
-- timeout. stdin is /dev/null (a terminal's would stop lemu in the background process group that
-- timeout makes), and a run that hangs is killed after 120 s whatever env says.
function H.lemu(args, env)
  env = H.lemu_env .. (env or "")
  local parts = {}
  for _, a in ipairs(args) do parts[#parts + 1] = H.quote(a) end
  return H.sh("timeout -k 5 120 env " .. env .. " " .. H.lemu_bin .. " " .. table.concat(parts, " ") .. " </dev/null")
end

function H.tmpdir()
  local d = H.sh("mktemp -d /tmp/lemu-spec.XXXXXX"):gsub("%s+$", "")
  return d
end

function H.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

function H.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function H.have(cmd) return select(2, H.sh("command -v " .. cmd .. " >/dev/null")) == 0 end

-- Whether the build is a ThreadSanitizer one (make tsan), where a few host interactions cannot
-- run: a preloaded TSan runtime, RTLD_DEEPBIND, a signal to a loop that makes no call.
function H.tsan()
  if H._tsan == nil then H._tsan = select(2, H.sh("nm " .. H.quote(H.build .. "/lemu.so") .. " | grep -q __tsan_init")) == 0 end
  return H._tsan
end

return H
