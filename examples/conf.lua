-- qcmdr example: one small Linux guest ("demo") booted straight from a kernel and initrd.
--
-- The file is plain Lua 5.4 with the full standard library. It returns a table; qcmdr checks
-- it thoroughly after it runs, so the htt.is block below is optional (kept to show that files
-- written for the original qcmdr load unchanged).
--
-- Each string in `args` is split into words like a shell would: "-m 256" is two words, and
-- '"console=ttyS0 quiet"' (quotes inside the string) is one. $VAR and ~ are expanded;
-- nothing is ever executed.

-- Where the guest's kernel, initrd and SSH key live. Override with QCMDR_GUEST_DIR.
local guest = os.getenv("QCMDR_GUEST_DIR")
  or ((os.getenv("XDG_CACHE_HOME") or (os.getenv("HOME") .. "/.cache")) .. "/qcmdr/guest")

-- The machine itself: chipset, CPU, memory, and no display window.
local function machine_base()
  return {
    -- tcg works everywhere (pure emulation); on real hardware use QCMDR_ACCEL=kvm.
    "-machine q35,accel=" .. (os.getenv("QCMDR_ACCEL") or "tcg"),
    "-cpu max",
    "-m 256",
    "-display none",
  }
end

-- QEMU's user-mode network with host port forwards, e.g. { { 10022, 22 } } forwards
-- 127.0.0.1:10022 on the host to port 22 in the guest.
local function user_net(port_forwards)
  local netdev = "user,id=net0"
  for _, fwd in ipairs(port_forwards) do
    netdev = netdev .. string.format(",hostfwd=tcp:127.0.0.1:%d-:%d", fwd[1], fwd[2])
  end
  return { "-netdev", netdev, "-device virtio-net-pci,netdev=net0" }
end

local vms = {
  {
    name = "demo",
    arch = "x86_64",
    -- Seconds to wait for the login prompt on the serial console (TCG boots slowly).
    login_timeout = 120,
    ssh = {
      Port = 10022,
      User = "root",
      IdentityFile = guest .. "/id_ed25519",
    },
    args = {
      machine_base(),
      "-kernel " .. guest .. "/vmlinuz",
      "-initrd " .. guest .. "/initrd.gz",
      -- The ancestor's quoting style: the inner quotes keep the command line one word.
      '-append', '"console=ttyS0 quiet"',
      user_net({ { 10022, 22 } }),
    },
  },
}

-- Optional: validate in Lua, as the original qcmdr's configs did.
local is = htt.is
local vm_spec = is.table_with({
  name = is.string,
  arch = is.string,
  login_timeout = is.optional(is.number),
  ssh = is.table_with({ Port = is.number, User = is.string, IdentityFile = is.string }),
  args = is.list_of(is.any(is.string, is.table)),
})
local ok, err = is.list_of(vm_spec)(vms)
if not ok then
  error(htt.str.stringify(err))
end

return { vms = vms }
