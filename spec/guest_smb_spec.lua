-- The default guest on a user-net with smb=DIR, against Debian's real smbd (samba, installed by
-- make deps): the guest mounts //10.0.2.4/qemu with busybox mount and the kernel's SMB3 client,
-- reads what the host put in DIR, writes what the host then reads back from DIR, and unmounts.
-- From Lua, and from QEMU's command line (-netdev user,smb=) run as an unprivileged user when this
-- is root, as users run QEMU's smb= with no root: daemon (uid 1, on every Debian), not nobody,
-- which is samba's guest account and gets a read-only share (docs/user-net.md). And the same on
-- qemu-system-riscv64, the reference, with the same guest image and smbd.
local lemu = require "lemu"
local H = require "helper"
local G = require "guest"
local U = require "uboot"
local Q = require "qemu_guest"

local MOUNT = "mount -t cifs //10.0.2.4/qemu /mnt -o vers=3.0,username=guest,password="

local function smbd()
  if H.have("smbd") then return true end
  return select(2, H.sh("test -x /usr/sbin/smbd")) == 0
end

-- A shared directory with a text file and 192 KiB of random bytes (well over a hundred TCP
-- segments through slirp and smbd's socket), owned by uid (when given) so that smbd running as that user may write in it.
local function share(uid)
  local dir = H.tmpdir()
  local text = ("from the host %d\n"):format(math.random(1e9))
  H.write(dir .. "/host.txt", text)
  H.write(dir .. "/host.bin", U.random_bytes(192 * 1024))
  if uid then H.sh(("chown -R %s %s"):format(uid, H.quote(dir))) end
  local md5 = H.sh("md5sum < " .. H.quote(dir .. "/host.bin")):match("^(%x+)")
  return dir, text, md5
end

-- The guest's side, behind run(cmd, timeout) -> output, status: lease, mount, read, write, unmount.
local function exercise(run, dir, text, md5)
  local out, st = run("udhcpc -i eth0 -q -n -t 5 -T 1", 30000)
  assert.equal(0, st, out)
  assert.matches("lease of 10%.0%.2%.15 obtained", out)
  out, st = run("mkdir -p /mnt && " .. MOUNT, 60000)
  assert.equal(0, st, out)
  out = run("grep cifs /proc/mounts")
  assert.matches("//10%.0%.2%.4/qemu /mnt cifs ", out)
  assert.matches("vers=3%.0", out)
  out, st = run("cat /mnt/host.txt")
  assert.equal(0, st, out)
  assert.equal(text, out)
  out = run("md5sum /mnt/host.bin", 60000)
  assert.matches("^" .. md5 .. " ", out)
  out, st = run("echo from the guest $((40+2)) > /mnt/guest.txt && mkdir /mnt/sub && dd if=/dev/urandom of=/mnt/sub/guest.bin bs=1024 count=160 2>/dev/null && md5sum /mnt/sub/guest.bin", 60000)
  assert.equal(0, st, out)
  local gmd5 = out:match("^(%x+) ")
  assert.is_not_nil(gmd5, out)
  out, st = run("umount /mnt && grep -c cifs /proc/mounts", 30000)
  assert.equal("0\n", out)
  assert.equal(1, st)     -- grep found no line: the share is gone
  assert.equal("from the guest 42\n", H.read(dir .. "/guest.txt"))
  local hmd5 = H.sh("md5sum < " .. H.quote(dir .. "/sub/guest.bin")):match("^(%x+)")
  assert.equal(gmd5, hmd5)
  return H.sh("stat -c %U " .. H.quote(dir .. "/guest.txt")):gsub("%s+$", "")
end

describe("the default guest on user-net's smb= share", function()
  after_each(function() lemu.closeall() end)
  if not G.available() then
    it("needs the guest images", function() pending("guest/images is not in this tree") end)
    return
  end

  it("smbd is installed (make deps installs Debian's samba)", function()
    assert.is_true(smbd(), "no smbd on PATH or in /usr/sbin: run 'make deps' (it installs samba)")
  end)
  if not smbd() then return end

  it("from Lua: the guest mounts //10.0.2.4/qemu, reads the host's files, writes files the host reads back, unmounts", function()
    local dir, text, md5 = share()
    local ok, err = pcall(lemu.run, function()
      local v = lemu.vlan("smbnet")
      local u = v:user{ smb = dir }
      local m = G.boot{ vlan = v }
      local owner = exercise(function(cmd, t) return m.console:run(cmd, { timeout = t }) end, dir, text, md5)
      assert.equal(H.sh("id -un"):gsub("%s+$", ""), owner)   -- force user: files are the host user's
      local smbdir = u:info().config.smb_dir
      assert.matches("Starting process", H.read(smbdir .. "/log.smbd") or "")
    end)
    H.sh("rm -rf " .. H.quote(dir))
    if not ok then error(err, 0) end
  end)

  it("from QEMU's command line (-netdev user,id=n0,smb=DIR), run as an unprivileged user (daemon) when this is root", function()
    local root = H.sh("id -u"):match("%d+") == "0"
    local uid = root and "daemon" or nil
    local dir, text, md5 = share(uid)
    local args = { "-M", "virt", "-m", "256M", "-kernel", G.IMAGE, "-initrd", G.INITRD, "-append", "console=ttyS0",
      "-nographic", "-netdev", "user,id=n0,smb=" .. dir, "-device", "virtio-net-device,netdev=n0" }
    local argv = U.argv(H.lemu_bin, args)
    if root then
      argv = { "setpriv", "--reuid=daemon", "--regid=daemon", "--clear-groups", table.unpack(argv) }
    end
    local ok, err = pcall(lemu.run, function()
      local c = U.spawn(argv)
      local ok2, err2 = pcall(function()
        c:expect("lemu%-guest: ready", U.LONG)
        c:expect("# ")
        local owner = exercise(function(cmd, t) return U.run(c, cmd, t) end, dir, text, md5)
        if root then assert.equal("daemon", owner) end
        c:send("poweroff\n")
        assert.equal(0, c:wait(30000))
      end)
      c:close()
      if not ok2 then error(err2, 0) end
    end)
    H.sh("rm -rf " .. H.quote(dir))
    if not ok then error(err, 0) end
  end)

  it("the same on qemu-system-riscv64 (the reference): -netdev user,smb=DIR", function()
    local qok, why = Q.available()
    if not qok then pending(why) return end
    local dir, text, md5 = share()
    local ok, err = pcall(lemu.run, function()
      local g = Q.boot{ netdev = "user,id=n0,smb=" .. dir }
      local ok2, err2 = pcall(function()
        g:expect("lemu%-guest: ready", U.LONG)
        g:expect("# ")
        exercise(function(cmd, t)
          local out, st = g:run(cmd, t)
          return (out:gsub("\r", "")), st
        end, dir, text, md5)
        g:send("poweroff")      -- QEMU removes its own smbd directory when it exits
        assert.equal(0, g.proc:wait { timeout = 30000 })
      end)
      g:close()
      if not ok2 then error(err2, 0) end
    end)
    H.sh("rm -rf " .. H.quote(dir))
    if not ok then error(err, 0) end
  end)
end)
