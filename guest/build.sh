#!/usr/bin/env bash
# Build the small bootable Linux guest used by qcmdr's tests and README demo.
#
#   guest/build.sh [OUTDIR]
#
# OUTDIR defaults to ${QCMDR_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/qcmdr/guest}.
# Produces OUTDIR/{vmlinuz,initrd.gz,id_ed25519,id_ed25519.pub,stamp}.
# Progress goes to stderr; stdout gets exactly one line: the absolute OUTDIR.
# See guest/README.md for what is inside and for the qcmdr.* kernel switches.
set -euo pipefail

KERNEL_META=linux-image-cloud-amd64
# Loaded with insmod in this order (each one's dependencies come before it).
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
         failover net_failover virtio_net virtio_blk evdev button)
# Loaded only when the kernel command line has qcmdr.mount= words (qcmdr's `mounts`).
MOUNT_MODULES=(fuse virtiofs)

log() { printf '%s\n' "$*" >&2; }
die() { printf 'guest/build.sh: error: %s\n' "$*" >&2; exit 1; }

SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=guest/modules.sh
source "$(dirname -- "$SELF")/modules.sh"
OUTDIR=${1:-${QCMDR_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/qcmdr/guest}}
OUTDIR=$(realpath -m -- "$OUTDIR")
PARENT=$(dirname -- "$OUTDIR")

# ---------------------------------------------------------------------------
# Cache check.  The stamp is "<sha256 of this script> <kernel package version>"
# plus a signature of apt's package lists, so that the (slow, ~0.5 s) apt-cache
# query is only needed when the lists changed.
# ---------------------------------------------------------------------------
script_hash=$(cat "$SELF" "$(dirname -- "$SELF")/modules.sh" | sha256sum | cut -d' ' -f1)

