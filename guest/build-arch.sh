#!/usr/bin/env bash
# Build the test guest for another architecture (aarch64 or riscv64) on any host.
#
#   guest/build-arch.sh ARCH [OUTDIR]
#
# ARCH is qcmdr's name (aarch64, riscv64). OUTDIR defaults to the x86_64 guest's folder
# (${QCMDR_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/qcmdr/guest}) with "-ARCH" appended.
# Produces OUTDIR/{vmlinuz,initrd.gz,id_ed25519,id_ed25519.pub,host-keys/,stamp}.
# Progress goes to stderr; stdout gets exactly one line: the absolute OUTDIR.
#
# The guest is the x86_64 guest of guest/build.sh (built first, cached) with its binaries
# swapped for the architecture's own: the same /etc/rc, fault switches, keys and sshd_config,
# so a test behaves alike on every architecture. The architecture's packages come from the
# Debian mirror through a private apt (its own lists in OUTDIR's folder), so the host's apt
# configuration is never changed and nothing is installed on the host. Libraries are found
# by reading each binary's ELF NEEDED entries (readelf), since a foreign binary cannot run.
set -euo pipefail

log() { printf '%s\n' "$*" >&2; }
die() { printf 'guest/build-arch.sh: error: %s\n' "$*" >&2; exit 1; }

ARCH=${1:-}
case $ARCH in
    aarch64)
        DEB_ARCH=arm64 SUITE=bookworm TRIPLET=aarch64-linux-gnu CONSOLE=ttyAMA0
        KERNEL_META=linux-image-cloud-arm64 KERNEL_DEP='linux-image-[^ ]+-cloud-arm64'
        MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
                 failover net_failover virtio_net virtio_blk evdev)
        ;;
    riscv64)
        # Debian 12 has no riscv64 port; Debian 13 (trixie) is the first release with one.
        DEB_ARCH=riscv64 SUITE=trixie TRIPLET=riscv64-linux-gnu CONSOLE=ttyS0
        KERNEL_META=linux-image-riscv64 KERNEL_DEP='linux-image-[^ ]+-riscv64'
        # virtio and virtio_pci are built into this kernel.
        MODULES=(failover net_failover virtio_net virtio_blk evdev)
        ;;
    *) die "usage: guest/build-arch.sh aarch64|riscv64 [OUTDIR] (got ${ARCH:-nothing})" ;;
