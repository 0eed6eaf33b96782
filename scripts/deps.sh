#!/usr/bin/env bash
# Installs the Debian packages qcmdr's demo and tests need, only those missing (idempotent).
# Uses sudo when not run as root.
set -euo pipefail

PACKAGES=(
  qemu-system-x86   # the emulator
  qemu-system-arm   # aarch64 VMs (tests/vm_arch.rs)
  qemu-system-misc  # riscv64 VMs (tests/vm_arch.rs; OpenSBI comes with qemu-system-data)
  binutils          # readelf: guest/build-arch.sh finds a foreign binary's libraries
  xz-utils          # guest/build-arch.sh: riscv64 kernel modules are .ko.xz
  openssh-client    # ssh/scp used by qcmdr
  openssh-server    # sshd copied into the test guest (no service is enabled on the host)
  busybox-static    # the guest's userland
  cpio              # packs the guest's initramfs
  rsync             # sync engine, also copied into the guest
  gdb               # `qcmdr gdb`
  python3           # Mutagen test double
  mmdebstrap        # `debian` images: the root filesystem from Debian packages
  e2fsprogs         # `debian` images: mke2fs -d packs it as ext4
  uidmap            # `debian` images without root: newuidmap/newgidmap map the build's user namespace
  qemu-utils        # qemu-img: image disks, overlays, qcow2 snapshots, the tests' data disks
  genisoimage       # `cloud` images: the NoCloud seed (cidata)
  libcap-ng-dev     # `mounts`: building virtiofsd (below)
  libseccomp-dev    # `mounts`: building virtiofsd (below)
  pkg-config        # `mounts`: building virtiofsd (below)
  git               # copied into the test guest (the mounts tests run git status in it)
  kmod              # depmod: a kernel tree's modules for the guest
  qemu-user-static  # `debian` images of aarch64/riscv64: their programs run through qemu-user
  arch-test         # mmdebstrap checks with it that a foreign arch's programs run
)

# The foreign arches whose programs a `debian` image build runs (tests/vm_image.rs builds an
# aarch64 image; the riscv64 one is for users).
BINFMT_ARCHES=(aarch64 riscv64)

missing=()
find_missing() {
  missing=()
  local package
  for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
}
# virtiofsd (the Rust daemon behind `mounts`) is not packaged in Debian 12: it is built from
# its crate. As root it goes into /usr/local/bin (on every user's PATH, so the rootless test
# user finds it too), as a regular user into ~/.cargo/bin; qcmdr looks on PATH, then
# /usr/libexec/virtiofsd, then ~/.cargo/bin. Skipped when a working virtiofsd is found.
VIRTIOFSD_VERSION=1.14.0
install_virtiofsd() {
  local found
  for found in "$(command -v virtiofsd || true)" /usr/libexec/virtiofsd "$HOME/.cargo/bin/virtiofsd"; do
    if [[ -n $found && -x $found ]] && "$found" --version >/dev/null 2>&1; then
      return 0
    fi
  done
  if ! command -v cargo >/dev/null; then
    echo "deps.sh: virtiofsd is missing and cargo is not installed to build it (https://rustup.rs)" >&2
    exit 1
  fi
  local root=()
  if [[ $(id -u) == 0 ]]; then
    root=(--root /usr/local)
  fi
  echo "building virtiofsd $VIRTIOFSD_VERSION from crates.io (a few minutes)" >&2
  cargo install --quiet --locked "${root[@]}" --version "$VIRTIOFSD_VERSION" virtiofsd >&2
}

# qemu-user-static registers its binfmt_misc entries where systemd (systemd-binfmt) or
# binfmt-support runs at boot; on a machine without either (a container, a CI VM) they are
# registered here as systemd-binfmt would: each line of the package's own binfmt.d file, with
# their F flag, so the kernel runs foreign programs inside a build's root and user namespace.
register_binfmt() {
  local dir=/proc/sys/fs/binfmt_misc arch conf sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  if [[ ! -e $dir/status ]]; then
    echo "mounting binfmt_misc on $dir" >&2
    "${sudo[@]}" mount -t binfmt_misc binfmt_misc "$dir"
  fi
  for arch in "${BINFMT_ARCHES[@]}"; do
    conf=/usr/lib/binfmt.d/qemu-$arch.conf
    if [[ ! -e $dir/qemu-$arch && -e $conf ]]; then
      echo "registering qemu-$arch with binfmt_misc ($conf)" >&2
      grep -v '^[#;]' "$conf" | "${sudo[@]}" tee "$dir/register" >/dev/null
    fi
  done
}

find_missing
if ((${#missing[@]} == 0)); then
  install_virtiofsd
  register_binfmt
  exit 0
fi

sudo=()
if [[ $(id -u) != 0 ]]; then
  sudo=(sudo)
fi
echo "installing: ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
install() {
  # --no-install-recommends: the emulator's GUI and audio stacks are not needed.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
# apt can refuse a combined request that it resolves one package at a time (seen with
# backported packages on the machine), so fall back to single installs.
if ! install "${missing[@]}"; then
  for package in "${missing[@]}"; do
    install "$package"
  done
fi
# Installing one package can remove another one of the list: a backported qemu-utils on the
# machine conflicts with Debian 12's emulator and is removed with it. Install what went missing.
find_missing
if ((${#missing[@]} > 0)); then
  echo "installing (again): ${missing[*]}" >&2
  install "${missing[@]}"
  find_missing
  if ((${#missing[@]} > 0)); then
    echo "deps.sh: still missing after install: ${missing[*]}" >&2
    exit 1
  fi
fi
install_virtiofsd
register_binfmt