lists_sig() {
    # Size and mtime of every Packages list: changes whenever `apt-get update` fetched something.
    local f sig=""
    for f in /var/lib/apt/lists/*_Packages*; do
        [[ -e $f ]] || continue
        sig+=$(stat -c '%s.%Y' -- "$f")+
    done
    printf '%s' "${sig:-none}" | sha256sum | cut -c1-16
}

kernel_candidate() {
    # Candidate version of the kernel meta package, or "" when apt knows none.
    apt-cache policy "$KERNEL_META" 2>/dev/null |
        awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

files_present() {
    local f
    for f in vmlinuz initrd.gz id_ed25519 id_ed25519.pub stamp; do
        [[ -s $1/$f ]] || return 1
    done
}

# read_stamp DIR -> sets st_script st_kver st_lists (empty if no stamp)
read_stamp() {
    st_script="" st_kver="" st_lists=""
    [[ -r $1/stamp ]] || return 0
    local line
    line=$(head -n1 -- "$1/stamp")
    read -r st_script st_kver st_lists _ <<<"$line" || true
}

write_stamp() { # DIR KVER
    printf '%s %s %s\n' "$script_hash" "$2" "$(lists_sig)" >"$1/stamp.new"
    mv -f -- "$1/stamp.new" "$1/stamp"
}

# up_to_date: 0 if OUTDIR holds a complete guest built by this script for the
# current kernel package.  May refresh the stamp's lists signature.
up_to_date() {
    files_present "$OUTDIR" || return 1
    read_stamp "$OUTDIR"
    [[ $st_script == "$script_hash" ]] || return 1
    [[ $st_lists == "$(lists_sig)" ]] && return 0
    local kver
    kver=$(kernel_candidate)
    # No package lists at all: we cannot tell, keep what we have.
    [[ -z $kver ]] && return 0
    [[ $st_kver == "$kernel_pkg=$kver" ]] || return 1
    # Same kernel, lists merely re-fetched: remember the new signature (best effort).
    if [[ -w $OUTDIR ]]; then write_stamp "$OUTDIR" "$st_kver" 2>/dev/null || true; fi
    return 0
}
kernel_pkg=$KERNEL_META

up_to_date_msg() {
    # Remove what a killed build left behind, unless a build is running right now.
    local base
    base=$(basename -- "$OUTDIR")
    if compgen -G "$PARENT/.$base.tmp.*" >/dev/null && { exec 8>>"$OUTDIR.lock"; } 2>/dev/null &&
        flock -n 8; then
        rm -rf -- "$PARENT/.$base".tmp.* "$PARENT/.$base".old.*
    fi
    log "guest up to date: $OUTDIR"
    printf '%s\n' "$OUTDIR"
    exit 0
}

if up_to_date; then up_to_date_msg; fi

# ---------------------------------------------------------------------------
# Host requirements.
# ---------------------------------------------------------------------------
missing=() pkgs=()
need() { # PATH-or-command PACKAGE
    if [[ $1 == /* ]]; then [[ -x $1 ]] && return 0
    else command -v "$1" >/dev/null 2>&1 && return 0; fi
    missing+=("$1 (Debian package $2)")
    [[ " ${pkgs[*]} " == *" $2 "* ]] || pkgs+=("$2")
}
need /bin/busybox busybox-static
need /usr/sbin/sshd openssh-server
need /usr/lib/openssh/sftp-server openssh-sftp-server
need ssh-keygen openssh-client
need rsync rsync
need cpio cpio
need gzip gzip
need ldd libc-bin
need apt-get apt
need apt-cache apt
need dpkg-deb dpkg
need flock util-linux
need /usr/bin/git git
if [[ -x /bin/busybox ]] && ldd /bin/busybox >/dev/null 2>&1; then
    missing+=("a static /bin/busybox (Debian package busybox-static; the dynamic 'busybox' package is installed)")
    pkgs+=(busybox-static)
fi
if ((${#missing[@]})); then
    die "missing on this host:$(printf '\n  - %s' "${missing[@]}")
install with: apt-get install ${pkgs[*]}"
fi

# ---------------------------------------------------------------------------
# Lock (parallel test processes may all call build.sh at once), then re-check.
# ---------------------------------------------------------------------------
# Folders made here are private (the cache holds the guest's key): as ~/.cache/qcmdr is.
(umask 077 && mkdir -p -- "$PARENT")
exec 9>"$OUTDIR.lock"
if ! flock -n 9; then
    log "guest/build.sh: waiting for another build of $OUTDIR ..."
    flock 9
fi
if up_to_date; then up_to_date_msg; fi
# We hold the lock, so leftovers of an earlier build that was killed are stale.
rm -rf -- "$PARENT/.$(basename -- "$OUTDIR")".tmp.* "$PARENT/.$(basename -- "$OUTDIR")".old.*

t_start=$(date +%s.%N)
# Scratch space next to OUTDIR, so the stale-leftover cleanup above covers it too.
WORK=$(mktemp -d "$PARENT/.$(basename -- "$OUTDIR").tmp.XXXXXX")
STAGE=$(mktemp -d "$PARENT/.$(basename -- "$OUTDIR").tmp.XXXXXX")
OLD=""
cleanup() {
    rm -rf -- "$WORK" "$STAGE"
    [[ -n $OLD ]] && rm -rf -- "$OLD"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------------------
# Kernel: download the .debs (never install them on the host) and unpack.
# ---------------------------------------------------------------------------
apt_dl() { # PKG[=VER]...   (in $WORK/debs)
    local opts=()
    # As root apt drops to _apt for downloads, which cannot write into our 0700 temp dir.
    ((EUID == 0)) && opts+=(-o APT::Sandbox::User=root)
    (cd "$WORK/debs" && apt-get -q "${opts[@]}" download "$@") >"$WORK/apt.log" 2>&1
}
mkdir -p "$WORK/debs"
if ! apt_dl "$KERNEL_META"; then
    if grep -qE "Unable to locate package|Can't select candidate|has no installation candidate|Failed to fetch|404" "$WORK/apt.log"; then
        if ((EUID == 0)); then
            log "apt-get download failed (package lists missing or stale); running apt-get update"
            apt-get -q update >&2 || die "apt-get update failed"
            apt_dl "$KERNEL_META" || { cat "$WORK/apt.log" >&2; die "apt-get download $KERNEL_META failed"; }
        else
            cat "$WORK/apt.log" >&2
            die "apt-get download $KERNEL_META failed; run 'apt-get update' as root and retry"
        fi
    else
        cat "$WORK/apt.log" >&2
        die "apt-get download $KERNEL_META failed"
    fi
fi
meta_deb=$(ls "$WORK"/debs/"$KERNEL_META"_*.deb)
meta_ver=$(dpkg-deb -f "$meta_deb" Version)
# Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)
img_dep=$(dpkg-deb -f "$meta_deb" Depends | tr ',' '\n' | grep -oE 'linux-image-[^ ]+-cloud-amd64 \(= [^)]+\)' | head -n1) ||
    die "cannot find the linux-image-<ver>-cloud-amd64 dependency of $KERNEL_META $meta_ver"
img_pkg=${img_dep%% *}
img_ver=${img_dep#*= }; img_ver=${img_ver%)}
apt_dl "$img_pkg=$img_ver" || { cat "$WORK/apt.log" >&2; die "apt-get download $img_pkg=$img_ver failed"; }
dpkg-deb -x "$(ls "$WORK"/debs/"$img_pkg"_*.deb)" "$WORK/kernel"
kver=${img_pkg#linux-image-}
vmlinuz="$WORK/kernel/boot/vmlinuz-$kver"
[[ -f $vmlinuz ]] || die "no /boot/vmlinuz-$kver in $img_pkg"
moddir="$WORK/kernel/lib/modules/$kver"
[[ -d $moddir ]] || moddir="$WORK/kernel/usr/lib/modules/$kver"
[[ -d $moddir ]] || die "no modules directory for $kver in $img_pkg"
log "kernel: $img_pkg $img_ver"

# ---------------------------------------------------------------------------
# Root filesystem.
# ---------------------------------------------------------------------------
R="$WORK/root"
mkdir -p "$R"
chmod 0755 "$R"
(cd "$R" && mkdir -p bin sbin usr/bin usr/sbin usr/lib/openssh lib/x86_64-linux-gnu lib64 \
    lib/modules/qcmdr etc/ssh etc/acpi/PWRF dev proc sys run/sshd tmp var/empty var/log \
    var/run root/.ssh home)
chmod 1777 "$R/tmp"
chmod 0700 "$R/root" "$R/root/.ssh"
chmod 0755 "$R/run/sshd" "$R/var/empty"

# busybox + every applet as a symlink (skip /linuxrc; /init is our own script).
cp /bin/busybox "$R/bin/busybox"
while read -r applet; do
    case $applet in linuxrc | bin/busybox | "") continue ;; esac
    [[ -e $R/$applet || -L $R/$applet ]] || ln -s /bin/busybox "$R/$applet"
done < <(/bin/busybox --list-full)

# Dynamic binaries with the libraries ldd lists (and the loader).
copy_with_libs() { # SRC [DEST-IN-GUEST]
    local src=$1 dst=${2:-$1} lib
    install -D -m 0755 "$src" "$R$dst"
    while read -r lib; do
        [[ -n $lib && -e $R$lib ]] && continue
        [[ -e $lib ]] || die "ldd $src: $lib not found"
        install -D -m 0755 "$(readlink -f "$lib")" "$R$lib"
    done < <(ldd "$src" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}
copy_with_libs /usr/sbin/sshd
# OpenSSH >= 9.8 (Debian 13) splits the per-connection part out of sshd.
for f in /usr/lib/openssh/sshd-session /usr/lib/openssh/sshd-auth; do
    [[ -x $f ]] && copy_with_libs "$f"
done
# 'sshd -r' (no re-exec per connection) makes each SSH connection ~0.2 s
# faster under TCG; OpenSSH 9.8 dropped re-exec-less mode, so only use it before.
sshd_ver=$(/usr/sbin/sshd -V 2>&1 | sed -n 's/^OpenSSH_\([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -n1)
SSHD_FLAGS=""
if [[ -n $sshd_ver ]] && read -r maj min <<<"$sshd_ver" && ((maj < 9 || (maj == 9 && min < 8))); then
    SSHD_FLAGS="-r"
fi
copy_with_libs /usr/lib/openssh/sftp-server
copy_with_libs "$(command -v rsync)" /usr/bin/rsync
# git: the mounts tests run `git status` in a live host tree (git's builtins need nothing else).
copy_with_libs /usr/bin/git /usr/bin/git
[[ -e $R/lib64/ld-linux-x86-64.so.2 ]] || die "dynamic loader was not copied"

# Kernel modules, flat, checking that each one's dependencies come first.
copy_modules "$moddir" "$img_pkg" "$R/lib/modules/qcmdr" "${MODULES[@]}" "${MOUNT_MODULES[@]}"

# --- /etc -------------------------------------------------------------------
echo qcmdr-guest >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tqcmdr-guest\n::1\tlocalhost\n' >"$R/etc/hosts"
cat >"$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
sshd:x:100:65534:sshd privsep:/run/sshd:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$R/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
# root has an empty password: serial-console login needs none (SSH is key-only).
cat >"$R/etc/shadow" <<'EOF'
root::19000:0:99999:7:::
sshd:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
EOF
chmod 0600 "$R/etc/shadow"
cat >"$R/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
shadow: files
hosts: files
EOF
echo /bin/sh >"$R/etc/shells"
cat >"$R/etc/profile" <<'EOF'
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export HOME=${HOME:-/root}
PS1='\h:\w\$ '
EOF

cat >"$R/etc/inittab" <<'EOF'
::sysinit:/etc/rc
ttyS0::respawn:/sbin/qcmdr-getty
::ctrlaltdel:/sbin/reboot
EOF

# /init: make sure the console is stdio (the initramfs has no /dev/console node
# when built by a non-root user), then hand over to busybox init as PID 1.
cat >"$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec 0<>/dev/console 1>&0 2>&0
exec /sbin/init
EOF
chmod 0755 "$R/init"

cat >"$R/sbin/qcmdr-getty" <<'EOF'
#!/bin/sh
read -r cmdline </proc/cmdline
# qcmdr.sshdelay=N: sshd starts N seconds after the (first) getty, in its own session and
# ignoring SIGHUP from the start, so that the getty's hangup of ttyS0 (which may come before
# setsid ran) cannot end it.
for word in $cmdline; do
    case $word in
    qcmdr.sshdelay=*)
        if [ ! -e /run/qcmdr-sshdelay ]; then
            : >/run/qcmdr-sshdelay
            (
                trap '' HUP
                setsid sh -c "sleep ${word#*=}; exec /sbin/qcmdr-sshd" </dev/null >/dev/null 2>&1 &
            )
        fi
        ;;
    esac
done
# qcmdr.noprompt: keep ttyS0 silent (no login prompt ever appears).
case " $cmdline " in
*" qcmdr.noprompt "*) exec sleep 2147483647 ;;
esac
exec /sbin/getty -L 115200 ttyS0 vt100
EOF
chmod 0755 "$R/sbin/qcmdr-getty"

cat >"$R/sbin/qcmdr-sshd" <<EOF
#!/bin/sh
exec /usr/sbin/sshd $SSHD_FLAGS -E /var/log/sshd.log
EOF
chmod 0755 "$R/sbin/qcmdr-sshd"

cat >"$R/etc/rc" <<EOF
#!/bin/sh
# qcmdr test guest: system init (run once by busybox init before the getty).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
grep -q ' /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts

read -r cmdline </proc/cmdline
flag() { case " \$cmdline " in *" qcmdr.\$1 "*) return 0 ;; esac; return 1; }

if flag die; then
    echo "qcmdr-guest: qcmdr.die: powering off"
    poweroff -f
    sleep 60
fi

hostname -F /etc/hostname
# Let anyone write to the serial port (e.g. 'echo hi > /dev/ttyS0' over ssh).
chmod 0666 /dev/ttyS0

ip link set lo up
# sshd first, as systemd guests do: it listens on every address, so it needs no network to
# start, and its start-up overlaps the rest of the boot. (qcmdr.sshdelay=N: started later,
# by /sbin/qcmdr-getty.)
if ! flag nosshd && ! grep -q 'qcmdr\.sshdelay=' /proc/cmdline; then
    /sbin/qcmdr-sshd
fi

net_up() {
    # qcmdr.netdelay=N: the network comes up N seconds late, as in a guest whose DHCP takes a
    # while: until then QEMU's user network cannot reach the guest (nor its sshd) at all.
    for word in \$cmdline; do
        case \$word in qcmdr.netdelay=*) sleep "\${word#*=}" ;; esac
    done
    i=0
    while [ ! -e /sys/class/net/eth0 ] && [ \$i -lt 40 ]; do sleep 0.05; i=\$((i + 1)); done
    ip link set eth0 up
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2
}

# A kernel tree's modules (qcmdr appends them to the initramfs as /lib/modules/<release>)
# are loaded with modprobe; without them, the guest's own flat copies with insmod.
load() {
    if [ -e /lib/modules/\$(uname -r)/modules.dep ]; then
        modprobe "\$1" || echo "qcmdr-guest: modprobe \$1 failed"
    else
        insmod /lib/modules/qcmdr/\$1.ko || echo "qcmdr-guest: insmod \$1 failed"
    fi
}

# The network as soon as its driver is in, the other modules after it.
for m in ${MODULES[*]}; do
    load \$m
    [ \$m = virtio_net ] && net_up
done

# qcmdr.mount=TAG:DEST:ro|rw (qcmdr's mounts): virtiofs, mounted before the login prompt.
fs_loaded=""
for word in \$cmdline; do
    case \$word in
    qcmdr.mount=*)
        spec=\${word#qcmdr.mount=}
        tag=\${spec%%:*}
        rest=\${spec#*:}
        dest=\${rest%:*}
        mode=\${rest##*:}
        if [ -z "\$fs_loaded" ]; then
            for m in ${MOUNT_MODULES[*]}; do load \$m; done
            fs_loaded=1
        fi
        mkdir -p "\$dest"
        mount -t virtiofs -o "\$mode" "\$tag" "\$dest" || echo "qcmdr-guest: mount \$tag on \$dest failed"
        ;;
    esac
done

if ! flag noacpi; then
    acpid -l /var/log/acpid.log
fi

if ! flag nosshd && ! grep -q 'qcmdr\.sshdelay=' /proc/cmdline; then
    # sshd writes its pid file once it listens: wait so SSH is up before 'login:'.
    i=0
    while [ ! -s /run/sshd.pid ] && [ \$i -lt 100 ]; do sleep 0.05; i=\$((i + 1)); done
    [ -s /run/sshd.pid ] || echo "qcmdr-guest: sshd did not start (see /var/log/sshd.log)"
fi

# (No wait for eth0's operstate to read "up": linkwatch updates it up to 1 s
# late, but the data path already works once 'ip link set up' has returned.)
# Seconds since kernel start at which /etc/rc finished (for boot-time diagnosis).
cut -d' ' -f1 /proc/uptime >/run/qcmdr-rc-done
EOF
chmod 0755 "$R/etc/rc"

cat >"$R/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
poweroff
EOF
chmod 0755 "$R/etc/acpi/PWRF/00000080"

cat >"$R/etc/ssh/sshd_config" <<'EOF'
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
Subsystem sftp /usr/lib/openssh/sftp-server
EOF

# Keys are generated at build time (host keys at boot under TCG would be slow
# and jittery).  A rebuild keeps the keys of the guest it replaces, so tests
# that booted the old guest, or read its key, keep working; delete OUTDIR to
# get fresh keys.  The host keys are kept in OUTDIR/host-keys/ for that.
key() { # TYPE DEST-PRIVATE-KEY COMMENT [OLD-PRIVATE-KEY]
    local type=$1 dst=$2 comment=$3 old=${4:-}
    if [[ -n $old && -s $old && -s $old.pub ]] &&
        [[ $(ssh-keygen -y -f "$old" 2>/dev/null | cut -d' ' -f1-2) == "$(cut -d' ' -f1-2 "$old.pub")" ]]; then
        cp -- "$old" "$dst" && cp -- "$old.pub" "$dst.pub"
    else
        case $type in
            ecdsa) ssh-keygen -q -t ecdsa -b 256 -N '' -C "$comment" -f "$dst" ;;
            *) ssh-keygen -q -t "$type" -N '' -C "$comment" -f "$dst" ;;
        esac
    fi
    chmod 0600 "$dst"
    chmod 0644 "$dst.pub"
}
mkdir -p "$STAGE/host-keys"
for t in ed25519 ecdsa; do
    key "$t" "$STAGE/host-keys/ssh_host_${t}_key" root@qcmdr-guest "$OUTDIR/host-keys/ssh_host_${t}_key"
    cp -p -- "$STAGE/host-keys/ssh_host_${t}_key" "$STAGE/host-keys/ssh_host_${t}_key.pub" "$R/etc/ssh/"
done
# Client key pair for the host side; its public half is root's authorized key.
key ed25519 "$STAGE/id_ed25519" qcmdr-test-client "$OUTDIR/id_ed25519"
install -m 0600 "$STAGE/id_ed25519.pub" "$R/root/.ssh/authorized_keys"

# ---------------------------------------------------------------------------
# Pack, stamp, and move into place atomically.
# ---------------------------------------------------------------------------
(cd "$R" && find . -mindepth 0 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 -n >"$STAGE/initrd.gz"
cp "$vmlinuz" "$STAGE/vmlinuz"
chmod 0644 "$STAGE/vmlinuz" "$STAGE/initrd.gz"
echo "$img_pkg $img_ver" >"$STAGE/kernel-version"
write_stamp "$STAGE" "$kernel_pkg=$meta_ver"
chmod 0755 "$STAGE"

if [[ -e $OUTDIR ]]; then
    OLD=$(mktemp -d "$PARENT/.$(basename -- "$OUTDIR").old.XXXXXX")
    mv -T -- "$OUTDIR" "$OLD/guest"
fi
mv -T -- "$STAGE" "$OUTDIR"
t_end=$(date +%s.%N)
log "guest built in $(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }') s: $OUTDIR" \
    "(initrd $(du -k "$OUTDIR/initrd.gz" | cut -f1) KiB, kernel $kver)"
printf '%s\n' "$OUTDIR"