esac
MIRROR=${QCMDR_GUEST_MIRROR:-http://deb.debian.org/debian}

SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=guest/modules.sh
source "$(dirname -- "$SELF")/modules.sh"
HERE=$(dirname -- "$SELF")
BASE_DEFAULT=${QCMDR_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/qcmdr/guest}
OUTDIR=${2:-$BASE_DEFAULT-$ARCH}
OUTDIR=$(realpath -m -- "$OUTDIR")
PARENT=$(dirname -- "$OUTDIR")
NAME=$(basename -- "$OUTDIR")

for tool in readelf:binutils dpkg-deb:dpkg apt-get:apt cpio:cpio gzip:gzip xz:xz-utils flock:util-linux; do
    command -v "${tool%%:*}" >/dev/null 2>&1 ||
        die "missing on this host: ${tool%%:*}; install with: apt-get install ${tool#*:}"
done

# The x86_64 guest this one is derived from (cached by build.sh itself).
BASE=$(bash "$HERE/build.sh" "$BASE_DEFAULT" | tail -n1)
[[ -s $BASE/initrd.gz ]] || die "guest/build.sh gave no initrd in $BASE"

# Cache: this script's hash and the base guest's identity (its script hash and kernel).
script_hash=$(cat "$SELF" "$(dirname -- "$SELF")/modules.sh" | sha256sum | cut -d' ' -f1)
base_id=$(cut -d' ' -f1-2 "$BASE/stamp" | sha256sum | cut -c1-16)
want_stamp="$script_hash $ARCH $base_id"
up_to_date() {
    local f
    for f in vmlinuz initrd.gz id_ed25519 id_ed25519.pub stamp; do
        [[ -s $OUTDIR/$f ]] || return 1
    done
    [[ $(head -n1 "$OUTDIR/stamp" | cut -d' ' -f1-3) == "$want_stamp" ]]
}
if up_to_date; then
    log "guest up to date: $OUTDIR"
    printf '%s\n' "$OUTDIR"
    exit 0
fi

mkdir -p -- "$PARENT"
exec 9>"$OUTDIR.lock"
if ! flock -n 9; then
    log "guest/build-arch.sh: waiting for another build of $OUTDIR ..."
    flock 9
fi
if up_to_date; then
    log "guest up to date: $OUTDIR"
    printf '%s\n' "$OUTDIR"
    exit 0
fi
rm -rf -- "$PARENT/.$NAME".tmp.* "$PARENT/.$NAME".old.*

t_start=$(date +%s.%N)
WORK=$(mktemp -d "$PARENT/.$NAME.tmp.XXXXXX")
STAGE=$(mktemp -d "$PARENT/.$NAME.tmp.XXXXXX")
OLD=""
cleanup() {
    rm -rf -- "$WORK" "$STAGE"
    [[ -n $OLD ]] && rm -rf -- "$OLD"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------------------
# A private apt for DEB_ARCH/SUITE: own sources, lists and status, never the host's.
# ---------------------------------------------------------------------------
APT=$PARENT/.apt-$DEB_ARCH-$SUITE
mkdir -p "$APT"/{lists/partial,archives/partial,etc,empty}
[[ -e $APT/status ]] || : >"$APT/status"
printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$MIRROR" "$SUITE" \
    >"$APT/etc/sources.list"
apt_private() { # apt-get|apt-cache ARGS...
    local cmd=$1
    shift
    local opts=(-o APT::Architecture="$DEB_ARCH" -o APT::Architectures="$DEB_ARCH"
        -o Dir::State="$APT" -o Dir::State::Lists="$APT/lists" -o Dir::State::status="$APT/status"
        -o Dir::Cache="$APT" -o Dir::Cache::archives="$APT/archives"
        -o Dir::Etc::SourceList="$APT/etc/sources.list" -o Dir::Etc::SourceParts="$APT/empty"
        -o Dir::Etc::Preferences="$APT/empty/none" -o Dir::Etc::PreferencesParts="$APT/empty"
        -o Debug::NoLocking=1)
    # As root apt drops to _apt for downloads, which cannot write into our 0700 temp dir.
    ((EUID == 0)) && opts+=(-o APT::Sandbox::User=root)
    "$cmd" -q "${opts[@]}" "$@"
}
apt_update() {
    log "apt ($DEB_ARCH, $SUITE): fetching package lists from $MIRROR"
    apt_private apt-get update >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; die "apt-get update ($DEB_ARCH $SUITE) failed"; }
}
compgen -G "$APT/lists/*_Packages*" >/dev/null || apt_update
mkdir -p "$WORK/debs"
apt_dl() { # PKG[=VER]...   (in $WORK/debs)
    (cd "$WORK/debs" && apt_private apt-get download "$@") >"$WORK/apt.log" 2>&1
}
# Stale lists name versions the mirror no longer has: refresh them once.
apt_dl "$KERNEL_META" || { apt_update && apt_dl "$KERNEL_META"; } ||
    { cat "$WORK/apt.log" >&2; die "apt-get download $KERNEL_META:$DEB_ARCH failed"; }

meta_deb=$(ls "$WORK"/debs/"$KERNEL_META"_*.deb)
img_dep=$(dpkg-deb -f "$meta_deb" Depends | tr ',' '\n' | grep -oE "$KERNEL_DEP \\(= [^)]+\\)" | head -n1) ||
    die "cannot find the kernel image dependency of $KERNEL_META"
img_pkg=${img_dep%% *}
img_ver=${img_dep#*= }
img_ver=${img_ver%)}
apt_dl "$img_pkg=$img_ver" || { cat "$WORK/apt.log" >&2; die "apt-get download $img_pkg=$img_ver failed"; }
dpkg-deb -x "$(ls "$WORK"/debs/"$img_pkg"_*.deb)" "$WORK/kernel"
kver=${img_pkg#linux-image-}
vmlinuz=$(ls "$WORK"/kernel/boot/vmlinu[xz]-"$kver" 2>/dev/null | head -n1)
[[ -f $vmlinuz ]] || die "no /boot/vmlinuz-$kver (or vmlinux) in $img_pkg"
moddir="$WORK/kernel/lib/modules/$kver"
[[ -d $moddir ]] || moddir="$WORK/kernel/usr/lib/modules/$kver"
[[ -d $moddir ]] || die "no modules directory for $kver in $img_pkg"
log "kernel: $img_pkg $img_ver ($DEB_ARCH)"

# Userland: the programs and every library package they may need, unpacked into a sysroot.
PROGRAMS=(busybox-static openssh-server openssh-sftp-server rsync)
libs=$(apt_private apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "${PROGRAMS[@]}" 2>/dev/null |
    grep -E '^(lib[a-z0-9.+-]+|zlib1g)$' | grep -vE 'perl|debian-installer|elogind|pam-modules|pam-runtime' | sort -u)
# shellcheck disable=SC2086
apt_dl "${PROGRAMS[@]}" $libs || { cat "$WORK/apt.log" >&2; die "apt-get download of the userland ($DEB_ARCH) failed"; }
SYS="$WORK/sys"
for deb in "$WORK"/debs/*.deb; do
    case $deb in */linux-image-*) continue ;; esac
    dpkg-deb -x "$deb" "$SYS"
done

# ---------------------------------------------------------------------------
# Root filesystem: the x86_64 guest's, with this architecture's binaries.
# ---------------------------------------------------------------------------
R="$WORK/root"
mkdir -p "$R"
(cd "$R" && gzip -dc "$BASE/initrd.gz" | cpio -idm --quiet --no-absolute-filenames)
rm -rf -- "$R/lib/x86_64-linux-gnu" "$R/lib64" "$R/usr/sbin/sshd" "$R/usr/bin/rsync" \
    "$R/usr/lib/openssh" "$R/lib/modules/qcmdr"
mkdir -p "$R/usr/lib/$TRIPLET" "$R/usr/lib/openssh" "$R/lib/modules/qcmdr"
ln -s "../usr/lib/$TRIPLET" "$R/lib/$TRIPLET"

install -m 0755 "$SYS/bin/busybox" "$R/bin/busybox" 2>/dev/null ||
    install -m 0755 "$SYS/usr/bin/busybox" "$R/bin/busybox"

lib_in_sysroot() { # SONAME -> path in $SYS
    local d
    for d in "usr/lib/$TRIPLET" "lib/$TRIPLET" usr/lib lib; do
        [[ -e $SYS/$d/$1 ]] && { printf '%s\n' "$SYS/$d/$1"; return 0; }
    done
    return 1
}
copy_with_libs() { # PATH-IN-SYSROOT (also its path in the guest)
    local rel=$1 queue=("$SYS$1") f so interp
    install -D -m 0755 "$SYS$rel" "$R$rel"
    interp=$(readelf -lW "$SYS$rel" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
    if [[ -n $interp && ! -e $R$interp ]]; then
        f=$(lib_in_sysroot "$(basename -- "$interp")") || die "$rel: interpreter $interp not in the sysroot"
        install -D -m 0755 "$(readlink -f "$f")" "$R$interp"
    fi
    while ((${#queue[@]})); do
        f=${queue[0]}
        queue=("${queue[@]:1}")
        for so in $(readelf -dW "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            [[ -e $R/usr/lib/$TRIPLET/$so ]] && continue
            local src
            src=$(lib_in_sysroot "$so") || die "$rel needs $so, which no downloaded package has"
            install -m 0755 "$(readlink -f "$src")" "$R/usr/lib/$TRIPLET/$so"
            queue+=("$src")
        done
    done
}
copy_with_libs /usr/sbin/sshd
for f in /usr/lib/openssh/sshd-session /usr/lib/openssh/sshd-auth; do
    [[ -x $SYS$f ]] && copy_with_libs "$f"
done
copy_with_libs /usr/lib/openssh/sftp-server
copy_with_libs /usr/bin/rsync

# Kernel modules, flat, checking that each one's dependencies come first.
copy_modules "$moddir" "$img_pkg" "$R/lib/modules/qcmdr" "${MODULES[@]}"

# The base guest's scripts name the x86_64 console and module list: patch exactly those
# lines, and fail loudly if build.sh changed them (a silent miss would boot a mute guest).
patch_file() { # FILE SED-EXPR EXPECTED-TEXT-AFTER
    sed -i -e "$2" "$R/$1"
    grep -qF -- "$3" "$R/$1" || die "could not adapt /$1 for $ARCH (guest/build.sh changed?)"
}
patch_file etc/inittab "s/^ttyS0::/$CONSOLE::/" "$CONSOLE::respawn:"
patch_file sbin/qcmdr-getty "s/ 115200 ttyS0 / 115200 $CONSOLE /" "115200 $CONSOLE vt100"
patch_file etc/rc "s#chmod 0666 /dev/ttyS0#chmod 0666 /dev/$CONSOLE#" "chmod 0666 /dev/$CONSOLE"
patch_file etc/rc "s/^for m in .*; do$/for m in ${MODULES[*]}; do/" "for m in ${MODULES[*]}; do"
# OpenSSH 9.8 dropped the re-exec-less mode (-r) that build.sh uses for older sshd.
sshd_ver=$(dpkg-deb -f "$(ls "$WORK"/debs/openssh-server_*.deb)" Version | sed -n 's/^[0-9]*:\{0,1\}\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
if read -r maj min <<<"$sshd_ver" && ((maj > 9 || (maj == 9 && min >= 8))); then
    patch_file sbin/qcmdr-sshd "s#/usr/sbin/sshd -r #/usr/sbin/sshd #" "exec /usr/sbin/sshd -E"
fi

# ---------------------------------------------------------------------------
# Pack, stamp, and move into place atomically.
# ---------------------------------------------------------------------------
(cd "$R" && find . -mindepth 0 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 -n >"$STAGE/initrd.gz"
cp "$vmlinuz" "$STAGE/vmlinuz"
cp -p -- "$BASE/id_ed25519" "$BASE/id_ed25519.pub" "$STAGE/"
cp -rp -- "$BASE/host-keys" "$STAGE/"
chmod 0644 "$STAGE/vmlinuz" "$STAGE/initrd.gz"
echo "$img_pkg $img_ver" >"$STAGE/kernel-version"
printf '%s\n' "$want_stamp" >"$STAGE/stamp"
chmod 0755 "$STAGE"

if [[ -e $OUTDIR ]]; then
    OLD=$(mktemp -d "$PARENT/.$NAME.old.XXXXXX")
    mv -T -- "$OUTDIR" "$OLD/guest"
fi
mv -T -- "$STAGE" "$OUTDIR"
t_end=$(date +%s.%N)
log "guest ($ARCH) built in $(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }') s: $OUTDIR" \
    "(initrd $(du -k "$OUTDIR/initrd.gz" | cut -f1) KiB, kernel $kver)"
printf '%s\n' "$OUTDIR"
