-- Embedding in C: scripts/embed_example.c, built against an installed lemu (make install into a
-- temporary prefix: <lemu.h> and liblemu.a), boots the default guest on a user-net with no Lua and
-- has it take a lease. Also: the shared module exports only the public interface.
local H = require "helper"
local G = require "guest"

describe("lemu embedded in a C program", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(function() H.sh("rm -rf " .. H.quote(dir)) end)

  it("builds against the installed header and library and boots a guest to a lease", function()
    if not G.available() then pending("guest/images is not in this tree") return end
    local out, status = H.sh(("make -s install BUILD=%s PREFIX=%s/usr"):format(H.quote(H.build), H.quote(dir)))
    assert.equal(0, status, out)
    assert.truthy(H.read(dir .. "/usr/include/lemu.h"))
    local libs = H.sh("pkg-config --libs libuv zlib"):gsub("%s+$", "")
    -- A sanitizer build's library needs the program linked with the same sanitizer.
    local syms = H.sh("nm " .. H.quote(H.build .. "/liblemu.a") .. " 2>/dev/null | grep -o '__[at]san_init' | sort -u")
    local sanitize = syms:find("__asan_init", 1, true) and "-fsanitize=address,undefined"
                     or syms:find("__tsan_init", 1, true) and "-fsanitize=thread" or ""
    out, status = H.sh(("cc -std=gnu11 -Wall -Wextra -Werror %s -I%s/usr/include -o %s/embed scripts/embed_example.c %s/usr/lib/liblemu.a %s -lslirp -lfdt -lvdeplug -lmnl -llua5.4 -lm")
      :format(sanitize, H.quote(dir), H.quote(dir), H.quote(dir), libs))
    assert.equal(0, status, out)
    out, status = H.sh(("timeout -k 5 90 env %s %s/embed %s %s </dev/null"):format(H.lemu_env, H.quote(dir), G.IMAGE, G.INITRD))
    assert.equal(0, status, out)
    assert.matches("lease of 10%.0%.2%.15 obtained", out)
    assert.matches("embed_example: lease taken %(machine exit status 0%)", out)
  end)

  it("exports only the public interface from the shared module", function()
    local out = H.sh("nm -D --defined-only " .. H.quote(H.build .. "/lemu.so") .. " | awk '$2 == \"T\" {print $3}'")
    local names = {}
    for name in out:gmatch("[%w_]+") do names[#names + 1] = name end
    assert.is_true(#names > 10)
    for _, name in ipairs(names) do
      if not name:match("^_") and not name:match("^__") then
        assert.matches("^lemu_", name:gsub("^luaopen_lemu$", "lemu_luaopen"))
      end
    end
    assert.matches("lemu_machine_new", out)
    assert.not_matches("machine_new\n", out:gsub("lemu_machine_new", ""))
  end)
end)
